#pragma once
// device_memory<G, Backend>: one logical device's share of a graph, with all its memory planned.
//
// A device owns layers [owned.first, owned.last) (all of them under replicate, one stage under
// pipeline) and keeps activations for `slots` micro-batches of up to `rows` samples each (the
// schedule's peak in flight). Memory, one arena:
//   params  [Pd]                     the owned layers' parameters, flat (Pd: their part of the layout)
//   grads   [Pd]
//   state   [S]                      every layer's non-trainable state (running statistics)
//   per slot k:
//     in[k]     [rows, in_width]     the received input of the stage (when it does not own layer 0)
//     acts[k][i][rows, out_i]        each owned non-view layer's output, kept for backward
//     saved[k][i][rows, saved_i]     what a layer keeps beyond its output (gelu's z)
//     dx[k]     [rows, in_width]     the gradient of the stage's input, sent back (when not layer 0)
//     dys[k][i] [rows, out_i]        a layer's output gradient, kept from B to W (schedules that split
//                                    the backward; layers with parameters that split theirs)
//     kepts[k][i][rows, kept_i]      what such a layer keeps itself from B to W (a composite's inner
//                                    output gradients, an LSTM's gate gradients: split_kept_count)
//   grad[2] [rows, width]            ping-pong gradients of activations during backward
//   rows    [rows]                   per-sample losses
//   shard   [shard_floats]           this device's part of the reduced gradients (sharded optimizer)
//   targets [rows, target_floats]    the micro-batch's targets, copied in (device memory only)
// Where the host cannot read the device's memory (CUDA), the input of layer 0 is copied into in[k]
// as well, and the targets into `targets`; parameters are initialised on the host and copied in once.
// A graph's host stage (its leading on<cpu> layers) runs on the host for the device that holds
// layer 0 (runtime/host_stage.hpp), which writes its output into in[k]; the device's layers start after it.
// Optimizer state has its own arena, planned by model::plan_optimizer or by the first step with a given
// optimizer. memory_plan.hpp reports all of it by use (device_arena.hpp counts the arena's buffers).

#include <algorithm>
#include <array>
#include <cstddef>
#include <memory>
#include <memory_resource>
#include <tuple>
#include <utility>
#include <vector>

#include "../backend/arena.hpp"
#include "../backend/traits.hpp"
#include "../core/concepts.hpp"
#include "../core/random.hpp"
#include "../core/step_count.hpp"
#include "../graph/layout.hpp"
#include "../kernels/copy.hpp"
#include "../policy/policy.hpp"
#include "device_arena.hpp"
#include "host_stage.hpp"
#include "memory_plan.hpp"

namespace plait {

template <RootedGraph G, class Backend>
class device_memory {
 public:
  using layout = graph_layout<G>;
  using traits = device_traits<Backend>;
  using context = typename traits::context;
  using arena_type = typename traits::arena_type;
  /// Whether the host reads and writes this device's memory directly (host devices) or copies (CUDA).
  static constexpr bool host_memory = traits::host_memory;
  static constexpr std::size_t layer_count = layout::layer_count;
  /// Layers [0, host_layers) are the graph's host stage (on<cpu>): run on the host, before the device's.
  static constexpr std::size_t host_layers = host_stage_layers<layout>::size;

  using arena_layout = device_arena<layout, host_memory>;  // where each buffer sits, and its bytes by use
  using plan = typename arena_layout::plan;

  /// Which part of a backward to run: all of it, its input part B (the gradient of the input, each
  /// deferring layer's output gradient kept), or its weight part W (parameter gradients from those).
  enum class backward_part { whole, input, weight };
  /// Layers whose weight gradient a split backward defers to W (device_arena.hpp).
  static constexpr auto defers_weight = arena_layout::defers_weight;

  /// Plans device `ctx`'s memory (host memory from `memory`; a CUDA device's from its GPU).
  device_memory(const plan& p, context ctx, std::pmr::memory_resource* memory)
      : memory_(memory), owned_(p.owned), rows_(p.rows), slots_(p.slots), ctx_(std::move(ctx)), slot_ptrs_(p.slots) {
    std::tie(param_lo_, param_hi_) = arena_layout::param_bounds(owned_);
    const arena_layout at = arena_layout::lay_out(p);
    usage_ = at.ledger.usage();
    arena_ = traits::make_arena(at.ledger.bytes(), ctx_, memory_);
    params_ = arena_.template at<float>(at.params);
    grads_ = arena_.template at<float>(at.grads);
    state_ = arena_.template at<float>(at.state);
    for (std::size_t k = 0; k < slots_; ++k) {
      slot_type& s = slot_ptrs_[k];
      if (arena_layout::has_input(owned_)) s.in = arena_.template at<float>(at.slots[k].in);
      if (owned_.first > 0) s.dx = arena_.template at<float>(at.slots[k].dx);
      for (std::size_t i = std::max(owned_.first, host_layers); i < owned_.last; ++i) {
        s.acts[i] = layout::is_view[i] ? nullptr : arena_.template at<float>(at.slots[k].act[i]);
        s.saved[i] = arena_.template at<float>(at.slots[k].saved[i]);
        if (p.keep_output_grads && defers_weight[i]) {
          s.dys[i] = arena_.template at<float>(at.slots[k].dy[i]);
          if (arena_layout::split_kept[i]) s.kepts[i] = arena_.template at<float>(at.slots[k].kept[i]);
        }
      }
    }
    grad_ = {arena_.template at<float>(at.g0), arena_.template at<float>(at.g1)};
    loss_rows_ = arena_.template at<float>(at.loss_rows);
    shard_ = arena_.template at<float>(at.shard);
    targets_ = arena_.template at<float>(at.targets);
    if constexpr (host_layers > 0)
      if (owned_.first == 0) host_stage_ = std::make_unique<host_stage<layout, Backend>>(rows_, slots_, ctx_);
  }

  /// The arena of plan p by use (memory_plan.hpp), allocating nothing: what the constructor allocates.
  static memory_usage planned_usage(const plan& p) { return arena_layout::lay_out(p).ledger.usage(); }
  /// What this device holds by use: its arena, the optimizer's state and predictive coding's memory.
  memory_usage usage() const {
    memory_usage u = usage_;
    u[memory_use::optimizer_state] = opt_arena_.bytes();
    u[memory_use::predictive_coding] = extra_arena_.bytes();
    return u;
  }
  /// Memory a step plans (the optimizer's state, predictive coding's) is checked against `bytes`
  /// (0: none) first; a refusal names the device `device`.
  void set_memory_budget(std::size_t bytes, std::size_t device) { budget_ = bytes, device_ = device; }

  const context& ctx() const { return ctx_; }
  stage_range owned() const { return owned_; }
  std::size_t rows() const { return rows_; }
  std::size_t slots() const { return slots_; }
  /// The owned layers' parameters and gradients, flat: [param_size()] from the layout offset param_lo().
  float* params() const { return params_; }
  float* grads() const { return grads_; }
  std::size_t param_lo() const { return param_lo_; }
  std::size_t param_size() const { return param_hi_ - param_lo_; }
  float* layer_params(std::size_t i) const { return params_ + layout::param_offsets[i] - param_lo_; }
  float* loss_rows() const { return loss_rows_; }
  float* shard_grads() const { return shard_; }
  /// [rows, target_floats]: where targets are copied to (device memory only).
  float* targets() const { return targets_; }
  float* state() const { return state_; }
  float* loss_grad() const { return grad_[0]; }  // the loss writes d(output) here
  float* recv_grad() const { return grad_[0]; }  // a received d(stage output) goes here
  float* recv_input(std::size_t slot) const { return slot_ptrs_[slot].in; }
  float* input_grad(std::size_t slot) const { return slot_ptrs_[slot].dx; }  // d(stage input), to send
  const float* output(std::size_t slot) const { return slot_ptrs_[slot].outs[owned_.last - 1]; }
  std::size_t planned_bytes() const { return arena_.bytes() + opt_arena_.bytes() + extra_arena_.bytes(); }
  std::size_t optimizer_bytes() const { return opt_arena_.bytes(); }
  std::size_t activation_bytes() const { return usage_[memory_use::activations]; }

  /// Initial parameters: layer i from its own stream of `seed`, the same on every device; and the
  /// layers' initial state (zeros unless a layer says otherwise).
  void init_parameters(std::uint64_t seed) {
    seed_ = seed;
    std::vector<float> params(param_size()), state(layout::state_buffer_size);  // [Pd], [S] @ host, copied in once
    static_for<layer_count>([&]<std::size_t I>() {
      using B = typename layout::template layer<I>;
      if constexpr (requires(float* s) { B::init_state(s); }) B::init_state(state.data() + layout::state_offsets[I]);
      if (I < owned_.first || I >= owned_.last) return;
      splitmix64 rng(mix_seed(seed, I));
      B::init(params.data() + layout::param_offsets[I] - param_lo_, rng);
    });
    copy_from_host(ctx_, params_, params.data(), params.size());
    copy_from_host(ctx_, state_, state.data(), state.size());
  }

  /// Plans the optimizer's state (`floats` of it) on the first step with a given optimizer type.
  template <class Opt>
  float* optimizer_state(std::size_t floats) {
    static constexpr char tag = 0;
    if (opt_tag_ != &tag || floats * sizeof(float) > opt_arena_.bytes()) {
      replan(opt_arena_, memory_use::optimizer_state, floats * sizeof(float), "the optimizer's state");
      opt_tag_ = &tag;
      opt_steps_ = 0;
    }
    return floats ? opt_arena_.template at<float>(0) : nullptr;
  }
  /// The optimizer's next step t, and where this device's kernels read it (the step words, below).
  step_count next_optimizer_step() {
    ++opt_steps_;
    if constexpr (requires { ctx_.optimizer_scalars(); })
      return {opt_steps_, ctx_.step_words() + 1, ctx_.optimizer_scalars()};
    else return {opt_steps_};
  }
  std::size_t optimizer_steps() const { return opt_steps_; }
  /// A resumed checkpoint's optimizer step count and random seed (io/checkpoint.hpp).
  void set_optimizer_steps(std::size_t t) { opt_steps_ = t; }
  void set_seed(std::uint64_t seed) { seed_ = seed; }

  /// Where this device's kernels read the step and the optimizer's step count: the context's step
  /// words where it has them (CUDA: device memory a captured step reads when replayed), else null
  /// (the values are passed to the kernels).
  const std::uint64_t* step_words() const {
    if constexpr (requires { ctx_.step_words(); }) return ctx_.step_words();
    else return nullptr;
  }
  /// Before the first work of a step is enqueued: the step words of step `step` (whose optimizer step
  /// is the next), set on the host and, with `copy`, copied to the device on its stream (a CUDA graph
  /// holds that copy and replays it with the host's values of each replay).
  void begin_step(std::uint64_t step, bool copy = true) const {
    if constexpr (requires { ctx_.step_words(); }) {
      ctx_.set_step_words(step, opt_steps_ + 1);
      if (copy) ctx_.copy_step_words();
    } else {
      (void)step, (void)copy;
    }
  }

  /// What random layers need to draw the same numbers whatever the policy: the step, and the
  /// global index of this micro-batch's first sample. `training` selects the mode.
  void set_step(std::uint64_t step, std::size_t first_sample, bool training) {
    step_ = step;
    first_sample_ = first_sample;
    training_ = training;
  }

  /// Layer i's output and saved buffers in `slot` (after bind_input), and the gradient backward
  /// made last: what partition's collectives exchange in place.
  float* layer_output(std::size_t slot, std::size_t i) const { return slot_ptrs_[slot].outs[i]; }
  float* layer_saved(std::size_t slot, std::size_t i) const { return slot_ptrs_[slot].saved[i]; }
  const float* layer_input(std::size_t slot, std::size_t i) const { return slot_ptrs_[slot].ins[i]; }

  /// `bytes` of memory beyond the plan, for a training mode that keeps more than activations
  /// (predictive coding's value nodes, runtime/predictive_coding.hpp): planned on first use and
  /// kept, so later calls that need no more allocate nothing.
  arena_type& extra(std::size_t bytes) {
    if (bytes > extra_arena_.bytes())
      replan(extra_arena_, memory_use::predictive_coding, bytes, "predictive coding's value nodes");
    return extra_arena_;
  }
  float* current_grad() const { return grad_[cur_]; }

  /// How this device's layers sum across the replicas of its batch (synchronised batchnorm).
  void set_replica_sum(replica_sum s) { sum_ = s; }

  /// Slot k's input for n samples of the graph's input at host address x (the device that holds
  /// layer 0): x itself where the host reads device memory; else a copy in in[k]; with a host stage,
  /// its output, handed over into in[k]. Call after set_step (the host stage may draw random numbers).
  const float* take_input(std::size_t k, const float* x, std::size_t n) {
    if constexpr (host_layers > 0) {
      return host_stage_->run(ctx_, k, slot_ptrs_[k].in, x, n, {seed_, step_, first_sample_, training_});
    } else if constexpr (host_memory) {
      (void)k, (void)n;
      return x;
    } else {
      copy_from_host(ctx_, slot_ptrs_[k].in, x, n * layout::input_shape::size);  // [n, in] @ host -> the device
      return slot_ptrs_[k].in;
    }
  }

  /// Slot k's input is read by no work enqueued after this call (its micro-batch's backward of the
  /// device's first layers is enqueued, or its forward in evaluation): the host stage may copy the
  /// next micro-batch into it without waiting for later work. Nothing without a host stage.
  void release_input(std::size_t k) {
    if constexpr (host_layers > 0)
      if (host_stage_) host_stage_->release(ctx_, k);
  }

  /// Resolves where each owned layer of `slot` reads and writes; views alias their input.
  void bind_input(std::size_t k, const float* x) {
    slot_type& s = slot_ptrs_[k];
    const float* in = x;
    for (std::size_t i = entry(); i < owned_.last; ++i) {
      s.ins[i] = in;
      s.outs[i] = layout::is_view[i] ? const_cast<float*>(in) : s.acts[i];
      in = s.outs[i];
    }
  }

  /// Forward of layers [r.first, r.last) on `batch` rows of `slot`, from row `row` of its buffers
  /// (a chunk of the rows bound: every buffer is sample-major, and a layer that can run on a chunk
  /// computes each row from that row alone).
  void forward(stage_range r, std::size_t batch, std::size_t slot = 0, std::size_t row = 0) {
    slot_type& s = slot_ptrs_[slot];
    static_for<layer_count>([&]<std::size_t I>() {
      if constexpr (I >= host_layers) {  // the host stage ran in take_input
        if (I < r.first || I >= r.last) return;
        using B = typename layout::template layer<I>;
        B::forward(
            ctx_, forward_args<float>{layer_params(I), s.ins[I] + row * B::in_shape::size,
                                      s.outs[I] + row * layout::out_sizes[I], s.saved[I] + row * layout::saved_sizes[I],
                                      batch, training_, state_ + layout::state_offsets[I], seed_, step_, first_sample_,
                                      sum_, step_words()});
      }
    });
  }

  /// Backward continues from where the last call stopped; begin_backward() starts from grad[0] (the
  /// loss's or a received gradient), begin_backward(dy) from a gradient read in its sender's memory,
  /// which the first layer may overwrite (the sender does not read it again before its release).
  void begin_backward(float* dy = nullptr) { cur_ = 0, dy_ = dy; }

  /// Backward of layers [r.first, r.last), last first. The gradient of the device's first owned
  /// layer's input goes to input_grad(slot) (to be sent) or, for the device's first layer on layer 0's
  /// device, nowhere: nothing needs the gradient of the input data (or of the untrained host stage).
  /// `part`: all of it; its input part (a deferring layer's output gradient is kept in the slot, its
  /// parameters' gradients wait); or its weight part (those gradients, from what the input part kept).
  void backward(stage_range r, std::size_t batch, std::size_t slot, bool accumulate,
                backward_part part = backward_part::whole) {
    slot_type& s = slot_ptrs_[slot];
    if (part == backward_part::weight) return backward_weights(r, batch, s, accumulate);
    static_for<layer_count>([&]<std::size_t J>() {
      constexpr std::size_t I = layer_count - 1 - J;
      if constexpr (I >= host_layers) {
        if (I < r.first || I >= r.last) return;
        using B = typename layout::template layer<I>;
        float* dy = grad_[cur_];
        if (float* in = std::exchange(dy_, nullptr)) {  // read in place; a layer computing in place gets a copy
          if constexpr (B::is_view || B::in_place_grad) copy(ctx_, dy, in, batch * layout::out_sizes[I]);
          else dy = in;
        }
        float* dx = nullptr;
        if (I == entry()) {
          if (owned_.first > 0) {
            dx = s.dx;
            if constexpr (B::is_view) copy(ctx_, dx, dy, batch * B::in_shape::size);
          }
        } else {
          if constexpr (!(B::is_view || B::in_place_grad)) cur_ ^= 1;
          dx = grad_[cur_];
        }
        float* dparams = grads_ + layout::param_offsets[I] - param_lo_;
        float* kept = nullptr;
        if constexpr (defers_weight[I]) {
          if (part == backward_part::input) {  // before the input part, which may turn dy into dz in place
            copy(ctx_, s.dys[I], dy, batch * layout::out_sizes[I]);
            dparams = nullptr;
            kept = s.kepts[I];
          }
        }
        B::backward(ctx_, backward_args<float>{layer_params(I), s.ins[I], s.outs[I], s.saved[I], dy, dx, dparams, batch,
                                               accumulate, state_ + layout::state_offsets[I], seed_, step_,
                                               first_sample_, sum_, step_words(), kept});
      }
    });
  }

 private:
  // Arena `a` holds `bytes` for `use` from now on: refused first where that takes the device over
  // budget; its old memory freed before the new is taken (the device never holds both).
  void replan(arena_type& a, memory_use use, std::size_t bytes, const char* what) {
    memory_usage u = usage();
    u[use] = bytes;
    check_memory_budget(device_, u, budget_, what);
    a = arena_type{};
    a = traits::make_arena(bytes, ctx_, memory_);
  }

  // The first layer this device runs: after the host stage on layer 0's device.
  std::size_t entry() const { return owned_.first == 0 ? host_layers : owned_.first; }

  struct slot_type {
    float* in = nullptr;
    float* dx = nullptr;
    std::array<float*, layer_count> acts{};
    std::array<float*, layer_count> saved{};
    std::array<float*, layer_count> dys{};    // output gradients kept from B to W
    std::array<float*, layer_count> kepts{};  // what a layer keeps itself from B to W (backward_args::kept)
    std::array<const float*, layer_count> ins{};
    std::array<float*, layer_count> outs{};
  };

  // The weight part of a split backward: each deferring layer's parameter gradients from the output
  // gradient its input part kept (dx null: the weight part alone).
  void backward_weights(stage_range r, std::size_t batch, slot_type& s, bool accumulate) {
    static_for<layer_count>([&]<std::size_t J>() {
      constexpr std::size_t I = layer_count - 1 - J;
      if constexpr (I >= host_layers && defers_weight[I]) {
        if (I < r.first || I >= r.last) return;
        using B = typename layout::template layer<I>;
        B::backward(ctx_, backward_args<float>{layer_params(I), s.ins[I], s.outs[I], s.saved[I], s.dys[I], nullptr,
                                               grads_ + layout::param_offsets[I] - param_lo_, batch, accumulate,
                                               state_ + layout::state_offsets[I], seed_, step_, first_sample_, sum_,
                                               step_words(), s.kepts[I]});
      }
    });
  }

  std::pmr::memory_resource* memory_;
  stage_range owned_;
  std::size_t rows_, slots_;
  std::size_t param_lo_ = 0, param_hi_ = 0;
  context ctx_;
  arena_type arena_;
  arena_type opt_arena_;
  arena_type extra_arena_;
  float *params_ = nullptr, *grads_ = nullptr, *state_ = nullptr;
  std::vector<slot_type> slot_ptrs_;
  std::array<float*, 2> grad_{};
  float *loss_rows_ = nullptr, *shard_ = nullptr, *targets_ = nullptr;
  std::uint64_t seed_ = 0;
  std::uint64_t step_ = 0;
  std::size_t first_sample_ = 0;
  bool training_ = true;
  replica_sum sum_{};
  std::size_t cur_ = 0;
  float* dy_ = nullptr;  // the gradient the next backward starts from, where not grad_[cur_]
  memory_usage usage_;   // the arena, by use
  std::size_t budget_ = 0, device_ = 0;
  const void* opt_tag_ = nullptr;
  std::size_t opt_steps_ = 0;
  std::unique_ptr<host_stage<layout, Backend>> host_stage_;  // on layer 0's device, with a host stage
};

}  // namespace plait
