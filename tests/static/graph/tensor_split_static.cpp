// graph/tensor_split.hpp: a layer that does not specialise tensor_split is not split; split_block's
// fields default to zero. Compiling is the test (linear's specialisation: layers/linear_shards_static.cpp).
#include <plait/graph/tensor_split.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;

static_assert(!tensor_split<test::resize<4>>::splittable && !tensor_split<int>::splittable);
constexpr split_block b{};
static_assert(b.offset == 0 && b.stride == 0 && b.rows == 0 && b.cols == 0 && b.local == 0 && b.part == 0);
static_assert(split_role::whole != split_role::column && split_role::row != split_role::gathered &&
              split_role::branch != split_role::whole);
}  // namespace
