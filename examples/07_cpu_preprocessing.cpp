// 07 — Preprocessing on one device, the model on another; and how to write a layer of your own.
//
// Raw images arrive as pixel values 0..255. Device 1 scales them to [-1, 1]; device 0 trains an MLP
// on the scaled images. The two are one graph whose parts are pinned by hand, `on<1>(...)` and
// `on<0>(...)`, under placement<2, microbatches<4>, one_f_one_b>: the scaled micro-batches go from
// device 1 to device 0, so that while device 0 trains on micro-batch k, device 1 already scales
// micro-batch k+1.
//
// Both devices are host devices here (threads with their own memory), so both parts could be
// trained. For preprocessing that is not trained, feeding a model on a GPU, mark it on<cpu>(...)
// instead: the graph's host stage runs on the CPU and hands each micro-batch to the GPU through pinned
// buffers (example 12, examples/12_cpu_preprocessing_gpu.cu).
//
// plait has no scaling layer, so this file writes one: `scale_t<A, B>`, y = a x + b. A layer is
// an empty type with `is_layer` and a nested `bound<In>` (core/concepts.hpp): its shapes, its
// memory as compile-time numbers, and forward and backward over a batch. That is all the graph,
// the policies and the runtime need; the example checks it with the library's concepts.
//
// The task: 16x16 images, dark noise (0..99) with one bright 4x4 square (200..255) in one of 10
// places; the class is the place.
//
//   build/examples/07_cpu_preprocessing [--steps N] [--batch B]
//
// Exit code 0 when the scaling maps 0 and 255 to -1 and 1 and held-out accuracy reaches 90%.

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <plait/plait.hpp>
#include <ratio>
#include <vector>

#include "options.hpp"

// [docs:layer]
/// scale_t<A, B>: y = a x + b element-wise, any input shape, no parameters; a and b are std::ratio
/// values (compile-time constants, as batchnorm2d_t's momentum). Backward: dx = a dy.
template <class A, class B>
struct scale_t {
  static constexpr bool is_layer = true;
  static constexpr float a = float(A::num) / float(A::den);
  static constexpr float b = float(B::num) / float(B::den);

  template <plait::Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0;  // nothing to learn
    static constexpr std::size_t saved_count = 0;  // backward needs neither x nor y
    static constexpr std::size_t flops = 2 * In::size;
    static constexpr bool is_view = false;       // it computes a new tensor
    static constexpr bool in_place_grad = true;  // dx[i] reads dy[i] only: dx may be dy

    template <class T, class Rng>
    static void init(T*, Rng&) {}

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const plait::forward_args<T>& args) {
      const T* x = args.x;  // [B, In::size]
      T* y = args.y;        // [B, In::size]
      plait::for_blocks(ctx, args.batch * In::size, 4096, [=](std::size_t i0, std::size_t i1) {
        for (std::size_t i = i0; i < i1; ++i) y[i] = T(a) * x[i] + T(b);
      });
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const plait::backward_args<T>& args) {
      if (!args.dx) return;   // the first layer of the graph: no one needs dx
      const T* dy = args.dy;  // [B, In::size]
      T* dx = args.dx;        // [B, In::size], may be dy
      plait::for_blocks(ctx, args.batch * In::size, 4096, [=](std::size_t i0, std::size_t i1) {
        for (std::size_t i = i0; i < i1; ++i) dx[i] = T(a) * dy[i];
      });
    }
  };
};

/// Pixels 0..255 to [-1, 1]: y = x * 2/255 - 1.
inline constexpr scale_t<std::ratio<2, 255>, std::ratio<-1>> pixels_to_unit{};

static_assert(plait::LayerSpec<scale_t<std::ratio<2, 255>, std::ratio<-1>>>);
static_assert(plait::BoundLayer<scale_t<std::ratio<2, 255>, std::ratio<-1>>::bound<plait::shape<1, 16, 16>>>);
// [/docs:layer]

namespace {
using namespace plait;

// [docs:graph]
constexpr auto net = input<1, 16, 16> >> on<1>(pixels_to_unit)               // preprocessing
                     >> on<0>(flatten >> linear<64> >> relu >> linear<10>);  // the model
using graph = std::remove_const_t<decltype(net)>;
using policy = placement<2, microbatches<4>, one_f_one_b>;
// [/docs:graph]

constexpr std::size_t pixels = 16 * 16;

struct raw_images {
  std::vector<float> x;  // pixel values 0..255, as the camera gave them
  std::vector<std::int32_t> y;
  raw_images(std::size_t n, std::uint64_t seed) : x(n * pixels), y(n) {
    splitmix64 rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
      const auto c = std::size_t(rng.below(10));
      y[i] = std::int32_t(c);
      float* img = x.data() + i * pixels;  // [1, 16, 16]
      for (std::size_t j = 0; j < pixels; ++j) img[j] = float(rng.below(100));
      const std::size_t top = 4 * (c / 4), left = 4 * (c % 4);
      for (std::size_t h = 0; h < 4; ++h)
        for (std::size_t w = 0; w < 4; ++w) img[(top + h) * 16 + left + w] = float(200 + rng.below(56));
    }
  }
  samples<shape<1, 16, 16>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * pixels, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
  std::size_t size() const { return y.size(); }
};
}  // namespace

int main(int argc, char** argv) try {
  int steps = 200;
  std::size_t batch = 64;
  example_options("07_cpu_preprocessing",
                  "Preprocessing on one device, the model on another; and how to write a layer of your own")
      .add("--steps", steps, "training steps")
      .add("--batch", batch, "samples per step")
      .parse(argc, argv);
  const raw_images train(4096, 1), test(512, 2);

  // The new layer is a graph of its own too: scale a ramp image (pixel j has value j) and look.
  std::vector<float> ramp(pixels);
  for (std::size_t j = 0; j < pixels; ++j) ramp[j] = float(j);
  auto pre = place(input<1, 16, 16> >> pixels_to_unit, host_device(), {.max_batch = 1});
  const float* scaled = pre.predict(samples<shape<1, 16, 16>>{ramp.data(), 1}).data;
  std::printf("preprocessing: pixel 0 -> %.4f, 51 -> %.4f, 255 -> %.4f\n", scaled[0], scaled[51], scaled[255]);
  const bool scales =
      std::abs(scaled[0] + 1) < 1e-6f && std::abs(scaled[51] + 0.6f) < 1e-6f && std::abs(scaled[255] - 1) < 1e-6f;

  using layout = graph_layout<graph>;
  for (std::size_t d = 0; d < policy::device_count; ++d) {
    const stage_range r = policy::owned<graph>[d];
    std::size_t params = 0;
    for (std::size_t i = r.first; i < r.last; ++i) params += layout::param_sizes[i];
    std::printf("device %zu: layers [%zu, %zu), %5zu parameters, program: %s\n", d, r.first, r.last, params,
                summary(policy::programs<graph>[d]).c_str());
  }

  // [docs:train]
  auto model = place<policy>(net, host_devices(2), {.max_batch = batch, .seed = 8});
  auto opt = adam{.lr = 1e-3f};
  float first = 0, loss = 0;
  for (int s = 0; s < steps; ++s) {
    const std::size_t at = (std::size_t(s) * batch) % (train.size() - batch + 1);
    loss = model.train_step(train.xs(at, batch), train.ys(at, batch), cross_entropy, opt);  // raw pixels in
    if (s == 0) first = loss;
  }
  const auto result = model.evaluate(test.xs(0, test.size()), test.ys(0, test.size()), cross_entropy);
  // [/docs:train]
  std::printf("loss %.4f -> %.4f over %d steps; held-out (%zu raw images): loss %.4f, accuracy %.3f\n", first, loss,
              steps, result.count, result.loss, result.accuracy);
  return scales && result.accuracy > 0.9 ? 0 : 1;
} catch (const plait::error& e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}
