// 00 — Fashion-MNIST on the host: the whole of plait in one page.
//
// An MLP written as a compile-time expression, placed on one host device, trained on the 60,000
// Fashion-MNIST images that Debian's dataset-fashion-mnist package installs, and evaluated on the
// 10,000 test images.
//
//   build/examples/00_fashion_mnist [--devices 1|2] [--epochs N] [--batch B] [--threads T] [--lr LR]
//                                   [--limit N] [--trace FILE] [--checkpoint FILE] [--resume FILE]
//
// --devices 2 trains data-parallel, replicate<2> on two host devices (one thread each by default).
// --limit N trains and tests on the first N images only (the smoke test uses it).
// --trace FILE writes the last step of training as a Chrome trace (open it in Perfetto).
// --checkpoint FILE is where a checkpoint is saved at the end of each epoch (default
//   00_fashion_mnist.safetensors); --resume FILE continues from one, saved under either --devices.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

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
  std::size_t limit = 0;  // 0: all images
  std::string checkpoint = "00_fashion_mnist.safetensors";
  std::string resume;
};

settings parse(int argc, char** argv) {
  settings s;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (a == "--devices" && v) s.devices = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--trace" && v) s.trace = argv[++i];
    else if (a == "--epochs" && v) s.epochs = std::atoi(argv[++i]);
    else if (a == "--batch" && v) s.batch = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--threads" && v) s.threads = unsigned(std::atoi(argv[++i]));
    else if (a == "--lr" && v) s.lr = std::strtof(argv[++i], nullptr);
    else if (a == "--limit" && v) s.limit = std::strtoul(argv[++i], nullptr, 10);
    else if (a == "--checkpoint" && v) s.checkpoint = argv[++i];
    else if (a == "--resume" && v) s.resume = argv[++i];
    else {
      std::fprintf(stderr,
                   "usage: %s [--devices 1|2] [--epochs N] [--batch B] [--threads T] [--lr LR] [--limit N] [--trace FILE]\n"
                   "          [--checkpoint FILE] [--resume FILE]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return s;
}

// A one-line progress bar, redrawn in place on a terminal and printed once per epoch otherwise.
void progress(std::uint64_t epoch, int epochs, std::size_t done, std::size_t total, double loss, double per_second, bool final) {
  static const bool tty = isatty(STDOUT_FILENO);
  if (!tty && !final) return;
  constexpr int width = 24;
  const int filled = int(width * done / (total ? total : 1));
  std::printf("%sepoch %d/%d [%.*s%*s] %6zu/%zu  loss %.4f  %8.0f samples/s%s", tty ? "\r" : "", int(epoch) + 1, epochs,
              filled, "========================", width - filled, "", done, total, loss, per_second,
              final ? "\n" : "");
  std::fflush(stdout);
}

}  // namespace

template <class Policy, class Dataset>
int run(const settings& cfg, const Dataset& train, const Dataset& test) {
  using namespace plait;
  using clock = std::chrono::steady_clock;
  const unsigned threads = cfg.threads ? cfg.threads : std::max(1u, unsigned(2 / Policy::device_count));
  // [docs:model]
  constexpr auto net = input<1, 28, 28> >> flatten
                     >> linear<256> >> relu
                     >> linear<128> >> relu
                     >> linear<10>;
  auto model = place<Policy>(net, host_devices(Policy::device_count, threads), {.max_batch = cfg.batch, .seed = 42});
  // [/docs:model]
  using layout = decltype(model)::layout;
  std::printf("model: %zu parameters in %zu layers (relu fused into each linear), %.2f MFLOP per sample forward\n",
              model.parameter_count(), layout::layer_count, layout::flops_per_sample / 1e6);
  std::printf("policy: %s on %zu host device(s), %u thread(s) each\n", Policy::name, Policy::device_count, threads);

  // [docs:train]
  auto opt = adam{.lr = cfg.lr};
  loader batches(train, {.batch_size = cfg.batch, .seed = 7});
  data_position at;  // where training starts: epoch 0, batch 0, or a checkpoint's position
  if (!cfg.resume.empty()) at = load_checkpoint(model, cfg.resume, opt, batches);
  for (auto epoch = at.epoch; epoch < std::uint64_t(cfg.epochs); ++epoch) {
    if (!cfg.trace.empty() && epoch + 1 == std::uint64_t(cfg.epochs)) model.enable_trace(1 << 16);
    const auto start = clock::now();
    double loss_sum = 0;
    std::size_t seen = 0;
    for (auto& b : batches.epoch(epoch, epoch == at.epoch ? at.batch : 0)) {
      loss_sum += double(model.train_step(b.x, b.y, cross_entropy, opt)) * double(b.size());
      seen += b.size();
      const double seconds = std::chrono::duration<double>(clock::now() - start).count();
      progress(epoch, cfg.epochs, seen, train.size(), loss_sum / double(seen), double(seen) / seconds, false);
    }
    const double seconds = std::chrono::duration<double>(clock::now() - start).count();
    progress(epoch, cfg.epochs, seen, train.size(), loss_sum / double(seen), double(seen) / seconds, true);
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
    case 2: return run<replicate<2, buckets<bucket_plan{.bytes = 512 << 10, .first_bytes = 128 << 10}>>>(cfg, train, test);
    // [/docs:policies]
    default:
      fail("--devices " + std::to_string(cfg.devices) + " is not built into this example",
           "a policy is a type, chosen when the program compiles", "use --devices 1 or --devices 2");
  }
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
