// The C++ half of `bench/run fmnist_epoch`: example 00's Fashion-MNIST MLP (784 -> 256 -> 128 -> 10,
// relu between, softmax cross-entropy, Adam lr 1e-3, batch 128, the loader's shuffle with seed 7)
// trained for a few epochs on one host device of T threads (host<openmp>, as the example), then
// evaluated on the 10,000 test images. bench/fmnist_epoch.py runs this binary and the same model in
// PyTorch alternately.
//
//   bench_fmnist_epoch [--epochs N] [--threads T] [--order FILE]
//
// Prints one line per epoch (seconds, samples/s) and then `EPOCHS s1 s2 ...` and `ACCURACY a`.
// --order FILE writes every epoch's sample order (uint64 indices, epoch after epoch) for PyTorch to
// train in the same order. An epoch's time is its batches: the loader's gather (prefetched on its
// own thread, as in the example) and train_step; no checkpoint and no progress bar.

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <plait/plait.hpp>
#include <string>
#include <vector>

int main(int argc, char** argv) try {
  using namespace plait;
  int epochs = 3;
  unsigned threads = 2;
  std::string order;
  for (int a = 1; a + 1 < argc; a += 2) {
    if (std::strcmp(argv[a], "--epochs") == 0) epochs = std::atoi(argv[a + 1]);
    else if (std::strcmp(argv[a], "--threads") == 0) threads = unsigned(std::atoi(argv[a + 1]));
    else if (std::strcmp(argv[a], "--order") == 0) order = argv[a + 1];
  }
  constexpr std::size_t batch = 128;
  const auto train = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::train);
  const auto test = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::test);
  constexpr auto net = input<1, 28, 28> >> flatten >> linear<256> >> relu >> linear<128> >> relu >> linear<10>;
  auto model = place(net, host_device<openmp>(threads), {.max_batch = batch, .seed = 42});  // as the demo
  auto opt = adam{.lr = 1e-3f};
  loader batches(train, {.batch_size = batch, .seed = 7});
  std::ofstream order_file;
  if (!order.empty()) order_file.open(order, std::ios::binary);
  std::vector<double> seconds;
  for (int e = 0; e < epochs; ++e) {
    const auto t0 = std::chrono::steady_clock::now();
    for (auto& b : batches.epoch(std::uint64_t(e))) model.train_step(b.x, b.y, cross_entropy, opt);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    std::printf("epoch %d: %.3f s, %.0f samples/s\n", e + 1, seconds.back(), double(train.size()) / seconds.back());
    if (order_file) {
      std::vector<std::uint64_t> o(batches.order().begin(), batches.order().end());
      order_file.write(reinterpret_cast<const char*>(o.data()), std::streamsize(o.size() * sizeof(std::uint64_t)));
    }
  }
  const evaluation result = model.evaluate(test.x(), test.y(), cross_entropy);
  std::printf("EPOCHS");
  for (double s : seconds) std::printf(" %.4f", s);
  std::printf("\nACCURACY %.4f\n", result.accuracy);
  return 0;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
