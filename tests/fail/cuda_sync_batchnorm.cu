// sync_batchnorm2d exchanges its statistics between replicas in host memory; on CUDA devices it is
// refused where the layer is compiled for the device, and batchnorm2d (per-replica statistics) is the
// twin that compiles.
// expect: plait: sync_batchnorm2d (runs on host devices only|is placed on CUDA devices)\.
#include <plait/cuda.hpp>
#include <plait/plait.hpp>

using namespace plait;

void run() {
#ifdef PLAIT_FAIL
  constexpr auto net = input<2, 4, 4> >> conv2d<4, 3, 1, 1> >> sync_batchnorm2d >> relu >> flatten >> linear<3>;
#else
  constexpr auto net = input<2, 4, 4> >> conv2d<4, 3, 1, 1> >> batchnorm2d >> relu >> flatten >> linear<3>;
#endif
  auto model = place<replicate<2>>(net, virtual_cuda_devices(2));
  auto opt = sgd{.lr = 0.1f};
  float x[2 * 32] = {};
  std::int32_t y[2] = {};
  (void)model.train_step(samples<shape<2, 4, 4>>{x, 2}, class_labels{y, 2}, cross_entropy, opt);
}
