// A mean over a sequence given a vector: mean_pool reads shape<T, D>.
// expect: plait: mean_pool is given an input of rank other than 2.*Fix: put it after a layer with sequence output
#include <plait/layers/embedding.hpp>
#include <plait/layers/mean_pool.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<6> >> mean_pool >> linear<3>;
#else
constexpr auto net = input<6> >> embedding<10, 5> >> mean_pool >> linear<3>;
#endif
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<3>>);
