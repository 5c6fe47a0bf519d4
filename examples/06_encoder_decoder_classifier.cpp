// 06 — An encoder, a decoder and a classifier on three devices: a three-stage pipeline.
//
//   device 0, encoder:     embedding 100 x 32, then LSTM 32 -> 64      tokens   [T]     -> [T, 64]
//   device 1, decoder:     LSTM 64 -> 64, then linear 64 -> 32         [T, 64]          -> [T, 32]
//   device 2, classifier:  mean over the T steps, then linear 32 -> 10 [T, 32]          -> [10]
//
// The decoder's linear<32> is given a sequence, shape<T, 64>, so it maps every step's 64 features
// to 32 with one weight matrix shared by all steps (as PyTorch's nn.Linear on [B, T, 64]): 64*32 +
// 32 parameters, computed as one GEMM over the micro-batch's B*T rows.
//
// The task: sequences of T = 12 tokens. Two different marker tokens from [0, 10) sit at random
// places among noise tokens from [10, 100); the class is the marker that comes FIRST. Both markers
// are in every sequence, so counting tokens (a bag of words) can do no better than a coin flip
// between the two: the model has to use the order, which is what the LSTMs are for.
//
// The policy is pipeline<3, microbatches<4>, one_f_one_b>: the batch is cut into 4 micro-batches
// that flow through the three devices, activations forward and gradients back.
//
//   build/examples/06_encoder_decoder_classifier [--steps N] [--batch B]
//
// Exit code 0 when held-out accuracy reaches 80% (a bag of words cannot beat 50%).

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/plait.hpp>
#include <vector>

#include "options.hpp"

namespace {
using namespace plait;

constexpr std::size_t T = 12, vocab = 100, markers = 10;

// [docs:graph]
constexpr auto net = input<T> >> embedding<vocab, 32> >> lstm<64>  // device 0: encoder
                     >> cut >> lstm<64> >> linear<32>              // device 1: decoder
                     >> cut >> mean_pool >> linear<10>;            // device 2: classifier
using graph = std::remove_const_t<decltype(net)>;
using policy = pipeline<3, microbatches<4>, one_f_one_b>;
// [/docs:graph]

// Token ids travel as floats holding integers (see embedding.hpp).
struct first_marker {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  first_marker(std::size_t n, std::uint64_t seed) : x(n * T), y(n) {
    splitmix64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      float* seq = x.data() + i * T;
      for (std::size_t t = 0; t < T; ++t) seq[t] = float(markers + rng.below(vocab - markers));
      const auto a = std::size_t(rng.below(markers));
      const auto b = (a + 1 + std::size_t(rng.below(markers - 1))) % markers;  // b != a
      const auto pa = std::size_t(rng.below(T));
      const auto pb = (pa + 1 + std::size_t(rng.below(T - 1))) % T;  // pb != pa
      seq[pa] = float(a);
      seq[pb] = float(b);
      y[i] = std::int32_t(pa < pb ? a : b);
    }
  }
  samples<shape<T>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * T, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
  std::size_t size() const { return y.size(); }
};
}  // namespace

int main(int argc, char** argv) try {
  int steps = 300;
  std::size_t batch = 32;
  example_options("06_encoder_decoder_classifier",
                  "An encoder, a decoder and a classifier on three devices: a three-stage pipeline")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .parse(argc, argv);
  const first_marker train(8192, 1), test(1024, 2);

  // What each device holds, from the types alone.
  using layout = graph_layout<graph>;
  constexpr auto stages = policy::stages<graph>;
  const char* names[] = {"encoder", "decoder", "classifier"};
  for (std::size_t s = 0; s < stages.size(); ++s) {
    std::size_t params = 0, flops = 0;
    for (std::size_t i = stages[s].first; i < stages[s].last; ++i) {
      params += layout::param_sizes[i];
      flops += layout::layer_flops<>[i];
    }
    std::printf(
        "device %zu, %-10s layers [%zu, %zu): %6zu parameters, %.2f MFLOP per sample forward, "
        "holds %zu micro-batch(es) in flight\n",
        s, names[s], stages[s].first, stages[s].last, params, double(flops) / 1e6,
        policy::peak_inflight_microbatches[s]);
  }
  std::printf("schedule %s, %zu micro-batches: bubble %.3f with equal stages, %.3f planned for this graph\n",
              policy::schedule::name, policy::microbatch_count, policy::bubble_fraction,
              policy::planned_timeline<graph>.bubble_fraction());

  // [docs:train]
  auto model = place<policy>(net, host_devices(3), {.max_batch = batch, .seed = 3});
  auto opt = adam{.lr = 5e-3f};
  const auto before = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
  const auto t0 = std::chrono::steady_clock::now();
  progress bar({.steps = std::size_t(steps), .every = 50});  // each line: the mean loss of its 50 steps
  bar.begin_epoch(0);
  for (int s = 0; s < steps; ++s) {
    const std::size_t at = (std::size_t(s) * batch) % (train.size() - batch + 1);
    bar.step(batch, model.train_step(train.xs(at, batch), train.ys(at, batch), cross_entropy, opt));
  }
  bar.end_epoch();
  const auto after = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
  // [/docs:train]
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("held-out (%zu sequences): loss %.4f -> %.4f, accuracy %.3f -> %.3f  (%.2f ms/step)\n", after.count,
              before.loss, after.loss, before.accuracy, after.accuracy, ms / std::max(1, steps));
  return after.accuracy > 0.8 ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
