#pragma once
// What one device computes in a predictive-coding step (docs/predictive_coding.md): the bodies of
// pc_start, pc_errors, pc_update and pc_weights (program/predictive_coding.hpp), on the layers the
// device owns.
//
// Per sample, layers f_1..f_L, value nodes x_0 (the input, clamped), x_1..x_{L-1} (free), x_L (the
// target, clamped): predictions mu_l = f_l(x_{l-1}), errors eps_l = mu_l - x_l, energy
//   F = sum_{l<L} 0.5 ||eps_l||^2 + loss(mu_L, y),   eps_L = dloss/dmu_L,
//   dF/dx_l = -eps_l + J_{l+1}^T eps_{l+1}            (J^T eps: layer l+1's backward, input part)
// and dF/dtheta_l = J_theta^T eps_l (layer l's backward, weight part), averaged over the batch.
// A value node x_l is layer l's output buffer (device_memory's activations); a view (flatten) has
// no node of its own: it reads and writes its input's.
//
// Memory beyond the plan (device_memory::extra, planned on the first step), per owned layer l that
// is not a view, [rows, out_l] each:
//   mu[l]   the prediction f_l(x_{l-1})        (the forward pass's output in the fixed-prediction form;
//           the layer that reads the data predicts the same all step: kept from the forward pass)
//   eps[l]  the error mu_l - x_l (the loss's gradient for the graph's last layer)
//   df[l]   dF/dx_l without the next device's term, which arrives in recv_grad
//   v[l]    the value node's momentum
// and scratch [rows, max width] (the error scaled for the weight part), energy [rows].
// The input-gradient term of the device's first layer goes to input_grad (sent to the stage
// before); the next stage's term for the device's last node comes in recv_grad.

#include <array>
#include <cstddef>
#include <span>

#include "../backend/arena.hpp"
#include "../core/concepts.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"
#include "../kernels/reduce.hpp"
#include "../policy/policy.hpp"
#include "../program/predictive_coding.hpp"

namespace plait {

/// What a device measures of the energy in a predictive-coding step (pc_device::run).
struct pc_energy {
  double* record = nullptr;  // its energy sums, one per computation of the errors (null: not asked for)
  double last = 0;           // its energy sum at the state the weights came from
  double first = 0;          // its energy sum at the forward state (standard form)
};

/// The settings of a predictive-coding step (model::pc_step).
struct pc_options {
  std::size_t iterations = 8;  // T: inference iterations per step
  float rate = 0.1f;           // the value nodes' inference rate
  float momentum = 0.0f;       // the value nodes' momentum, in [0, 1)
  pc_variant variant = pc_variant::standard;
  /// Optional: the mean energy each time the errors are computed, T + 1 values (standard and
  /// fixed-prediction: before every iteration and after the last), T for incremental. Asking for
  /// them costs a sum over the errors in every iteration and a small buffer per step.
  std::span<double> energies{};
};

namespace pc_detail {
// The element-wise passes of pc_device, as free functions (nvcc takes a kernel body only inside a
// named function that is not a generic lambda or a private member).
// Over n rows of `width`: eps = mu - x when `compute` (else eps is read); df = (fed ? df : 0) - eps where df
// is given; dup = eps where dup is given (the copy a layer's backward rewrites in place: one pass
// instead of two); energy[r] += 0.5 |eps_r|^2 when `measure` (a separate pass by rows: a running sum
// in the first would chain every element's add, and most calls do not measure). The first pass runs
// over the whole [n, width] block: rows of a narrow layer are too short to split work by.
template <class Ctx>
void error_rows(const Ctx& ctx, std::size_t n, std::size_t width, float* eps, const float* mu, const float* x,
                float* df, float* dup, float* energy, bool fed, bool compute, bool measure) {
  if (compute || df || dup)
    for_blocks(ctx, n * width, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
      for (std::size_t k = b; k < e; ++k) {
        const float v = compute ? mu[k] - x[k] : eps[k];
        if (compute) eps[k] = v;
        if (df) df[k] = (fed ? df[k] : 0.0f) - v;
        if (dup) dup[k] = v;
      }
    });
  if (measure)
    for_rows(ctx, n, [=] PLAIT_HD(std::size_t r) {
      const float* PLAIT_RESTRICT er = eps + r * width;
      float s = 0;
      for (std::size_t k = 0; k < width; ++k) s += er[k] * er[k];
      energy[r] += 0.5f * s;
    });
}
// d = df (+ g); v = momentum v + d (when momentum); target += sign rate (v or d).
template <class Ctx>
void step_values(const Ctx& ctx, std::size_t count, float* target, const float* df, const float* g, float* v,
                 float rate, float momentum, float sign) {
  for_blocks(ctx, count, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
    for (std::size_t k = b; k < e; ++k) {
      const float d = g ? df[k] + g[k] : df[k];
      const float step = momentum != 0.0f ? (v[k] = momentum * v[k] + d) : d;
      target[k] += sign * rate * step;
    }
  });
}
// out = in * scale.
template <class Ctx>
void scaled(const Ctx& ctx, float* out, const float* in, std::size_t count, float scale) {
  for_blocks(ctx, count, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
    for (std::size_t k = b; k < e; ++k) out[k] = in[k] * scale;
  });
}
}  // namespace pc_detail

/// One device's predictive-coding work, over its memory `Memory` (device_memory<G, Backend>).
/// Built for each step (nothing allocated after the first).
template <class Memory>
class pc_device {
 public:
  using layout = typename Memory::layout;
  static constexpr std::size_t layer_count = layout::layer_count;
  static constexpr std::size_t last_layer = layer_count - 1;
  static constexpr int input_node = -1;  // the device's input: the stage before's last node (or the data)

  explicit pc_device(Memory& m) : mem_(m) {
    const stage_range r = m.owned();
    const std::size_t rows = m.rows();
    arena_plan a;
    std::array<std::array<std::size_t, 4>, layer_count> at{};
    for (std::size_t i = r.first; i < r.last; ++i) {
      node_[i] = layout::is_view[i] ? (i == 0 || i == r.first ? input_node : node_[i - 1]) : int(i);
      if (layout::is_view[i]) continue;
      for (auto& o : at[i]) o = a.reserve<float>(rows * layout::out_sizes[i]);
      const int before = i == 0 || i == r.first ? input_node : node_[i - 1];
      if (before != input_node) fed_[std::size_t(before)] = true;
    }
    const std::size_t scratch = a.reserve<float>(rows * layout::max_width);
    const std::size_t energy = a.reserve<float>(rows);
    auto& arena = m.extra(a.bytes());
    for (std::size_t i = r.first; i < r.last; ++i) {
      if (layout::is_view[i]) continue;
      mu_[i] = arena.template at<float>(at[i][0]);
      eps_[i] = arena.template at<float>(at[i][1]);
      df_[i] = arena.template at<float>(at[i][2]);
      v_[i] = arena.template at<float>(at[i][3]);
    }
    scratch_ = arena.template at<float>(scratch);
    energy_ = arena.template at<float>(energy);
    // The node the next stage's term lands on: the device's last layer's (none on the last stage).
    recv_node_ = r.last == layer_count ? input_node : node_[r.last - 1];
  }

  /// Instruction `i` (pc_start, pc_errors, pc_update or pc_weights) of iteration `iteration` on n
  /// rows: adds each energy it measures to e.record[its index] (when record is given), leaves the
  /// energy the weights come from in e.last and, in the standard form, the forward state's energy
  /// in e.first (the loss alone: cheap), which pc_step compares with e.last.
  template <class L, class Y>
  void run(const instruction& i, const pc_options& o, std::size_t n, Y y, float total, std::size_t iteration,
           pc_energy& e) {
    double* record = e.record;
    if (i.op == opcode::pc_start) {
      start<L>(o, n, y, false);
    } else if (i.op == opcode::pc_errors) {
      const bool final = o.variant == pc_variant::incremental && iteration + 1 == o.iterations;
      const bool forward_state = iteration == 0 && o.variant == pc_variant::standard;
      const double sum = errors<L>(o, n, y, i.buffer == 1, total, record || final || forward_state, iteration == 0);
      if (record) record[iteration] += sum;
      if (final) e.last = sum;
      if (forward_state) e.first = sum;
    } else if (i.op == opcode::pc_update) {
      update(o, n);
    } else {
      e.last = weights<L>(o, n, y, total, true);
      if (record) record[o.iterations] += e.last;
    }
  }

  /// After the forward pass (x_l = mu_l): momenta zeroed; the fixed-prediction form's errors set
  /// (0, and the loss's gradient for the last layer). Returns the energy's sum over the n rows
  /// when `measure` (the forward state's: the loss alone).
  template <class L, class Y>
  double start(const pc_options& o, std::size_t n, Y y, bool measure) {
    const auto& ctx = mem_.ctx();
    for_owned([&](std::size_t i) {
      fill(ctx, v_[i], n * layout::out_sizes[i], 0.0f);
      // A layer fed by the data predicts the same in every iteration (its input is clamped, its
      // weights fixed until the update): its prediction is the forward pass's, kept.
      if (data_fed(i) && o.variant == pc_variant::standard)
        copy(ctx, mu_[i], static_cast<const float*>(mem_.layer_output(0, i)), n * layout::out_sizes[i]);
    });
    if (o.variant != pc_variant::fixed_prediction) return 0;
    for_owned([&](std::size_t i) {
      if (i != last_layer) fill(ctx, eps_[i], n * layout::out_sizes[i], 0.0f);
    });
    if (!owns_last()) return 0;
    L::template rows<typename layout::output_shape>(ctx, mem_.layer_output(0, last_layer), y, eps_[last_layer],
                                                    mem_.loss_rows(), 1.0f);
    return measure ? double(sum(ctx, mem_.loss_rows(), n)) : 0.0;
  }

  /// Every owned layer's error and input-gradient term, last layer first; with `weights`, its
  /// weight gradient too (incremental PC), normalised by `total`. `at_forward`: the value nodes are
  /// still the forward pass's outputs (the first iteration), so every prediction equals its node:
  /// the hidden errors are 0 and only the last layer's term is computed (the same values as
  /// recomputing, without the work). Returns the energy's sum over the n rows when `measure`.
  template <class L, class Y>
  double errors(const pc_options& o, std::size_t n, Y y, bool weights, float total, bool measure, bool at_forward) {
    const auto& ctx = mem_.ctx();
    const bool fixed = o.variant == pc_variant::fixed_prediction;
    const bool shortcut = at_forward && !fixed && !weights;
    if (measure) fill(ctx, energy_, n, 0.0f);
    static_for<layer_count>([&]<std::size_t J>() {
      constexpr std::size_t I = layer_count - 1 - J;
      using B = typename layout::template layer<I>;
      if constexpr (!B::is_view) {
        if (I < mem_.owned().first || I >= mem_.owned().last) return;
        constexpr std::size_t width = B::out_shape::size;
        float* eps = eps_[I];
        const float* y_at = fixed || shortcut ? mem_.layer_output(0, I) : mu_[I];  // the prediction
        const bool kept = data_fed(I) && o.variant == pc_variant::standard;  // its prediction is the forward pass's
        if (!fixed && !shortcut && !kept) forward<B, I>(n, mu_[I]);
        if (I == last_layer && !fixed) {
          L::template rows<typename layout::output_shape>(ctx, y_at, y, eps, mem_.loss_rows(), 1.0f);
          if (measure) add_to(ctx, energy_, mem_.loss_rows(), n);
        } else if (I == last_layer && measure) {
          add_to(ctx, energy_, mem_.loss_rows(), n);  // the fixed form's loss term, from pc_start
        }
        if (I != last_layer && shortcut) {  // eps = 0: df = (fed ? df : 0), and no term for the layer below
          if (!fed_[I]) fill(ctx, df_[I], n * width, 0.0f);
          if (float* dx = input_term(I)) fill(ctx, dx, n * B::in_shape::size, 0.0f);
          return;
        }
        float* dx = input_term(I);
        // The backward's output gradient: the error itself, or a copy where the error is kept (fixed) or the
        // backward rewrites it in place; the copy is written by the error's own pass where there is one (not
        // into scratch when the weight part, which uses scratch, runs in between).
        float* dy = eps;
        if (dx && (fixed || B::in_place_grad)) dy = B::in_place_grad ? dx : scratch_;
        const bool dup = dy != eps && I != last_layer && !(weights && dy == scratch_);
        if (I != last_layer)  // eps = mu - x (or kept), df = (fed ? df : 0) - eps, energy += 0.5 |eps|^2
          pc_detail::error_rows(ctx, n, width, eps, y_at, mem_.layer_output(0, I), df_[I], dup ? dy : nullptr, energy_,
                                fed_[I], !fixed, measure);
        if (weights) weight_part<B, I>(n, eps, y_at, total);
        if (!dx) return;
        if (dy != eps && !dup) copy(ctx, dy, static_cast<const float*>(eps), n * width);
        B::backward(ctx,
                    backward_args<float>{mem_.layer_params(I), mem_.layer_input(0, I), y_at, mem_.layer_saved(0, I), dy,
                                         dx, nullptr, n, false, mem_.state() + layout::state_offsets[I]});
      }
    });
    return measure ? double(sum(ctx, energy_, n)) : 0.0;
  }

  /// One inference step on every free node: v = momentum v + dF/dx; x -= rate v (the
  /// fixed-prediction form moves its errors instead: eps += rate v, with dF/dx = g - eps).
  void update(const pc_options& o, std::size_t n) {
    const auto& ctx = mem_.ctx();
    const float rate = o.rate, momentum = o.momentum;
    const bool fixed = o.variant == pc_variant::fixed_prediction;
    for_owned([&](std::size_t i) {
      if (i == last_layer) return;
      const std::size_t count = n * layout::out_sizes[i];
      float* target = fixed ? eps_[i] : mem_.layer_output(0, i);
      const float* df = df_[i];
      const float* g = int(i) == recv_node_ ? mem_.recv_grad() : nullptr;
      float* v = v_[i];
      const float sign = fixed ? 1.0f : -1.0f;
      pc_detail::step_values(ctx, count, target, df, g, v, rate, momentum, sign);
    });
  }

  /// Every owned layer's weight gradient from its error at the final state (recomputed from the
  /// value nodes; kept in the fixed-prediction form), normalised by `total`. Returns the
  /// energy's sum over the n rows when `measure`.
  template <class L, class Y>
  double weights(const pc_options& o, std::size_t n, Y y, float total, bool measure) {
    const auto& ctx = mem_.ctx();
    const bool fixed = o.variant == pc_variant::fixed_prediction;
    if (measure) fill(ctx, energy_, n, 0.0f);
    for_owned_layers([&]<class B, std::size_t I>() {
      constexpr std::size_t width = B::out_shape::size;
      float* eps = eps_[I];
      if (!fixed) {
        if (!data_fed(I)) forward<B, I>(n, mu_[I]);  // a data-fed layer's prediction is kept (start)
        if (I == last_layer) {
          L::template rows<typename layout::output_shape>(ctx, mu_[I], y, eps, mem_.loss_rows(), 1.0f);
          if (measure) add_to(ctx, energy_, mem_.loss_rows(), n);
        } else {
          pc_detail::error_rows(ctx, n, width, eps, mu_[I], mem_.layer_output(0, I), nullptr, nullptr, energy_, false,
                                true, measure);
        }
      } else if (measure) {
        if (I == last_layer) {
          add_to(ctx, energy_, mem_.loss_rows(), n);
        } else {
          pc_detail::error_rows(ctx, n, width, eps, nullptr, nullptr, nullptr, nullptr, energy_, false, false, true);
        }
      }
      weight_part<B, I>(n, eps, fixed ? mem_.layer_output(0, I) : mu_[I], total);
    });
    return measure ? double(sum(ctx, energy_, n)) : 0.0;
  }

 private:
  bool owns_last() const { return mem_.owned().last == layer_count; }
  // Whether layer i reads the data (through views only): on layer 0's device, no value node before it.
  bool data_fed(std::size_t i) const { return mem_.owned().first == 0 && (i == 0 || node_[i - 1] == input_node); }

  template <class F>
  void for_owned(F f) const {
    for (std::size_t i = mem_.owned().first; i < mem_.owned().last; ++i)
      if (!layout::is_view[i]) f(i);
  }
  template <class F>
  void for_owned_layers(F f) const {
    static_for<layer_count>([&]<std::size_t I>() {
      using B = typename layout::template layer<I>;
      if constexpr (!B::is_view)
        if (I >= mem_.owned().first && I < mem_.owned().last) f.template operator()<B, I>();
    });
  }

  // mu = f_I(x_{I-1}) for n rows; the layer's saved buffer holds what its backward reads.
  template <class B, std::size_t I>
  void forward(std::size_t n, float* mu) {
    B::forward(mem_.ctx(), forward_args<float>{mem_.layer_params(I), mem_.layer_input(0, I), mu, mem_.layer_saved(0, I),
                                               n, true, mem_.state() + layout::state_offsets[I]});
  }

  // Where layer I's input-gradient term goes: its input node's df, the stage before's (input_grad),
  // or nowhere (the data).
  float* input_term(std::size_t i) const {
    const int before = i == 0 || i == mem_.owned().first ? input_node : node_[i - 1];
    if (before != input_node) return df_[std::size_t(before)];
    return mem_.owned().first > 0 ? mem_.input_grad(0) : nullptr;
  }

  // dtheta_I = J_theta^T (eps / total), with the layer's Jacobian at input x_{I-1}, output `y` and
  // its saved buffer; eps is read, not overwritten (the weight part scales a copy).
  template <class B, std::size_t I>
  void weight_part(std::size_t n, const float* eps, const float* y, float total) {
    if constexpr (B::param_count > 0) {
      const auto& ctx = mem_.ctx();
      float* dy = scratch_;
      pc_detail::scaled(ctx, dy, eps, n * B::out_shape::size, 1.0f / total);
      B::backward(ctx, backward_args<float>{mem_.layer_params(I), mem_.layer_input(0, I), y, mem_.layer_saved(0, I), dy,
                                            nullptr, mem_.grads() + layout::param_offsets[I] - mem_.param_lo(), n,
                                            false, mem_.state() + layout::state_offsets[I]});
    }
  }

  Memory& mem_;
  std::array<int, layer_count> node_{};
  std::array<bool, layer_count> fed_{};  // whether a later owned layer's input-gradient term lands on the node
  std::array<float*, layer_count> mu_{}, eps_{}, df_{}, v_{};
  float* scratch_ = nullptr;
  float* energy_ = nullptr;
  int recv_node_ = input_node;
};

}  // namespace plait
