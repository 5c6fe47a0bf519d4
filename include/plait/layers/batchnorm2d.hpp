#pragma once
// batchnorm2d: per-channel batch normalisation of [C, H, W] images, as torch.nn.BatchNorm2d
// (affine, track_running_stats). Written `batchnorm2d`, or `batchnorm2d_t<Momentum, Eps>` with
// std::ratio values to change PyTorch's defaults (momentum 0.1, eps 1e-5), e.g.
// `batchnorm2d_t<std::ratio<1, 100>, std::ratio<1, 1000>>{}`. (Ratios, not float template
// arguments: Clang before 18 does not take float template arguments, and this header is in the
// umbrella.)
//
// Training (`training == true`): channel c is normalised with the mean and the biased variance of
// its B*H*W values in this call, y = gamma[c] * (x - mean) / sqrt(var + eps) + beta[c], and the
// running statistics move towards the batch's: running = (1 - momentum) * running + momentum * batch,
// with the unbiased variance (var * n / (n - 1)) for running_var, as PyTorch. With n = 1 (1x1 images
// and one sample on a device), where PyTorch refuses, the biased variance (0) is used instead.
// Evaluation (`training == false`): the running statistics normalise; nothing is updated.
//
// Data parallelism: `batchnorm2d` normalises each replica's share of the batch with that share's
// statistics, and each replica keeps its own running statistics, as PyTorch DDP without
// SyncBatchNorm (and without DDP's buffer broadcast); predict and evaluate run on device 0 and use
// device 0's running statistics. `sync_batchnorm2d` (batch_statistics::synchronised) sums the
// per-channel sums across the replicas (the layer's `replica_sum`) before normalising, in forward
// and in backward, so every replica normalises with the statistics of the whole global batch, its
// running statistics stay identical on every replica, and training under replicate<N> equals
// training on one device, as torch.nn.SyncBatchNorm. It costs one small exchange of 2C + 1 doubles
// in forward and 4C + 1 in backward (2C + 1 when no dx is asked for), on the compute thread; run in
// two parts (splits_backward), the input part exchanges 4C + 1 and the weight part 2C + 1 again.
// Its statistics are one pass of sums (sum x, sum x^2, in double) rather than two, since the second
// pass would need a second exchange.
// With one replica (one device, or a pipeline's micro-batches) it normalises like batchnorm2d.
//
// Memory: nothing saved (saved_count = 0) and no scratch in the state (state_count = 2C, the running
// statistics only). Backward recomputes the batch's mean and 1/sqrt(var + eps) from its input x,
// which the runtime keeps for every micro-batch in flight, with the same code as forward (so the
// same bits), then x_hat from them. This costs more reads of x than keeping the statistics, and
// keeps backward right whatever forwards ran in between: a pipeline schedule runs several
// micro-batches' forwards before their backwards, and the layer's state is shared by all of them.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <ratio>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/shape.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"

namespace plait {

/// Whose statistics batchnorm normalises with under data parallelism.
enum class batch_statistics {
  per_replica,   // each replica's share of the batch (PyTorch BatchNorm2d under DDP)
  synchronised,  // the whole global batch, summed across replicas (PyTorch SyncBatchNorm)
};

/// Momentum (a std::ratio): weight of the batch's statistics in the running ones, in (0, 1].
/// Eps (a std::ratio): added to the variance before the square root, > 0.
/// Stats: batch_statistics::per_replica or ::synchronised.
template <class Momentum = std::ratio<1, 10>, class Eps = std::ratio<1, 100000>,
          batch_statistics Stats = batch_statistics::per_replica>
struct batchnorm2d_t {
  static_assert(std::ratio_greater_v<Momentum, std::ratio<0>> && std::ratio_less_equal_v<Momentum, std::ratio<1>>,
                "plait: batchnorm2d_t is given a momentum outside (0, 1]. The momentum is the weight of "
                "each batch's statistics in the running ones. Fix: give a momentum in (0, 1], e.g. std::ratio<1, 10>.");
  static_assert(std::ratio_greater_v<Eps, std::ratio<0>>,
                "plait: batchnorm2d_t is given an eps that is not positive. eps keeps 1/sqrt(var + eps) "
                "finite for a constant channel. Fix: give an eps > 0, e.g. std::ratio<1, 100000>.");
  static constexpr bool is_layer = true;
  static constexpr double momentum = double(Momentum::num) / double(Momentum::den);
  static constexpr double eps = double(Eps::num) / double(Eps::den);
  static constexpr bool synchronised = Stats == batch_statistics::synchronised;

  template <Shape In>
  struct bound {
    static_assert(has_rank<In, 3>::value,
                  "plait: batchnorm2d is given an input of rank other than 3. batchnorm2d normalises each "
                  "channel of [C, H, W] images over the batch and the pixels. Fix: give it [C, H, W] "
                  "samples (input<C, H, W>, a conv2d), or use layernorm for a vector of features.");
    // Guarded so that a wrong rank gives the message above and nothing else.
    static constexpr std::size_t channels = In::rank == 3 ? In::dims[0] : 1;
    static constexpr std::size_t pixels = In::rank == 3 ? In::dims[1] * In::dims[2] : In::size;

    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 2 * channels;  // gamma [C], beta [C]
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t state_count = 2 * channels;  // running_mean [C], running_var [C]
    // Synchronised: forward sums [sum x (C), sum x^2 (C), n], backward also [sum dy (C), sum dy*x (C)].
    static constexpr std::size_t replica_sum_count = synchronised ? 4 * channels + 1 : 0;
    static constexpr std::size_t flops = 6 * In::size;  // statistics (4), scale and shift (2)
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = true;    // dx of an element reads dy of that element only
    static constexpr bool splits_backward = true;  // dparams or dx may be null: either part alone
    static constexpr bool pc_trainable = false;    // statistics over the batch: predictive coding refuses it

    template <class T, class Rng>
    static void init(T* params, Rng&) {
      for (std::size_t c = 0; c < channels; ++c) {
        params[c] = T{1};             // gamma
        params[channels + c] = T{0};  // beta
      }
    }

    template <class T>
    static void init_state(T* state) {
      for (std::size_t c = 0; c < channels; ++c) {
        state[c] = T{0};             // running_mean
        state[channels + c] = T{1};  // running_var
      }
    }

    /// sum over the batch of f(b, i) for the pixels i of channel c, in double, in 8 running sums
    /// so that the compiler vectorises it (a single sum is one long chain of dependent adds).
    template <class F>
    PLAIT_HD static double channel_sum(std::size_t batch, F f) {
      constexpr std::size_t HW = pixels, L = 8;
      double lanes[L] = {};
      for (std::size_t b = 0; b < batch; ++b) {
        std::size_t i = 0;
        for (; i + L <= HW; i += L)
          for (std::size_t j = 0; j < L; ++j) lanes[j] += f(b, i + j);
        for (; i < HW; ++i) lanes[i % L] += f(b, i);
      }
      double s = 0;
      for (double v : lanes) s += v;
      return s;
    }

    /// Mean and 1/sqrt(var + eps) of channel c over the batch and the pixels (biased variance), in
    /// two passes over x. Forward and backward both call this, so backward sees bitwise the
    /// statistics forward normalised with. Returns the mean in double.
    template <class T>
    PLAIT_HD static double channel_stats(const T* x, std::size_t batch, std::size_t c, T& mean, T& inv_std,
                                         double& var) {
      constexpr std::size_t C = channels, HW = pixels;
      const double n = double(batch * HW);
      const double m =
          channel_sum(batch, [=](std::size_t b, std::size_t i) { return double(x[(b * C + c) * HW + i]); }) / n;
      // The second pass: no cancellation for channels with a large mean.
      const double ss = channel_sum(batch, [=](std::size_t b, std::size_t i) {
        const double d = double(x[(b * C + c) * HW + i]) - m;
        return d * d;
      });
      var = ss / n;
      mean = T(m);
      inv_std = T(1.0 / std::sqrt(var + eps));
      return m;
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      if constexpr (synchronised)
        if (a.training) return forward_synchronised(ctx, a);
      constexpr std::size_t C = channels, HW = pixels;
      const std::size_t batch = a.batch;
      const T* x = a.x;              // [B, C, H*W]
      T* running_mean = a.state;     // [C]
      T* running_var = a.state + C;  // [C]
      const bool training = a.training;
      // One iteration per channel: every sum and every write of channel c stays in iteration c.
      for_rows(ctx, C, [=] PLAIT_HD(std::size_t c) {
        T mean, inv_std;
        if (training) {
          double var;
          channel_stats(x, batch, c, mean, inv_std, var);
          update_running(running_mean[c], running_var[c], double(mean), var, double(batch * HW));
        } else {
          mean = running_mean[c];
          inv_std = T(1.0 / std::sqrt(double(running_var[c]) + eps));
        }
        normalise(a, c, mean, inv_std);
      });
    }

    /// running = (1 - momentum) * running + momentum * batch, with the unbiased variance (n > 1).
    template <class T>
    PLAIT_HD static void update_running(T& running_mean, T& running_var, double mean, double var, double n) {
      const double unbiased = n > 1 ? var * n / (n - 1) : var;
      const double m = momentum;
      running_mean = T((1 - m) * double(running_mean) + m * mean);
      running_var = T((1 - m) * double(running_var) + m * unbiased);
    }

    /// y = gamma * (x - mean) * inv_std + beta over channel c of every sample.
    template <class T>
    PLAIT_HD static void normalise(const forward_args<T>& a, std::size_t c, T mean, T inv_std) {
      constexpr std::size_t C = channels, HW = pixels;
      const T scale = a.params[c] * inv_std;           // gamma [C]
      const T shift = a.params[C + c] - mean * scale;  // beta [C]
      for (std::size_t b = 0; b < a.batch; ++b) {
        const T* PLAIT_RESTRICT xc = a.x + (b * C + c) * HW;
        T* PLAIT_RESTRICT yc = a.y + (b * C + c) * HW;
        for (std::size_t i = 0; i < HW; ++i) yc[i] = xc[i] * scale + shift;
      }
    }

    /// Synchronised statistics: this replica's sums, summed across replicas, give the global
    /// batch's mean and biased variance (in double). Forward and backward both call this on the
    /// same x, so backward normalises with bitwise the statistics forward used.
    template <class T>
    static void global_stats(const T* x, std::size_t batch, double* sums, const replica_sum& across) {
      constexpr std::size_t C = channels, HW = pixels;
      for (std::size_t c = 0; c < C; ++c) {
        sums[c] = channel_sum(batch, [=](std::size_t b, std::size_t i) { return double(x[(b * C + c) * HW + i]); });
        sums[C + c] = channel_sum(batch, [=](std::size_t b, std::size_t i) {
          const double v = double(x[(b * C + c) * HW + i]);
          return v * v;
        });
      }
      sums[2 * C] = double(batch * HW);
      across(sums, 2 * C + 1);  // [sum x (C), sum x^2 (C), n] @ every replica
    }
    static void mean_var(const double* sums, std::size_t c, double& mean, double& var) {
      constexpr std::size_t C = channels;
      const double n = sums[2 * C];
      mean = sums[c] / n;
      var = std::max(0.0, sums[C + c] / n - mean * mean);
    }

    template <class Ctx, class T>
    static void forward_synchronised(const Ctx& ctx, const forward_args<T>& a) {
      static_assert(copy_impl<typename Ctx::backend>::host_memory,
                    "plait: sync_batchnorm2d runs on host devices only. Its per-channel sums are read and exchanged "
                    "between replicas in host memory, and this backend keeps tensors in device memory. Fix: use "
                    "batchnorm2d on this backend, or train on host devices.");
      constexpr std::size_t C = channels;
      double sums[2 * C + 1];
      global_stats(a.x, a.batch, sums, a.replicas);
      T* running_mean = a.state;     // [C]
      T* running_var = a.state + C;  // [C]
      for_rows(ctx, C, [&](std::size_t c) {
        double mean, var;
        mean_var(sums, c, mean, var);
        update_running(running_mean[c], running_var[c], mean, var, sums[2 * C]);
        normalise(a, c, T(mean), T(1.0 / std::sqrt(var + eps)));
      });
    }

    /// Training-mode backward, with x_hat = (x - mean) * inv_std and n = B*H*W:
    ///   dbeta = sum dy,  dgamma = sum dy * x_hat,
    ///   dx = gamma * inv_std * (dy - dbeta / n - x_hat * dgamma / n).
    /// Either part alone (splits_backward): the input part (dparams null) computes the same sums and
    /// writes dx only; the weight part (dx null) writes dgamma and dbeta only.
    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      if constexpr (synchronised) return backward_synchronised(ctx, a);
      constexpr std::size_t C = channels, HW = pixels;
      const std::size_t batch = a.batch;
      const T* x = a.x;                                // [B, C, H*W]
      const T* dy = a.dy;                              // [B, C, H*W]
      T* dx = a.dx;                                    // [B, C, H*W], may be dy, or null
      const T* gamma = a.params;                       // [C]
      T* dgamma = a.dparams;                           // [C], or null (the input part alone)
      T* dbeta = a.dparams ? a.dparams + C : nullptr;  // [C], or null
      const bool acc = a.accumulate;
      for_rows(ctx, C, [=] PLAIT_HD(std::size_t c) {
        T mean, inv_std;
        double var;
        const double m = channel_stats(x, batch, c, mean, inv_std, var);
        const double sum_dy =
            channel_sum(batch, [=](std::size_t b, std::size_t i) { return double(dy[(b * C + c) * HW + i]); });
        const double sum_dy_centred = channel_sum(batch, [=](std::size_t b, std::size_t i) {
          const std::size_t at = (b * C + c) * HW + i;
          return double(dy[at]) * (double(x[at]) - m);
        });
        const double sum_dy_xhat = sum_dy_centred * double(inv_std);
        if (dgamma) {
          dbeta[c] = acc ? dbeta[c] + T(sum_dy) : T(sum_dy);
          dgamma[c] = acc ? dgamma[c] + T(sum_dy_xhat) : T(sum_dy_xhat);
        }
        if (!dx) return;
        const double n = double(batch * HW);
        const T k = gamma[c] * inv_std;
        const T mean_dy = T(sum_dy / n), mean_dy_xhat = T(sum_dy_xhat / n);
        for (std::size_t b = 0; b < batch; ++b) {
          const T* PLAIT_RESTRICT xc = x + (b * C + c) * HW;
          const T* dyc = dy + (b * C + c) * HW;  // no restrict: dxc may be dyc
          T* dxc = dx + (b * C + c) * HW;
          for (std::size_t i = 0; i < HW; ++i)
            dxc[i] = k * (dyc[i] - mean_dy - (xc[i] - mean) * inv_std * mean_dy_xhat);
        }
      });
    }

    /// Synchronised backward: dgamma and dbeta are this replica's sums (the gradient all-reduce
    /// adds the replicas'); dx uses the global batch's means of dy and dy * x_hat. Both parts need
    /// the global statistics of x (the first exchange); only dx needs the global sums of dy (the
    /// second), so the weight part alone (dx null) skips it. dx is null on every replica or on
    /// none (the same layer of the same program), so the replicas make the same exchanges.
    template <class Ctx, class T>
    static void backward_synchronised(const Ctx& ctx, const backward_args<T>& a) {
      static_assert(copy_impl<typename Ctx::backend>::host_memory,
                    "plait: sync_batchnorm2d runs on host devices only. Its per-channel sums are read and exchanged "
                    "between replicas in host memory, and this backend keeps tensors in device memory. Fix: use "
                    "batchnorm2d on this backend, or train on host devices.");
      constexpr std::size_t C = channels, HW = pixels;
      const std::size_t batch = a.batch;
      const T* x = a.x;        // [B, C, H*W]
      const T* dy = a.dy;      // [B, C, H*W]
      double sums[4 * C + 1];  // [sum x, sum x^2, n | sum dy, sum dy*x], the last two local
      global_stats(x, batch, sums, a.replicas);
      double* local = sums + 2 * C + 1;
      for (std::size_t c = 0; c < C; ++c) {
        local[c] = channel_sum(batch, [=](std::size_t b, std::size_t i) { return double(dy[(b * C + c) * HW + i]); });
        local[C + c] = channel_sum(batch, [=](std::size_t b, std::size_t i) {
          const std::size_t at = (b * C + c) * HW + i;
          return double(dy[at]) * double(x[at]);
        });
      }
      T* dx = a.dx;  // [B, C, H*W], may be dy, or null
      double global[2 * C];
      if (dx) {
        for (std::size_t i = 0; i < 2 * C; ++i) global[i] = local[i];
        a.replicas(global, 2 * C);  // [sum dy (C), sum dy*x (C)] @ every replica
      }
      T* dgamma = a.dparams;                           // [C], or null (the input part alone)
      T* dbeta = a.dparams ? a.dparams + C : nullptr;  // [C], or null
      const bool acc = a.accumulate;
      const double n = sums[2 * C];
      for_rows(ctx, C, [&](std::size_t c) {
        double mean, var;
        mean_var(sums, c, mean, var);
        const double inv_std = 1.0 / std::sqrt(var + eps);
        // sum dy * x_hat = (sum dy*x - mean * sum dy) * inv_std, locally and globally
        if (dgamma) {
          const double local_dy_xhat = (local[C + c] - mean * local[c]) * inv_std;
          dbeta[c] = acc ? dbeta[c] + T(local[c]) : T(local[c]);
          dgamma[c] = acc ? dgamma[c] + T(local_dy_xhat) : T(local_dy_xhat);
        }
        if (!dx) return;
        const double mean_dy = global[c] / n, mean_dy_xhat = (global[C + c] - mean * global[c]) * inv_std / n;
        const T k = T(double(a.params[c]) * inv_std), m_dy = T(mean_dy), m_dy_xhat = T(mean_dy_xhat);
        const T mu = T(mean), is = T(inv_std);
        for (std::size_t b = 0; b < batch; ++b) {
          const T* PLAIT_RESTRICT xc = x + (b * C + c) * HW;
          const T* dyc = dy + (b * C + c) * HW;  // no restrict: dxc may be dyc
          T* dxc = dx + (b * C + c) * HW;
          for (std::size_t i = 0; i < HW; ++i) dxc[i] = k * (dyc[i] - m_dy - (xc[i] - mu) * is * m_dy_xhat);
        }
      });
    }
  };
};

inline constexpr batchnorm2d_t<> batchnorm2d{};
/// batchnorm2d whose statistics are those of the whole global batch under replicate<N>.
inline constexpr batchnorm2d_t<std::ratio<1, 10>, std::ratio<1, 100000>, batch_statistics::synchronised>
    sync_batchnorm2d{};

}  // namespace plait
