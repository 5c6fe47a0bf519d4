#pragma once
// layernorm: normalises each sample over all its In::size elements, whatever its rank, as
// torch.nn.LayerNorm(normalized_shape = the sample's shape):
//   y = gamma * (x - mean) / sqrt(var + eps) + beta,  mean and biased var over the sample,
// with gamma and beta of the sample's shape (init 1 and 0). Written `layernorm`, or
// `layernorm_t<Eps>` with a std::ratio to change eps (default 1e-5, as PyTorch), e.g.
// `layernorm_t<std::ratio<1, 1000000>>{}`.
//
// The same in training and evaluation, and independent of how a policy splits the batch: a
// sample's output depends on that sample only.
//
// Memory: saved = [B, 2], each sample's mean and 1/sqrt(var + eps); backward recomputes x_hat from
// the input x (kept by the runtime) rather than keeping it (which would cost In::size per sample).

#include <cmath>
#include <cstddef>
#include <ratio>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/shape.hpp"
#include "../kernels/elementwise.hpp"

namespace plait {

/// Eps (a std::ratio): added to the variance before the square root, > 0.
template <class Eps = std::ratio<1, 100000>>
struct layernorm_t {
  static_assert(std::ratio_greater_v<Eps, std::ratio<0>>,
                "plait: layernorm_t is given an eps that is not positive. eps keeps 1/sqrt(var + eps) "
                "finite for a constant sample. Fix: give an eps > 0, e.g. std::ratio<1, 100000>.");
  static constexpr bool is_layer = true;
  static constexpr double eps = double(Eps::num) / double(Eps::den);

  template <Shape In>
  struct bound {
    static constexpr std::size_t features = In::size;
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 2 * features;  // gamma [N], beta [N]
    static constexpr std::size_t saved_count = 2;             // mean, inv_std
    static constexpr std::size_t flops = 7 * features;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = true;    // the parameter pass reads dy before dx is written
    static constexpr bool splits_backward = true;  // dparams or dx may be null: either part alone

    template <class T, class Rng>
    static void init(T* params, Rng&) {
      for (std::size_t j = 0; j < features; ++j) {
        params[j] = T{1};
        params[features + j] = T{0};
      }
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      constexpr std::size_t N = features;
      const T* x = a.x;              // [B, N]
      T* y = a.y;                    // [B, N]
      T* saved = a.saved;            // [B, 2]: mean, inv_std
      const T* gamma = a.params;     // [N]
      const T* beta = a.params + N;  // [N]
      for_rows(ctx, a.batch, [=] PLAIT_HD(std::size_t r) {
        const T* PLAIT_RESTRICT xr = x + r * N;
        T* PLAIT_RESTRICT yr = y + r * N;
        double s = 0;
        for (std::size_t j = 0; j < N; ++j) s += double(xr[j]);
        const double m = s / double(N);
        double ss = 0;  // two passes: no cancellation for samples with a large mean
        for (std::size_t j = 0; j < N; ++j) {
          const double d = double(xr[j]) - m;
          ss += d * d;
        }
        const T mean = T(m);
        const T inv_std = T(1.0 / std::sqrt(ss / double(N) + eps));
        saved[2 * r] = mean;
        saved[2 * r + 1] = inv_std;
        for (std::size_t j = 0; j < N; ++j) yr[j] = gamma[j] * ((xr[j] - mean) * inv_std) + beta[j];
      });
    }

    /// With x_hat = (x - mean) * inv_std and g = dy * gamma, per sample of N elements:
    ///   dx = inv_std * (g - mean(g) - x_hat * mean(g * x_hat));
    /// over the batch: dbeta = sum dy, dgamma = sum dy * x_hat.
    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      constexpr std::size_t N = features;
      const std::size_t batch = a.batch;
      const T* x = a.x;                             // [B, N]
      const T* dy = a.dy;                           // [B, N]
      T* dx = a.dx;                                 // [B, N], may be dy, or null
      const T* saved = a.saved;                     // [B, 2]
      const T* gamma = a.params;                    // [N]
      T* dgamma = a.dparams;                        // [N], or null: the input part alone
      T* dbeta = dgamma ? a.dparams + N : nullptr;  // [N]
      const bool acc = a.accumulate;
      // Parameter gradients: sums over the batch, so blocks of columns, each summed by one iteration.
      if (dgamma)
        for_blocks(ctx, N, 256, [=] PLAIT_HD(std::size_t j0, std::size_t j1) {
          T* PLAIT_RESTRICT dg = dgamma;
          T* PLAIT_RESTRICT db = dbeta;
          if (!acc)
            for (std::size_t j = j0; j < j1; ++j) dg[j] = db[j] = T{0};
          for (std::size_t r = 0; r < batch; ++r) {
            const T* PLAIT_RESTRICT xr = x + r * N;
            const T* PLAIT_RESTRICT dyr = dy + r * N;
            const T mean = saved[2 * r], inv_std = saved[2 * r + 1];
            for (std::size_t j = j0; j < j1; ++j) {
              dg[j] += dyr[j] * ((xr[j] - mean) * inv_std);
              db[j] += dyr[j];
            }
          }
        });
      if (!dx) return;
      // Input gradient: one sample per iteration; its sums are taken before any of its dx is written.
      for_rows(ctx, batch, [=] PLAIT_HD(std::size_t r) {
        const T* PLAIT_RESTRICT xr = x + r * N;
        const T* dyr = dy + r * N;  // no restrict: dxr may be dyr
        T* dxr = dx + r * N;
        const T mean = saved[2 * r], inv_std = saved[2 * r + 1];
        double sum_g = 0, sum_g_xhat = 0;
        for (std::size_t j = 0; j < N; ++j) {
          const double g = double(dyr[j]) * double(gamma[j]);
          sum_g += g;
          sum_g_xhat += g * double((xr[j] - mean) * inv_std);
        }
        const T mean_g = T(sum_g / double(N)), mean_g_xhat = T(sum_g_xhat / double(N));
        for (std::size_t j = 0; j < N; ++j)
          dxr[j] = inv_std * (dyr[j] * gamma[j] - mean_g - (xr[j] - mean) * inv_std * mean_g_xhat);
      });
    }
  };
};

inline constexpr layernorm_t<> layernorm{};

}  // namespace plait
