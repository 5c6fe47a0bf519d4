#pragma once
// lstm<Hidden>: one LSTM layer over a sequence, PyTorch's cell, zero initial state.
//   x [B, T, I] -> y [B, T, H]: the hidden state h_t at every step (sequence in, sequence out).
//   gates_t = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh, split (i, f, g, o) as PyTorch;
//   c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g),   h_t = sigmoid(o) * tanh(c_t).
// Parameters, in PyTorch's order: W_ih [4H, I], W_hh [4H, H], b_ih [4H], b_hh [4H].
//
// Forward is one GEMM for x W_ih^T over all B*T rows, then per step one GEMM for h_{t-1} W_hh^T
// and one fused element-wise pass over the batch. Backward is backpropagation through time:
// per step (last first) one element-wise pass and two GEMMs (dh_{t-1}, dW_hh), then one GEMM for
// dW_ih and one for dx over all steps.
//
// The saved buffer (batch * saved_count floats) is laid out by region, not by sample, so that
// every step is a strided matrix over the batch (row stride T*4H or T*H) that GEMM reads in place:
//   gates  [B, T, 4H]  gates after their activations (i, f, g, o)        written by forward
//   c      [B, T, H]   cell states                                       written by forward
//   dgates [B, T, 4H]  gradients of the gates before their activations  workspace of backward (in
//                      `kept` instead when a split backward keeps them for its weight part)
//   dc     [B, H]      dL/dc carried from step t+1 to step t             workspace of backward
// backward writes only its workspace, so it may run again after one forward (micro-batches).
// It also uses dy as the running dL/dh: the recurrent term dh_{t-1} += dgates_t W_hh is added
// into dy's step t-1 in place (backward_args allows dy to be overwritten).

#include <cmath>
#include <cstddef>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/random.hpp"
#include "../core/shape.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/gemm.hpp"
#include "activation_fn.hpp"

namespace plait {

template <std::size_t Hidden>
struct lstm_t {
  static_assert(Hidden > 0,
                "plait: lstm<0> has no hidden units. An LSTM keeps a state of at least one feature. Fix: give "
                "lstm<H> an H >= 1.");
  static constexpr bool is_layer = true;
  static constexpr std::size_t hidden = Hidden;

  template <Shape In>
  struct bound {
    static_assert(has_rank<In, 2>::value,
                  "plait: lstm<H> is given an input of rank other than 2. An LSTM reads a sequence of T steps "
                  "of I features per sample, shape<T, I>. Fix: give it input<T, I>, e.g. put "
                  "`embedding<Vocab, Dim>` before it for token ids.");
    static constexpr std::size_t steps = In::dims[0];                   // T
    static constexpr std::size_t in_features = In::dims[In::rank - 1];  // I
    static constexpr std::size_t H = Hidden, G = 4 * Hidden;
    using in_shape = In;
    using out_shape = shape<steps, Hidden>;

    static constexpr std::size_t w_ih = 0, w_hh = G * in_features, b_ih = w_hh + G * H, b_hh = b_ih + G;
    static constexpr std::size_t param_count = b_hh + G;
    static constexpr std::size_t saved_count = steps * (G + H + G) + H;
    // Split backward (zero-bubble schedules): the input part keeps dgates [T, 4H] per sample for the
    // weight part. Predictive coding does not train an LSTM (its value nodes would be whole sequences).
    static constexpr bool splits_backward = true;
    static constexpr std::size_t split_kept_count = steps * G;
    static constexpr bool pc_trainable = false;
    // Per step: two products (8H(I+H)), biases, five activations, the cell update.
    static constexpr std::size_t flops =
        steps * (2 * G * (in_features + H) + 2 * G + (4 + 1) * H * sigmoid_fn::flops + 4 * H);
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;

    /// PyTorch's default: every weight and bias uniform in +-1/sqrt(H).
    template <class T, class Rng>
    static void init(T* params, Rng& rng) {
      const float bound = 1.0f / std::sqrt(static_cast<float>(H));
      for (std::size_t i = 0; i < param_count; ++i) params[i] = static_cast<T>(rng.uniform(-bound, bound));
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      constexpr std::size_t Ts = steps, I = in_features;
      const std::size_t batch = a.batch;
      const T* wih = a.params + w_ih;   // [4H, I]
      const T* whh = a.params + w_hh;   // [4H, H]
      const T* bih = a.params + b_ih;   // [4H]
      const T* bhh = a.params + b_hh;   // [4H]
      T* y = a.y;                       // [B, T, H]: h_t
      T* gates = a.saved;               // [B, T, 4H] @ saved: pre-activations, then activations
      T* c = a.saved + batch * Ts * G;  // [B, T, H] @ saved
      // [B*T, 4H] = [B*T, I] x [I, 4H]: the input's share of every gate, all steps at once.
      gemm(ctx, transpose::no, transpose::yes, batch * Ts, G, I, T{1}, a.x, I, wih, I, T{0}, gates, G);
      for (std::size_t t = 0; t < Ts; ++t) {
        // gates_t [B, 4H] (row stride T*4H) += h_{t-1} [B, H] (row stride T*H) x W_hh^T; h_{-1} = 0.
        if (t > 0)
          gemm(ctx, transpose::no, transpose::yes, batch, G, H, T{1}, y + (t - 1) * H, Ts * H, whh, H, T{1},
               gates + t * G, Ts * G);
        for_rows(ctx, batch, [=] PLAIT_HD(std::size_t b) {
          T* PLAIT_RESTRICT g = gates + (b * Ts + t) * G;    // [4H]
          T* PLAIT_RESTRICT ct = c + (b * Ts + t) * H;       // [H]
          const T* PLAIT_RESTRICT cp = t > 0 ? ct - H : ct;  // [H]: c_{t-1}, read only when t > 0
          T* PLAIT_RESTRICT h = y + (b * Ts + t) * H;        // [H]
          for (std::size_t j = 0; j < H; ++j) {
            const T i = sigmoid_fn::apply(g[j] + bih[j] + bhh[j]);
            const T f = sigmoid_fn::apply(g[H + j] + bih[H + j] + bhh[H + j]);
            const T u = tanh_fn::apply(g[2 * H + j] + bih[2 * H + j] + bhh[2 * H + j]);
            const T o = sigmoid_fn::apply(g[3 * H + j] + bih[3 * H + j] + bhh[3 * H + j]);
            g[j] = i, g[H + j] = f, g[2 * H + j] = u, g[3 * H + j] = o;
            ct[j] = (t > 0 ? f * cp[j] : T{0}) + i * u;
            h[j] = o * tanh_fn::apply(ct[j]);
          }
        });
      }
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      constexpr std::size_t Ts = steps, I = in_features;
      const std::size_t batch = a.batch;
      const bool acc = a.accumulate;
      // The parts (core/concepts.hpp): the input part (dparams null) runs the recurrence for dgates, dh
      // and dx, and keeps dgates in `kept` when given; the weight part from kept (dx null) reads them
      // there instead of running the recurrence again; the whole backward does both.
      const bool weights = a.dparams != nullptr, from_kept = weights && a.kept && !a.dx;
      const T* wih = a.params + w_ih;                  // [4H, I]
      const T* whh = a.params + w_hh;                  // [4H, H]
      T* dwhh = weights ? a.dparams + w_hh : nullptr;  // [4H, H]
      const T* y = a.y;                                // [B, T, H]: h_t
      T* dh = a.dy;                                    // [B, T, H]: dL/dh_t, the recurrent term added in place
      const T* gates = a.saved;                        // [B, T, 4H] @ saved
      const T* c = a.saved + batch * Ts * G;           // [B, T, H] @ saved
      // The workspace part of this layer's saved buffer (see the header comment): arena memory
      // planned for this layer, passed const because forward's part must not change.
      T* const workspace = const_cast<T*>(a.saved) + batch * Ts * (G + H);
      T* dgates = a.kept ? a.kept : workspace;  // [B, T, 4H] @ kept, or @ saved
      T* dc = workspace + batch * Ts * G;       // [B, H] @ saved
      if (from_kept) {
        // dW_hh [4H, H] (+)= sum over t >= 1 of dgates_t^T h_{t-1}, in the whole backward's order.
        for (std::size_t t = Ts; t-- > 1;)
          gemm(ctx, transpose::yes, transpose::no, G, H, batch, T{1}, dgates + t * G, Ts * G, y + (t - 1) * H, Ts * H,
               (acc || t + 1 < Ts) ? T{1} : T{0}, dwhh, H);
      }
      for (std::size_t t = Ts; !from_kept && t-- > 0;) {
        for_rows(ctx, batch, [=] PLAIT_HD(std::size_t b) {
          const T* PLAIT_RESTRICT g = gates + (b * Ts + t) * G;  // [4H]: i, f, g, o
          const T* PLAIT_RESTRICT ct = c + (b * Ts + t) * H;     // [H]
          const T* PLAIT_RESTRICT cp = t > 0 ? ct - H : ct;      // [H]: c_{t-1}, read only when t > 0
          const T* PLAIT_RESTRICT dht = dh + (b * Ts + t) * H;   // [H]
          T* PLAIT_RESTRICT dg = dgates + (b * Ts + t) * G;      // [4H]
          T* PLAIT_RESTRICT dcb = dc + b * H;                    // [H]: dL/dc_t in, dL/dc_{t-1} out
          for (std::size_t j = 0; j < H; ++j) {
            const T i = g[j], f = g[H + j], u = g[2 * H + j], o = g[3 * H + j];
            const T tc = tanh_fn::apply(ct[j]);
            const T dct = (t + 1 < Ts ? dcb[j] : T{0}) + dht[j] * o * tanh_fn::grad(tc);
            dg[j] = dct * u * sigmoid_fn::grad(i);
            dg[H + j] = t > 0 ? dct * cp[j] * sigmoid_fn::grad(f) : T{0};
            dg[2 * H + j] = dct * i * tanh_fn::grad(u);
            dg[3 * H + j] = dht[j] * tc * sigmoid_fn::grad(o);
            dcb[j] = dct * f;
          }
        });
        if (t == 0) break;
        // dh_{t-1} [B, H] (row stride T*H) += dgates_t [B, 4H] (row stride T*4H) x W_hh [4H, H].
        gemm(ctx, transpose::no, transpose::no, batch, H, G, T{1}, dgates + t * G, Ts * G, whh, H, T{1},
             dh + (t - 1) * H, Ts * H);
        // dW_hh [4H, H] (+)= dgates_t^T [4H, B] x h_{t-1} [B, H]; the first step overwrites unless acc.
        if (weights)
          gemm(ctx, transpose::yes, transpose::no, G, H, batch, T{1}, dgates + t * G, Ts * G, y + (t - 1) * H, Ts * H,
               (acc || t + 1 < Ts) ? T{1} : T{0}, dwhh, H);
      }
      if (weights) weight_rest(ctx, a, dgates);
      // dx [B*T, I] = dgates [B*T, 4H] x W_ih [4H, I].
      if (a.dx) gemm(ctx, transpose::no, transpose::no, batch * Ts, I, G, T{1}, dgates, G, wih, I, T{0}, a.dx, I);
    }

    // The bias gradients and dW_ih, from dgates; W_hh's zeros for a single step.
    template <class Ctx, class T>
    static void weight_rest(const Ctx& ctx, const backward_args<T>& a, const T* dgates) {
      constexpr std::size_t Ts = steps, I = in_features;
      const std::size_t batch = a.batch;
      const bool acc = a.accumulate;
      T* dwih = a.dparams + w_ih;  // [4H, I]
      T* dwhh = a.dparams + w_hh;  // [4H, H]
      T* dbih = a.dparams + b_ih;  // [4H]
      T* dbhh = a.dparams + b_hh;  // [4H]
      if (Ts == 1 && !acc)         // no step had an h_{t-1}: W_hh has no gradient
        for_blocks(ctx, G * H, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
          for (std::size_t k = b; k < e; ++k) dwhh[k] = T{0};
        });
      // db_ih = db_hh = the column sums of dgates [B*T, 4H]; columns split across tasks.
      const std::size_t rows = batch * Ts;
      constexpr std::size_t block = 128;
      for_blocks(ctx, G, block, [=] PLAIT_HD(std::size_t c0, std::size_t c1) {
        T s[block] = {};
        for (std::size_t r = 0; r < rows; ++r) {
          const T* PLAIT_RESTRICT d = dgates + r * G;
          for (std::size_t k = c0; k < c1; ++k) s[k - c0] += d[k];
        }
        for (std::size_t k = c0; k < c1; ++k) {
          dbih[k] = (acc ? dbih[k] : T{0}) + s[k - c0];
          dbhh[k] = (acc ? dbhh[k] : T{0}) + s[k - c0];
        }
      });
      // dW_ih [4H, I] (+)= dgates^T [4H, B*T] x x [B*T, I]: all steps in one product.
      gemm(ctx, transpose::yes, transpose::no, G, I, rows, T{1}, dgates, G, a.x, I, acc ? T{1} : T{0}, dwih, I);
    }
  };
};

/// `lstm<H>`: shape<T, I> -> shape<T, H>, the hidden state at every step.
template <std::size_t Hidden>
inline constexpr lstm_t<Hidden> lstm{};

}  // namespace plait
