#pragma once
// conv2d<Out, K, Stride = 1, Pad = 0>: a 2-D convolution of [C, H, W] images with Out filters of
// [C, K, K], zero padding Pad on each side. Output [Out, Ho, Wo], Ho = (H + 2 Pad - K) / Stride + 1,
// Wo likewise. Parameters: W [Out, C, K, K] (PyTorch's layout), then b [Out].
//
// On host devices in float, for K > 1, through oneDNN (kernels/conv_host.hpp: its direct convolution
// kernels on the device's threads; `saved` stays unused, backward reads x), the input's gradient too
// where C >= 16. Elsewhere (CUDA, double on the host, 1x1 windows, and the input's gradient for fewer
// than 16 channels, where OpenBLAS measured faster) by im2col + GEMM, below; the host's oneDNN path is
// compared with it in tests (im2col_forward and im2col_backward stay callable on any backend).
//
// im2col + GEMM. Forward unfolds each sample's receptive fields into col [C*K*K, Ho*Wo], kept
// in `saved` for backward's dW, and multiplies y_s [Out, Ho*Wo] = W [Out, C*K*K] . col_s onto y_s
// pre-filled with the bias. Backward: db = row sums of dy, dW += (sum_s col_s . dy_s^T)^T, and, when dx is
// wanted, dcol = W^T . dy_s folded back (col2im) into dx_s, adding overlapping windows.
//
// Why one GEMM per sample and not one over the batch: y and dy are [B, Out, Ho*Wo], so the
// contraction is block-diagonal in the batch (y's rows (b, o) do not share a right-hand side).
// A single GEMM over [C*K*K, B*Ho*Wo] columns would need y and dy permuted through a second
// activation-sized buffer per conv layer; the per-sample GEMMs are already [Out, Ho*Wo, C*K*K]
// sized and cost one call each, and the layer's memory stays col plus one sample's dcol.

#include <algorithm>
#include <cmath>
#include <cstddef>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/shape.hpp"
#include "../kernels/conv.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"

namespace plait {

/// A named predicate, so that a failed check prints the shape and the window:
/// `'plait::window_fits<plait::shape<1, 2, 2>, 3, 0>::value' evaluates to false`.
template <Shape In, std::size_t K, std::size_t Pad>
struct window_fits {
  static constexpr bool value = In::rank != 3 || (In::dims[1] + 2 * Pad >= K && In::dims[2] + 2 * Pad >= K);
};

namespace detail {

/// The geometry of a K x K window sliding with Stride over a zero-padded [H, W] plane, and the
/// copy between the plane and its unfolded columns.
///   col [K*K, Ho*Wo]: col[kh*K + kw][oh*Wo + ow] = x[oh*S - P + kh][ow*S - P + kw] (0 off the image)
template <std::size_t H, std::size_t W, std::size_t K, std::size_t S, std::size_t P>
struct window_geometry {
  static constexpr std::size_t ho = (H + 2 * P - K) / S + 1;
  static constexpr std::size_t wo = (W + 2 * P - K) / S + 1;

  /// [first, last) of the output indices whose input index o*S - P + k lies in [0, n).
  PLAIT_HD static constexpr void valid(std::size_t k, std::size_t n, std::size_t outs, std::size_t& first,
                                       std::size_t& last) {
    first = k >= P ? 0 : (P - k + S - 1) / S;
    last = n + P > k ? (n + P - k + S - 1) / S : 0;  // o*S < n + P - k
    if (last > outs) last = outs;
    if (first > last) first = last;
  }

  /// ToCol: col = unfold(x), zeros where the window is off the image. Otherwise x += fold(col).
  /// X and Col are `const T*` / `T*` as the direction reads or writes them.
  template <bool ToCol, class X, class Col>
  PLAIT_HD static void unfold(X x /* [H, W] */, Col col /* [K*K, Ho*Wo] */) {
    for (std::size_t kh = 0; kh < K; ++kh) {
      std::size_t oh0, oh1;
      valid(kh, H, ho, oh0, oh1);
      for (std::size_t kw = 0; kw < K; ++kw) {
        std::size_t ow0, ow1;
        valid(kw, W, wo, ow0, ow1);
        const auto c = col + (kh * K + kw) * ho * wo;  // [Ho, Wo]
        // Output rows [r0, r1) see the image through this (kh, kw); none if its column never does.
        const std::size_t r0 = ow0 < ow1 ? oh0 : ho, r1 = ow0 < ow1 ? oh1 : ho;
        if constexpr (ToCol) {
          for (std::size_t i = 0; i < r0 * wo; ++i) c[i] = 0;
          for (std::size_t i = r1 * wo; i < ho * wo; ++i) c[i] = 0;
        }
        for (std::size_t oh = r0; oh < r1; ++oh) {
          const auto cr = c + oh * wo + ow0;                             // [ow1 - ow0] of col's row
          const auto xr = x + (oh * S + kh - P) * W + ow0 * S + kw - P;  // xr[j*S]: the pixel under cr[j]
          const std::size_t n = ow1 - ow0;
          if constexpr (ToCol) {
            for (std::size_t j = 0; j < ow0; ++j) c[oh * wo + j] = 0;
            for (std::size_t j = 0; j < n; ++j) cr[j] = xr[j * S];
            for (std::size_t j = ow1; j < wo; ++j) c[oh * wo + j] = 0;
          } else {
            for (std::size_t j = 0; j < n; ++j) xr[j * S] += cr[j];
          }
        }
      }
    }
  }
};

}  // namespace detail

template <std::size_t Out, std::size_t K, std::size_t Stride = 1, std::size_t Pad = 0>
struct conv2d_t {
  static_assert(Out > 0 && K > 0 && Stride > 0,
                "plait: conv2d<Out, K, Stride, Pad> has a zero Out, K or Stride. A convolution has at least one "
                "filter, a window of at least 1 x 1, and moves by at least one pixel. Fix: give conv2d positive "
                "Out, K and Stride.");
  static constexpr bool is_layer = true;
  static constexpr std::size_t out_channels = Out, kernel = K, stride = Stride, padding = Pad;

  template <Shape In>
  struct bound {
    static_assert(has_rank<In, 3>::value,
                  "plait: conv2d<Out, K, Stride, Pad> is given an input of rank other than 3. A 2-D convolution "
                  "takes images as [channels, height, width]; its input here is not one. Fix: give it "
                  "input<C, H, W> (input<1, H, W> for one channel), or use linear<N> for vectors.");
    static_assert(window_fits<In, K, Pad>::value,
                  "plait: conv2d's K x K kernel is larger than its padded input. The window must fit at least "
                  "once inside the (H + 2*Pad) x (W + 2*Pad) image. Fix: use a smaller K, more padding (Pad), or "
                  "a larger image (fewer poolings or strides before this layer).");
    // On a failed check above, neutral sizes keep the compiler to that one message.
    static constexpr bool ok = has_rank<In, 3>::value && window_fits<In, K, Pad>::value;
    static constexpr std::size_t C = ok ? In::dims[0] : 1, H = ok ? In::dims[1] : K,
                                 W = ok ? In::dims[In::rank - 1] : K;
    using geometry = detail::window_geometry<H, W, K, Stride, Pad>;
    static constexpr std::size_t Ho = geometry::ho, Wo = geometry::wo;
    static constexpr std::size_t ckk = C * K * K;  // rows of col: one per (c, kh, kw)
    static constexpr std::size_t hwo = Ho * Wo;    // columns of col: one per output pixel

    using in_shape = In;
    using out_shape = shape<Out, Ho, Wo>;
    static constexpr std::size_t weight_count = Out * ckk;
    static constexpr std::size_t param_count = weight_count + Out;
    static constexpr std::size_t saved_count = ckk * hwo;  // col, per sample
    static constexpr std::size_t state_count = ckk * hwo;  // dcol of one sample (or dW^T): backward's scratch
    /// Columns of col per GEMM. OpenBLAS packs both operands of a product above about 100^3
    /// multiply-adds and runs an unpacked kernel below; with few filters (Out * C*K*K small) the
    /// packing of col costs more than the product itself, so the per-sample product is cut into
    /// column blocks that stay under the bound (2.5x faster for Out = 16, C*K*K = 144).
    static constexpr std::size_t gemm_cols = [] {
      const std::size_t fit = std::size_t{1000000} / (Out * ckk) / 16 * 16;
      return fit >= 64 && fit < hwo ? fit : hwo;
    }();
    static constexpr std::size_t flops = 2 * Out * ckk * hwo + Out * hwo;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
    static constexpr bool splits_backward = true;  // dparams or dx may be null: either part alone

    /// PyTorch's default: W and b uniform in +-1/sqrt(C*K*K).
    template <class T, class Rng>
    static void init(T* params, Rng& rng) {
      const float bound = 1.0f / std::sqrt(static_cast<float>(ckk));
      for (std::size_t i = 0; i < param_count; ++i) params[i] = static_cast<T>(rng.uniform(-bound, bound));
    }

    /// This layer's geometry for a batch, as a backend's own convolution takes it.
    static constexpr conv_shape shape_for(std::size_t batch) { return {batch, C, H, W, Out, K, Stride, Pad, Ho, Wo}; }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      using native = conv_impl<typename Ctx::backend, T>;
      if constexpr (native::takes(C, K))
        native::forward(ctx, shape_for(a.batch), a.params, a.params + weight_count, a.x, a.y);
      else im2col_forward(ctx, a);
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      using native = conv_impl<typename Ctx::backend, T>;
      if constexpr (native::takes(C, K)) {
        constexpr bool data = native::takes_data(C, K);
        native::backward(ctx, shape_for(a.batch), a.x, a.params, a.dy, data ? a.dx : nullptr, a.dparams,
                         a.dparams ? a.dparams + weight_count : nullptr, a.accumulate);
        if constexpr (!data)
          if (a.dx) data_part(ctx, a);
      } else {
        im2col_backward(ctx, a);
      }
    }

    template <class Ctx, class T>
    static void im2col_forward(const Ctx& ctx, const forward_args<T>& a) {
      const T* w = a.params;                    // [Out, C*K*K]
      const T* bias = a.params + weight_count;  // [Out]
      const T* x = a.x;                         // [B, C, H, W]
      T* col = a.saved;                         // [B, C*K*K, Ho*Wo] @ saved
      T* y = a.y;                               // [B, Out, Ho*Wo]
      // One task per (sample, channel): its K*K rows of col.
      for_rows(ctx, a.batch * C,
               [=] PLAIT_HD(std::size_t r) { geometry::template unfold<true>(x + r * H * W, col + r * K * K * hwo); });
      for_rows(ctx, a.batch * Out, [=] PLAIT_HD(std::size_t r) {
        T* PLAIT_RESTRICT row = y + r * hwo;
        const T v = bias[r % Out];
        for (std::size_t i = 0; i < hwo; ++i) row[i] = v;
      });
      for (std::size_t b = 0; b < a.batch; ++b)
        for (std::size_t j = 0; j < hwo; j += gemm_cols)
          gemm(ctx, transpose::no, transpose::no, Out, std::min(gemm_cols, hwo - j), ckk, T{1}, w, ckk,
               col + b * saved_count + j, hwo, T{1}, y + b * Out * hwo + j, hwo);
    }

    template <class Ctx, class T>
    static void im2col_backward(const Ctx& ctx, const backward_args<T>& a) {
      if (a.dparams) weight_part(ctx, a);
      if (a.dx) data_part(ctx, a);
    }

    // dx = col2im(W^T . dy), a sample at a time (W and dy only: col is not read).
    template <class Ctx, class T>
    static void data_part(const Ctx& ctx, const backward_args<T>& a) {
      const std::size_t batch = a.batch;
      const T* w = a.params;  // [Out, C*K*K]
      const T* dy = a.dy;     // [B, Out, Ho*Wo]
      T* dcol = a.state;      // [C*K*K, Ho*Wo] @ state, one sample at a time
      for (std::size_t b = 0; b < batch; ++b) {
        T* dxs = a.dx + b * C * H * W;  // [C, H, W]
        for (std::size_t j = 0; j < hwo; j += gemm_cols)
          gemm(ctx, transpose::yes, transpose::no, ckk, std::min(gemm_cols, hwo - j), Out, T{1}, w, ckk,
               dy + b * Out * hwo + j, hwo, T{0}, dcol + j, hwo);
        for_rows(ctx, C, [=] PLAIT_HD(std::size_t c) {
          T* PLAIT_RESTRICT plane = dxs + c * H * W;
          for (std::size_t i = 0; i < H * W; ++i) plane[i] = T{0};
          geometry::template unfold<false>(plane, static_cast<const T*>(dcol) + c * K * K * hwo);
        });
      }
    }

    // db and dW (+)= over the batch.
    template <class Ctx, class T>
    static void weight_part(const Ctx& ctx, const backward_args<T>& a) {
      const std::size_t batch = a.batch;
      const bool acc = a.accumulate;
      const T* col = a.saved;            // [B, C*K*K, Ho*Wo] @ saved
      const T* dy = a.dy;                // [B, Out, Ho*Wo]
      T* dw = a.dparams;                 // [Out, C*K*K]
      T* db = a.dparams + weight_count;  // [Out]
      // db: 16 running sums per channel, so that the compiler vectorises the reduction.
      for_rows(ctx, Out, [=] PLAIT_HD(std::size_t o) {
        T lanes[16] = {};
        for (std::size_t b = 0; b < batch; ++b) {
          const T* PLAIT_RESTRICT row = dy + (b * Out + o) * hwo;
          std::size_t i = 0;
          for (; i + 16 <= hwo; i += 16)
            for (std::size_t j = 0; j < 16; ++j) lanes[j] += row[i + j];
          for (; i < hwo; ++i) lanes[i % 16] += row[i];
        }
        T s{0};
        for (T v : lanes) s += v;
        db[o] = acc ? db[o] + s : s;
      });
      // dW^T [C*K*K, Out] = sum over samples of col_s . dy_s^T, then transposed into dW: the product
      // with Out columns runs without packing where dW's own (Out rows, C*K*K columns) would not.
      // dW^T lives in dcol's scratch, free until dx is computed.
      if constexpr (hwo >= Out) {
        T* dwt = a.state;  // [C*K*K, Out] @ state
        for (std::size_t b = 0; b < batch; ++b)
          for (std::size_t j = 0; j < hwo; j += gemm_cols)
            gemm(ctx, transpose::no, transpose::yes, ckk, Out, std::min(gemm_cols, hwo - j), T{1},
                 col + b * saved_count + j, hwo, dy + b * Out * hwo + j, hwo, b > 0 || j > 0 ? T{1} : T{0}, dwt, Out);
        for_rows(ctx, Out, [=] PLAIT_HD(std::size_t o) {
          T* PLAIT_RESTRICT row = dw + o * ckk;
          for (std::size_t i = 0; i < ckk; ++i) row[i] = acc ? row[i] + dwt[i * Out + o] : dwt[i * Out + o];
        });
      } else {
        for (std::size_t b = 0; b < batch; ++b)
          gemm(ctx, transpose::no, transpose::yes, Out, ckk, hwo, T{1}, dy + b * Out * hwo, hwo, col + b * saved_count,
               hwo, acc || b > 0 ? T{1} : T{0}, dw, ckk);
      }
    }
  };
};

template <std::size_t Out, std::size_t K, std::size_t Stride = 1, std::size_t Pad = 0>
inline constexpr conv2d_t<Out, K, Stride, Pad> conv2d{};

static_assert(LayerSpec<conv2d_t<8, 3, 1, 1>>);
static_assert(BoundLayer<conv2d_t<8, 3, 1, 1>::bound<shape<3, 8, 6>>>);

}  // namespace plait
