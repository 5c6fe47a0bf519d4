// 00 — Fashion-MNIST on the host: the whole of plait in one page.
//
// An MLP written as a compile-time expression, placed on one host device, trained on the 60,000
// Fashion-MNIST images that Debian's dataset-fashion-mnist package installs, and evaluated on the
// 10,000 test images.
//
//   build/examples/00_fashion_mnist [--devices 1|2] [--epochs N] [--batch B] [--threads T] [--lr LR]
//                                   [--math float32|bf16] [--limit N] [--trace FILE] [--checkpoint FILE]
//                                   [--resume FILE]
//
// --devices 2 trains data-parallel, replicate<2> on two host devices (one thread each by default).
// --math bf16 multiplies in bfloat16 (host_math::bf16: oneDNN, float32 accumulation and master weights);
//   refused on a CPU without AVX-512 BF16 or AMX.
// --limit N trains and tests on the first N images only (the smoke test uses it).
// --trace FILE writes the last step of training as a Chrome trace (open it in Perfetto).
// --checkpoint FILE is where a checkpoint is saved at the end of each epoch (default
//   00_fashion_mnist.safetensors); --resume FILE continues from one, saved under either --devices.

#include <algorithm>
#include <cstdio>
#include <string>

#include "options.hpp"

// [docs:include]
#include <plait/plait.hpp>
// [/docs:include]

namespace {

struct settings {
  std::size_t devices = 1;
  std::string trace;
  int epochs = 8;
  std::size_t batch = 128;
  unsigned threads = 0;  // 0: the machine's 2 cores shared out over the devices
  float lr = 1e-3f;
  std::string math = "float32";
  std::size_t limit = 0;  // 0: all images
  std::string checkpoint = "00_fashion_mnist.safetensors";
  std::string resume;
};

settings parse(int argc, char** argv) {
  settings s;
  example_options("00_fashion_mnist", "an MLP trained on Fashion-MNIST")
      .add("--devices", s.devices, "1: one host device, 2: replicate<2>")
      .add("--epochs", s.epochs, "passes over the training images")
      .add("--batch", s.batch, "samples per step")
      .add("--threads", s.threads, "threads per device (0: the cores shared out)")
      .add("--lr", s.lr, "Adam's learning rate")
      .add("--math", s.math, "how products multiply: float32 (OpenBLAS) or bf16 (oneDNN, bfloat16 operands)")
      .add("--limit", s.limit, "train and test on the first N images only (0: all)")
      .add("--trace", s.trace, "write the last epoch as a Chrome trace to FILE")
      .add("--checkpoint", s.checkpoint, "save a checkpoint to FILE at the end of each epoch")
      .add("--resume", s.resume, "continue from the checkpoint FILE, saved under either --devices")
      .parse(argc, argv);
  if (s.math != "float32" && s.math != "bf16")
    plait::fail("--math " + s.math + " is not a math mode of host devices", "host_math has float32 and bf16",
                "use --math float32 or --math bf16");
  return s;
}

}  // namespace

template <class Policy, class Dataset>
int run(const settings& cfg, const Dataset& train, const Dataset& test) {
  using namespace plait;
  const unsigned threads = cfg.threads ? cfg.threads : std::max(1u, unsigned(2 / Policy::device_count));
  const host_math math = cfg.math == "bf16" ? host_math::bf16 : host_math::float32;
  // [docs:model]
  constexpr auto net = input<1, 28, 28> >> flatten >> linear<256> >> relu >> linear<128> >> relu >> linear<10>;
  auto model = place<Policy>(net, host_devices<openmp>(Policy::device_count, threads, math),
                             {.max_batch = cfg.batch, .seed = 42});
  // [/docs:model]
  using layout = decltype(model)::layout;
  std::printf("model: %zu parameters in %zu layers (relu fused into each linear), %.2f MFLOP per sample forward\n",
              model.parameter_count(), layout::layer_count, layout::flops_per_sample / 1e6);
  std::printf("policy: %s on %zu host device(s), %u thread(s) each, %s products\n", Policy::name, Policy::device_count,
              threads, cfg.math.c_str());

  // [docs:train]
  auto opt = adam{.lr = cfg.lr};
  loader batches(train, {.batch_size = cfg.batch, .seed = 7});
  progress bar({.epochs = cfg.epochs, .samples_per_epoch = train.size()});  // samples/s, loss, ETA
  data_position at;  // where training starts: epoch 0, batch 0, or a checkpoint's position
  if (!cfg.resume.empty()) at = load_checkpoint(model, cfg.resume, opt, batches);
  for (auto epoch = at.epoch; epoch < std::uint64_t(cfg.epochs); ++epoch) {
    if (!cfg.trace.empty() && epoch + 1 == std::uint64_t(cfg.epochs)) model.enable_trace(1 << 16);
    bar.begin_epoch(int(epoch));
    for (auto& b : batches.epoch(epoch, epoch == at.epoch ? at.batch : 0))
      bar.step(b.size(), model.train_step(b.x, b.y, cross_entropy, opt));
    bar.end_epoch();  // one line per epoch (redrawn in place on a terminal); returns the epoch's metrics
    save_checkpoint(model, cfg.checkpoint, opt, batches);  // replaces the last one only once it is on disk
  }
  // [/docs:train]

  // [docs:evaluate]
  const evaluation result = model.evaluate(test.x(), test.y(), cross_entropy);
  std::printf("test: loss %.4f, accuracy %.4f over %zu images\n", result.loss, result.accuracy, result.count);
  // [/docs:evaluate]
  if (!cfg.trace.empty()) {
    model.write_trace(cfg.trace);
    std::printf("trace of the last epoch: %s\n", cfg.trace.c_str());
  }
  return 0;
}

int main(int argc, char** argv) try {
  using namespace plait;
  const settings cfg = parse(argc, argv);
  // [docs:data]
  auto train = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::train);
  auto test = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::test);
  // [/docs:data]
  if (cfg.limit) {
    train = train.subset(0, std::min(cfg.limit, train.size()));
    test = test.subset(0, std::min(cfg.limit, test.size()));
  }
  std::printf("Fashion-MNIST: %zu training and %zu test images of 28x28\n", train.size(), test.size());
  switch (cfg.devices) {
    // [docs:policies]
    case 1: return run<single_device>(cfg, train, test);
    case 2:
      return run<replicate<2, buckets<bucket_plan{.bytes = 512 << 10, .first_bytes = 128 << 10}>>>(cfg, train, test);
    // [/docs:policies]
    default:
      fail("--devices " + std::to_string(cfg.devices) + " is not built into this example",
           "a policy is a type, chosen when the program compiles", "use --devices 1 or --devices 2");
  }
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
