// sync_batchnorm2d's template with a momentum of 0: the running statistics would never move.
// expect: plait: batchnorm2d_t is given a momentum outside \(0, 1\]
#include <plait/plait.hpp>
#include <ratio>
using namespace plait;
#ifdef PLAIT_FAIL
using bn = batchnorm2d_t<std::ratio<0>, std::ratio<1, 100000>, batch_statistics::synchronised>;
#else
using bn = batchnorm2d_t<std::ratio<1, 10>, std::ratio<1, 100000>, batch_statistics::synchronised>;
#endif
constexpr auto net = input<2, 4, 4> >> bn{} >> flatten >> linear<2>;
static_assert(decltype(net)::layer_count == 3);
