#pragma once
// maxpool2d<K, Stride = K> and avgpool2d<K, Stride = K>: a K x K window sliding by Stride over each
// channel of [C, H, W] images, no padding, floor rounding (PyTorch's defaults). Output
// [C, Ho, Wo], Ho = (H - K) / Stride + 1, Wo likewise. No parameters.
//
// maxpool keeps, per output element, where in its channel's [H, W] plane the maximum was (the
// first one in row-major window order on ties, as PyTorch), as a float: exact below 2^24.
// Backward adds dy there. avgpool spreads dy / (K*K) over the window. Overlapping windows
// (Stride < K) add up in dx.

#include <cmath>
#include <cstddef>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/shape.hpp"
#include "../kernels/elementwise.hpp"

namespace plait {

/// A named predicate, so that a failed check prints the shape and the window:
/// `'plait::pool_window_fits<plait::shape<4, 3, 3>, 4>::value' evaluates to false`.
template <Shape In, std::size_t K>
struct pool_window_fits {
  static constexpr bool value = In::rank != 3 || (In::dims[1] >= K && In::dims[2] >= K);
};

/// The pooling functions, as policies of pool2d_t: what one window computes, what it keeps,
/// and how its gradient flows back.
struct max_pool {
  static constexpr std::size_t saved_per_output = 1;  // the argmax, an index into [H, W]

  template <std::size_t W, std::size_t K, class T>
  PLAIT_HD static T forward(const T* PLAIT_RESTRICT window /* K x K of [., W] */, std::size_t at, T* saved) {
    T best = window[0];
    std::size_t arg = 0;
    for (std::size_t kh = 0; kh < K; ++kh)
      for (std::size_t kw = 0; kw < K; ++kw) {
        const T v = window[kh * W + kw];
        if (v > best || (std::isnan(v) && !std::isnan(best))) {  // NaN propagates, as in PyTorch
          best = v;
          arg = kh * W + kw;
        }
      }
    *saved = static_cast<T>(at + arg);
    return best;
  }

  template <std::size_t W, std::size_t K, class T>
  PLAIT_HD static void backward(T* PLAIT_RESTRICT plane /* [H, W] */, std::size_t, T saved, T dy) {
    plane[static_cast<std::size_t>(saved)] += dy;
  }
};

struct avg_pool {
  static constexpr std::size_t saved_per_output = 0;

  template <std::size_t W, std::size_t K, class T>
  PLAIT_HD static T forward(const T* PLAIT_RESTRICT window, std::size_t, T*) {
    T s{0};
    for (std::size_t kh = 0; kh < K; ++kh)
      for (std::size_t kw = 0; kw < K; ++kw) s += window[kh * W + kw];
    return s / static_cast<T>(K * K);
  }

  template <std::size_t W, std::size_t K, class T>
  PLAIT_HD static void backward(T* PLAIT_RESTRICT plane, std::size_t at, T, T dy) {
    const T g = dy / static_cast<T>(K * K);
    for (std::size_t kh = 0; kh < K; ++kh)
      for (std::size_t kw = 0; kw < K; ++kw) plane[at + kh * W + kw] += g;
  }
};

template <class Op, std::size_t K, std::size_t Stride>
struct pool2d_t {
  static_assert(K > 0 && Stride > 0,
                "plait: a pooling layer has a zero window or stride. maxpool2d<K, Stride> and avgpool2d<K, "
                "Stride> pool at least 1 x 1 pixels and move by at least one. Fix: give positive K and Stride.");
  static constexpr bool is_layer = true;
  static constexpr std::size_t kernel = K, stride = Stride;
  using function = Op;

  template <Shape In>
  struct bound {
    static_assert(has_rank<In, 3>::value,
                  "plait: maxpool2d / avgpool2d is given an input of rank other than 3. 2-D pooling takes "
                  "images as [channels, height, width]; its input here is not one. Fix: pool before `>> "
                  "flatten`, and give the graph input<C, H, W>.");
    static_assert(pool_window_fits<In, K>::value,
                  "plait: the pooling window is larger than its input image. maxpool2d<K, Stride> and "
                  "avgpool2d<K, Stride> need K <= H and K <= W, and do not pad. Fix: use a smaller K, or pool a "
                  "larger image (fewer poolings or strides before this layer).");
    static constexpr bool ok = has_rank<In, 3>::value && pool_window_fits<In, K>::value;
    static constexpr std::size_t C = ok ? In::dims[0] : 1, H = ok ? In::dims[1] : K,
                                 W = ok ? In::dims[In::rank - 1] : K;
    static_assert(Op::saved_per_output == 0 || H * W <= (std::size_t{1} << 24),
                  "plait: maxpool2d's input plane has more than 2^24 pixels. It keeps each window's argmax as "
                  "a float, which holds integers exactly only up to 2^24. Fix: downsample the image (a strided "
                  "conv2d or avgpool2d) before this layer.");
    static constexpr std::size_t Ho = (H - K) / Stride + 1, Wo = (W - K) / Stride + 1;

    using in_shape = In;
    using out_shape = shape<C, Ho, Wo>;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = Op::saved_per_output * C * Ho * Wo;  // [C, Ho, Wo] argmax @ saved
    static constexpr std::size_t flops = C * Ho * Wo * K * K;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
    static constexpr bool splits_backward = true;  // no parameters: the input part is the whole backward

    template <class T, class Rng>
    static void init(T*, Rng&) {}

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* x = a.x;    // [B, C, H, W]
      T* y = a.y;          // [B, C, Ho, Wo]
      T* saved = a.saved;  // [B, C, Ho, Wo] for max_pool, unused for avg_pool
      // One task per (sample, channel) plane.
      for_rows(ctx, a.batch * C, [=] PLAIT_HD(std::size_t r) {
        const T* plane = x + r * H * W;
        T* out = y + r * Ho * Wo;
        T* keep = Op::saved_per_output ? saved + r * Ho * Wo : nullptr;
        for (std::size_t oh = 0; oh < Ho; ++oh)
          for (std::size_t ow = 0; ow < Wo; ++ow) {
            const std::size_t at = oh * Stride * W + ow * Stride, o = oh * Wo + ow;
            out[o] = Op::template forward<W, K>(plane + at, at, keep ? keep + o : nullptr);
          }
      });
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      if (!a.dx) return;
      const T* dy = a.dy;        // [B, C, Ho, Wo]
      const T* saved = a.saved;  // [B, C, Ho, Wo] for max_pool
      T* dx = a.dx;              // [B, C, H, W]
      for_rows(ctx, a.batch * C, [=] PLAIT_HD(std::size_t r) {
        T* PLAIT_RESTRICT plane = dx + r * H * W;
        for (std::size_t i = 0; i < H * W; ++i) plane[i] = T{0};
        const T* g = dy + r * Ho * Wo;
        const T* keep = Op::saved_per_output ? saved + r * Ho * Wo : nullptr;
        for (std::size_t oh = 0; oh < Ho; ++oh)
          for (std::size_t ow = 0; ow < Wo; ++ow) {
            const std::size_t o = oh * Wo + ow;
            Op::template backward<W, K>(plane, oh * Stride * W + ow * Stride, keep ? keep[o] : T{0}, g[o]);
          }
      });
    }
  };
};

template <std::size_t K, std::size_t Stride = K>
using maxpool2d_t = pool2d_t<max_pool, K, Stride>;
template <std::size_t K, std::size_t Stride = K>
using avgpool2d_t = pool2d_t<avg_pool, K, Stride>;

template <std::size_t K, std::size_t Stride = K>
inline constexpr maxpool2d_t<K, Stride> maxpool2d{};
template <std::size_t K, std::size_t Stride = K>
inline constexpr avgpool2d_t<K, Stride> avgpool2d{};

static_assert(LayerSpec<maxpool2d_t<2>> && LayerSpec<avgpool2d_t<3, 2>>);
static_assert(BoundLayer<maxpool2d_t<2>::bound<shape<3, 8, 6>>>);

}  // namespace plait
