// 08 — A convolutional network on Fashion-MNIST, on the host.
//
// Two blocks of conv 3x3 >> batchnorm >> relu >> max-pool 2x2, then a small classifier: the
// classic CNN that reaches about 0.91 test accuracy where example 00's MLP stops near 0.89.
// Trained on the 60,000 images of Debian's dataset-fashion-mnist, tested on the 10,000.
//
//   build/examples/08_fashion_mnist_cnn [--devices 1|2] [--epochs N] [--batch B] [--lr LR] [--limit N]
//
// --devices 2 (the default) trains data-parallel, replicate<2> on two host devices with one thread
// each: on a 2-core machine this beats one device with two threads, because each convolution is a
// chain of per-sample GEMMs too small to split well over threads.
// The learning rate (Adam) is halved each epoch from the third on.
// --limit N trains and tests on the first N images only (the smoke test uses it).

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <plait/plait.hpp>
#include <string>

#include "options.hpp"

namespace {

struct settings {
  std::size_t devices = 2;
  int epochs = 5;
  std::size_t batch = 64;
  float lr = 2e-3f;
  std::size_t limit = 0;  // 0: all images
};

settings parse(int argc, char** argv) {
  settings s;
  example_options("08_fashion_mnist_cnn", "a CNN trained on Fashion-MNIST")
      .add("--devices", s.devices, "1: one host device, 2: replicate<2>")
      .add("--epochs", s.epochs, "passes over the training images")
      .add("--batch", s.batch, "samples per step")
      .add("--lr", s.lr, "the learning rate")
      .add("--limit", s.limit, "train and test on the first N images only (0: all)")
      .parse(argc, argv);
  return s;
}

}  // namespace

template <class Policy, class Dataset>
int run(const settings& cfg, const Dataset& train, const Dataset& test) {
  using namespace plait;
  const unsigned threads = std::max(1u, unsigned(2 / Policy::device_count));
  // [docs:cnn]
  constexpr auto net = input<1, 28, 28> >> conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2>  // [16, 14, 14]
                       >> conv2d<32, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2>                   // [32, 7, 7]
                       >> flatten >> linear<128> >> relu >> linear<10>;
  auto model = place<Policy>(net, host_devices(Policy::device_count, threads), {.max_batch = cfg.batch, .seed = 42});
  // [/docs:cnn]
  using layout = decltype(model)::layout;
  std::printf("model: %zu parameters in %zu layers, %.2f MFLOP per sample forward\n", model.parameter_count(),
              layout::layer_count, layout::flops_per_sample / 1e6);
  std::printf("policy: %s on %zu host device(s), %u thread(s) each\n", Policy::name, Policy::device_count, threads);

  auto opt = adam{.lr = cfg.lr};
  loader batches(train, {.batch_size = cfg.batch, .seed = 7});
  progress bar({.epochs = cfg.epochs, .samples_per_epoch = train.size()});
  for (int epoch = 0; epoch < cfg.epochs; ++epoch) {
    if (epoch >= 2) opt.lr /= 2;  // halved from the third epoch on: the last epochs settle
    bar.begin_epoch(epoch);
    for (auto& b : batches.epoch(epoch)) bar.step(b.size(), model.train_step(b.x, b.y, cross_entropy, opt));
    bar.end_epoch();
    const evaluation e = model.evaluate(test.x(), test.y(), cross_entropy);
    std::printf("  after epoch %d: test loss %.4f accuracy %.4f\n", epoch + 1, e.loss, e.accuracy);
    std::fflush(stdout);
  }
  const evaluation result = model.evaluate(test.x(), test.y(), cross_entropy);
  std::printf("test: loss %.4f, accuracy %.4f over %zu images\n", result.loss, result.accuracy, result.count);
  return 0;
}

int main(int argc, char** argv) try {
  using namespace plait;
  const settings cfg = parse(argc, argv);
  auto train = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::train);
  auto test = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::test);
  if (cfg.limit) {
    train = train.subset(0, std::min(cfg.limit, train.size()));
    test = test.subset(0, std::min(cfg.limit, test.size()));
  }
  std::printf("Fashion-MNIST: %zu training and %zu test images of 28x28\n", train.size(), test.size());
  switch (cfg.devices) {
    case 1: return run<single_device>(cfg, train, test);
    case 2: return run<replicate<2>>(cfg, train, test);
    default:
      fail("--devices " + std::to_string(cfg.devices) + " is not built into this example",
           "a policy is a type, chosen when the program compiles", "use --devices 1 or --devices 2");
  }
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
