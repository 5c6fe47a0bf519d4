// [docs:consumer]
#include <cstdio>
#include <plait/plait.hpp>
#include <vector>
int main() {
  using namespace plait;
  constexpr auto net = input<4> >> linear<8> >> relu >> linear<3>;
  auto model = place(net, host_device(), {.max_batch = 8});
  std::vector<float> x(8 * 4, 0.5f);
  std::vector<std::int32_t> y{0, 1, 2, 0, 1, 2, 0, 1};
  auto opt = sgd{.lr = 0.1f};
  float first = model.train_step(samples<shape<4>>{x.data(), 8}, class_labels{y.data(), 8}, cross_entropy, opt);
  std::printf("consumer: %zu parameters, first loss %.4f\n", model.parameter_count(), first);
  return first > 0.f ? 0 : 1;
}
// [/docs:consumer]
