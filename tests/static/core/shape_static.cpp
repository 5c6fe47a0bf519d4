// core/shape.hpp: shapes, their rank and size, and the predicates that name both shapes. Compiling is
// the test.
#include <plait/core/shape.hpp>

namespace {
using namespace plait;

// shapes
static_assert(shape<1, 28, 28>::rank == 3 && shape<1, 28, 28>::size == 784);
static_assert(shape<10>::dims[0] == 10);
static_assert(shape<2, 3, 4>::dims[0] == 2 && shape<2, 3, 4>::dims[1] == 3 && shape<2, 3, 4>::dims[2] == 4);
static_assert(shape<>::rank == 0 && shape<>::size == 1);  // a scalar sample
static_assert(shape<7, 1>::size == 7 && shape<7, 1>::rank == 2);

// is_shape / Shape: shapes only
static_assert(is_shape<shape<3>>::value && Shape<shape<2, 2>>);
static_assert(!is_shape<int>::value && !Shape<int> && !Shape<std::array<std::size_t, 2>>);

// the named predicates
static_assert(same_shape<shape<4, 2>, shape<4, 2>>::value);
static_assert(!same_shape<shape<4, 2>, shape<2, 4>>::value && !same_shape<shape<8>, shape<4, 2>>::value);
static_assert(has_rank<shape<3, 3>, 2>::value && !has_rank<shape<3, 3>, 1>::value && has_rank<shape<>, 0>::value);
}  // namespace
