#pragma once
// replica<G, Backend>: one logical device's copy of a graph, with all its memory planned.
//
// Memory (one arena, sized at construction for `max_batch` samples on this device):
//   params  [P]                  flat, layer offsets from graph_layout (P = param_buffer_size)
//   grads   [P]
//   acts[i] [max_batch, out_i]   each non-view layer's output, kept for backward
//   saved[i][max_batch, saved_i] what a layer keeps beyond its output (gelu's z)
//   grad[2] [max_batch, width]   ping-pong gradients of activations during backward
//   rows    [max_batch]          per-sample losses
//   shard   [shard_floats]       this device's part of the reduced gradients (sharded optimizer)
//   state   [S]                  layers' non-trainable state (running statistics), offsets from graph_layout
// Optimizer state has its own arena, planned by the first step with a given optimizer.

#include <array>
#include <cstddef>
#include <memory_resource>

#include "../backend/arena.hpp"
#include "../backend/host.hpp"
#include "../core/concepts.hpp"
#include "../core/random.hpp"
#include "../graph/layout.hpp"
#include "../policy/policy.hpp"

namespace plait {

template <RootedGraph G, class Backend>
class replica {
 public:
  using layout = graph_layout<G>;
  using context = host_context<typename Backend::system>;
  static constexpr std::size_t layer_count = layout::layer_count;

  replica(std::size_t device, unsigned threads, std::size_t max_batch, std::size_t shard_floats,
          std::pmr::memory_resource* memory)
      : memory_(memory), max_batch_(max_batch) {
    ctx_.index = device;
    ctx_.threads = threads;
    arena_plan plan;
    const std::size_t p = plan.reserve<float>(layout::param_buffer_size);
    const std::size_t g = plan.reserve<float>(layout::param_buffer_size);
    std::array<std::size_t, layer_count> act{}, saved{};
    for (std::size_t i = 0; i < layer_count; ++i) {
      act[i] = layout::is_view[i] ? 0 : plan.reserve<float>(max_batch * layout::out_sizes[i]);
      saved[i] = plan.reserve<float>(max_batch * layout::saved_sizes[i]);
    }
    const std::size_t g0 = plan.reserve<float>(max_batch * layout::max_width);
    const std::size_t g1 = plan.reserve<float>(max_batch * layout::max_width);
    const std::size_t rows = plan.reserve<float>(max_batch);
    const std::size_t shard = plan.reserve<float>(shard_floats);
    const std::size_t state = plan.reserve<float>(layout::state_buffer_size);
    arena_ = arena(plan.bytes(), memory_);
    params_ = arena_.at<float>(p);
    grads_ = arena_.at<float>(g);
    for (std::size_t i = 0; i < layer_count; ++i) {
      acts_[i] = layout::is_view[i] ? nullptr : arena_.at<float>(act[i]);
      saved_[i] = arena_.at<float>(saved[i]);
    }
    grad_ = {arena_.at<float>(g0), arena_.at<float>(g1)};
    rows_ = arena_.at<float>(rows);
    shard_ = arena_.at<float>(shard);
    state_ = arena_.at<float>(state);
  }

  const context& ctx() const { return ctx_; }
  std::size_t max_batch() const { return max_batch_; }
  float* params() const { return params_; }
  float* grads() const { return grads_; }
  float* rows() const { return rows_; }
  float* shard_grads() const { return shard_; }
  float* loss_grad() const { return grad_[0]; }  // the loss writes d(output) here
  const float* output() const { return outs_[layer_count - 1]; }
  std::size_t planned_bytes() const { return arena_.bytes() + opt_arena_.bytes(); }
  std::size_t optimizer_bytes() const { return opt_arena_.bytes(); }

  /// Initial parameters: layer i from its own stream of `seed`, the same on every device; and
  /// the layers' initial state (zeros unless a layer says otherwise).
  void init_parameters(std::uint64_t seed) {
    seed_ = seed;
    static_for<layer_count>([&]<std::size_t I>() {
      using B = typename layout::template layer<I>;
      splitmix64 rng(mix_seed(seed, I));
      B::init(params_ + layout::param_offsets[I], rng);
      if constexpr (requires(float* s) { B::init_state(s); }) B::init_state(state_ + layout::state_offsets[I]);
    });
  }

  /// What random layers need to draw the same numbers whatever the policy: the step, and the
  /// global index of this device's first sample in the batch. `training` selects the mode.
  void set_step(std::uint64_t step, std::size_t first_sample, bool training) {
    step_ = step;
    first_sample_ = first_sample;
    training_ = training;
  }
  float* state() const { return state_; }

  /// Plans the optimizer's state (`floats` of it) on the first step with a given optimizer type.
  /// Returns the state, zeroed when it was (re)planned; `steps` counts the optimizer's steps.
  template <class Opt>
  float* optimizer_state(std::size_t floats) {
    static constexpr char tag = 0;
    if (opt_tag_ != &tag || floats * sizeof(float) > opt_arena_.bytes()) {
      opt_arena_ = arena(floats * sizeof(float), memory_);
      opt_tag_ = &tag;
      opt_steps_ = 0;
    }
    return floats ? opt_arena_.at<float>(0) : nullptr;
  }
  std::size_t next_optimizer_step() { return ++opt_steps_; }

  /// Resolves where each layer reads and writes for this batch; views alias their input.
  void bind_input(const float* x) {
    const float* in = x;
    for (std::size_t i = 0; i < layer_count; ++i) {
      ins_[i] = in;
      outs_[i] = layout::is_view[i] ? const_cast<float*>(in) : acts_[i];
      in = outs_[i];
    }
  }

  void forward(stage_range r, std::size_t batch) {
    static_for<layer_count>([&]<std::size_t I>() {
      if (I < r.first || I >= r.last) return;
      using B = typename layout::template layer<I>;
      B::forward(ctx_, forward_args<float>{params_ + layout::param_offsets[I], ins_[I], outs_[I], saved_[I], batch,
                                           training_, state_ + layout::state_offsets[I], seed_, step_, first_sample_});
    });
  }

  /// Backward continues from where the last call stopped; begin_backward() starts from loss_grad().
  void begin_backward() { cur_ = 0; }

  /// Backward of layers [r.first, r.last), last first. dx of layer 0 is skipped: nothing needs the
  /// gradient of the input data.
  void backward(stage_range r, std::size_t batch, bool accumulate) {
    static_for<layer_count>([&]<std::size_t J>() {
      constexpr std::size_t I = layer_count - 1 - J;
      if (I < r.first || I >= r.last) return;
      using B = typename layout::template layer<I>;
      float* dy = grad_[cur_];
      float* dx = nullptr;
      if (I > 0) {
        if constexpr (!(B::is_view || B::in_place_grad)) cur_ ^= 1;
        dx = grad_[cur_];
      }
      B::backward(ctx_, backward_args<float>{params_ + layout::param_offsets[I], ins_[I], outs_[I], saved_[I], dy, dx,
                                             grads_ + layout::param_offsets[I], batch, accumulate,
                                             state_ + layout::state_offsets[I], seed_, step_, first_sample_});
    });
  }

 private:
  std::pmr::memory_resource* memory_;
  std::size_t max_batch_;
  context ctx_{};
  arena arena_;
  arena opt_arena_;
  float* params_ = nullptr;
  float* grads_ = nullptr;
  std::array<float*, layer_count> acts_{};
  std::array<float*, layer_count> saved_{};
  std::array<const float*, layer_count> ins_{};
  std::array<float*, layer_count> outs_{};
  std::array<float*, 2> grad_{};
  float* rows_ = nullptr;
  float* shard_ = nullptr;
  float* state_ = nullptr;
  std::uint64_t seed_ = 0;
  std::uint64_t step_ = 0;
  std::size_t first_sample_ = 0;
  bool training_ = true;
  std::size_t cur_ = 0;
  const void* opt_tag_ = nullptr;
  std::size_t opt_steps_ = 0;
};

}  // namespace plait
