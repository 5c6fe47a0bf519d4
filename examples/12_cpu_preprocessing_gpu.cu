// 12 — CPU preprocessing feeding a model on a GPU (CUDA).
//
// Fashion-MNIST images are standardised per image on the CPU (each image to mean 0 and standard
// deviation 1: a preprocessing step written as ordinary host code) and an MLP trains on GPU 0. The
// preprocessing is the graph's host stage, marked on<cpu>(...): plait runs it on the host for each
// micro-batch, writes its output into one of two pinned buffers and copies that to the GPU on the
// GPU's stream, so the CPU standardises micro-batch k+1 while the GPU copies and trains on micro-batch
// k. pipeline<1, microbatches<4>> cuts each batch into four micro-batches on the one GPU (their
// gradients add up: the step equals one on the whole batch).
//
// Built where nvcc is found; exits 77 (skipped) with a one-line reason where no GPU answers.
//
//   build/examples/12_cpu_preprocessing_gpu [--epochs N] [--batch B] [--limit N]

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/cuda.hpp>
#include <plait/plait.hpp>

// [docs:standardize]
/// standardize: each sample to mean 0 and standard deviation 1 over its values (std + 1e-5). Host
/// code only (no PLAIT_HD): it runs in the host stage, never on the GPU. No parameters, not trained.
struct standardize_t {
  static constexpr bool is_layer = true;
  template <plait::Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0, saved_count = 0, flops = 4 * In::size;
    static constexpr bool is_view = false, in_place_grad = true;
    template <class T, class Rng>
    static void init(T*, Rng&) {}
    template <class Ctx, class T>
    static void forward(const Ctx&, const plait::forward_args<T>& a) {
      constexpr std::size_t n = In::size;
      for (std::size_t r = 0; r < a.batch; ++r) {
        const T* x = a.x + r * n;  // [In] @ host
        T* y = a.y + r * n;        // [In] @ host
        double mean = 0, var = 0;
        for (std::size_t j = 0; j < n; ++j) mean += x[j];
        mean /= double(n);
        for (std::size_t j = 0; j < n; ++j) var += (x[j] - mean) * (x[j] - mean);
        const double inv = 1.0 / (std::sqrt(var / double(n)) + 1e-5);
        for (std::size_t j = 0; j < n; ++j) y[j] = T((x[j] - mean) * inv);
      }
    }
    template <class Ctx, class T>
    static void backward(const Ctx&, const plait::backward_args<T>&) {}  // the host stage is not trained
  };
};
inline constexpr standardize_t standardize{};
// [/docs:standardize]

int main(int argc, char** argv) try {
  using namespace plait;
  int epochs = 2;
  std::size_t batch = 256, limit = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--epochs")) epochs = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--batch")) batch = std::strtoul(argv[i + 1], nullptr, 10);
    else if (!std::strcmp(argv[i], "--limit")) limit = std::strtoul(argv[i + 1], nullptr, 10);
  }
  if (!cuda_detail::cuda_device_answers()) {
    std::puts("skipped: no CUDA device answers; this example trains on GPU 0");
    return 77;
  }
  auto train = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::train);
  auto test = fashion_mnist::load(fashion_mnist::default_dir(), fashion_mnist::split::test);
  if (limit)
    train = train.subset(0, std::min(limit, train.size())), test = test.subset(0, std::min(limit, test.size()));

  // [docs:gpu_model]
  constexpr auto net = input<1, 28, 28> >> on<cpu>(standardize >> flatten)  // on the host, per micro-batch
                       >> linear<256> >> relu >> linear<10>;                // on GPU 0
  auto model =
      place<pipeline<1, microbatches<4>>>(net, cuda_devices({0}, cuda_math::tf32), {.max_batch = batch, .seed = 1});
  // [/docs:gpu_model]
  auto opt = adam{.lr = 1e-3f};
  loader batches(train, {.batch_size = batch, .seed = 7, .drop_last = true});
  for (int epoch = 0; epoch < epochs; ++epoch) {
    const auto start = std::chrono::steady_clock::now();
    double loss_sum = 0;
    std::size_t seen = 0;
    for (auto& b : batches.epoch(epoch)) {
      loss_sum += double(model.train_step(b.x, b.y, cross_entropy, opt)) * double(b.size());
      seen += b.size();
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("epoch %d/%d: loss %.4f, %.0f samples/s\n", epoch + 1, epochs, loss_sum / double(seen),
                double(seen) / seconds);
  }
  const evaluation result = model.evaluate(test.x(), test.y(), cross_entropy);
  std::printf("test: loss %.4f, accuracy %.4f over %zu images\n", result.loss, result.accuracy, result.count);
  return result.accuracy > 0.8 ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
