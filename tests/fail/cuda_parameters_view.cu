// A model on CUDA devices has its parameters in GPU memory: parameters(d) (a view of host memory on
// host devices) is refused, pointing to gather_parameters(), which copies them out.
// expect: plait: parameters\(d\) is asked of a model on CUDA devices\. .*Fix: call gather_parameters\(\)
#include <plait/cuda.hpp>
#include <plait/plait.hpp>

using namespace plait;

void run() {
  constexpr auto net = input<8> >> linear<4>;
  auto model = place(net, virtual_cuda_devices(1));
#ifdef PLAIT_FAIL
  const float first = model.parameters()[0];
#else
  const float first = model.gather_parameters()[0];
#endif
  (void)first;
}
