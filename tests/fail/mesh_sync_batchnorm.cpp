// sync_batchnorm2d under a mesh: its statistics are synchronised under replicate<N> alone so far.
// expect: plait: a layer that sums across replicas \(sync_batchnorm2d\) is placed under a composed policy
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<2, 4, 4> >> sync_batchnorm2d >> flatten >> linear<8> >> cut >> linear<2>;
#else
constexpr auto net = input<2, 4, 4> >> batchnorm2d >> flatten >> linear<8> >> cut >> linear<2>;
#endif
using model_type =
    model<replicate<2, pipeline<2, microbatches<2>>>, std::remove_const_t<decltype(net)>, host<sequential>>;
void make(device_set<host<sequential>> d) { model_type m(d, {.max_batch = 8}); }
