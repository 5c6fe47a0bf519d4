#pragma once
// model<Policy, Graph, Backend>: a graph placed on devices, with all its memory planned.
//
// Memory (one arena, sized at construction for options.max_batch samples):
//   params  [P]                  flat, layer offsets from graph_layout (P = param_buffer_size)
//   grads   [P]
//   acts[i] [max_batch, out_i]   each non-view layer's output, kept for backward
//   saved[i][max_batch, saved_i] what a layer keeps beyond its output (gelu's z)
//   grad[2] [max_batch, width]   ping-pong gradients of activations during backward
//   rows    [max_batch]          per-sample losses
// Optimizer state is planned on the first step with a given optimizer (its size depends on it).
// After that first step, train_step allocates nothing.

#include <array>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include "../backend/arena.hpp"
#include "../backend/host.hpp"
#include "../core/error.hpp"
#include "../core/random.hpp"
#include "../core/tensor.hpp"
#include "../graph/layout.hpp"
#include "../kernels/elementwise.hpp"
#include "../program/instruction.hpp"
#include "options.hpp"

namespace plait {

template <class Policy, RootedGraph G, class Backend>
class model {
 public:
  using layout = graph_layout<G>;
  using input_shape = typename layout::input_shape;
  using output_shape = typename layout::output_shape;
  using context = host_context<typename Backend::system>;
  static constexpr std::size_t layer_count = layout::layer_count;

  model(device_set<Backend> devices, place_options options) : options_(options) {
    expect(devices.count >= Policy::device_count,
           std::string(Policy::name) + " needs " + std::to_string(Policy::device_count) + " device(s) but place was given " +
               std::to_string(devices.count),
           "each logical device of the policy runs on its own device", "pass more devices to place(...)");
    expect(options.max_batch > 0, "place_options.max_batch is 0", "activations are planned for at least one sample",
           "set max_batch to the largest batch you will train or predict on");
    ctx_.threads = devices.threads_per_device;
    ctx_.enter();
    plan_memory();
    init_parameters();
  }

  std::size_t parameter_count() const { return layout::parameter_count; }
  std::size_t max_batch() const { return options_.max_batch; }
  std::size_t steps() const { return steps_; }
  /// Bytes of the arena planned at place(...) plus optimizer state planned so far.
  std::size_t planned_bytes() const { return arena_.bytes() + opt_arena_.bytes(); }

  /// The flat parameter buffer (padding between layers included; it stays zero).
  std::span<float> parameters() { return {params_, layout::param_buffer_size}; }
  std::span<const float> parameters() const { return {params_, layout::param_buffer_size}; }
  std::span<const float> gradients() const { return {grads_, layout::param_buffer_size}; }
  /// Layer I's parameters: weights then biases.
  template <std::size_t I>
  std::span<float> layer_parameters() {
    return {params_ + layout::param_offsets[I], layout::param_sizes[I]};
  }

  /// One training step on a batch: forward, loss, backward, optimizer. Returns the mean loss.
  template <Samples X, Target Y, class Loss, class Opt>
  float train_step(X x, Y y, const Loss&, Opt& opt) {
    static_assert(same_shape<typename X::shape_type, input_shape>::value,
                  "plait: the batch's sample shape differs from the graph's input shape. train_step feeds the "
                  "batch to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
    Loss::template check<output_shape, Y>();
    // After a failed check, stop here: one message, not a cascade.
    if constexpr (std::is_same_v<typename X::shape_type, input_shape> && Loss::template accepts<output_shape, Y>) {
      check_batch(x.count, y.count, "train_step");
      if constexpr (requires { Loss::validate(y, output_shape::size); }) Loss::validate(y, output_shape::size);
      prepare_optimizer(opt);

      step_handler<Y, Loss, Opt> h{*this, x.data, y, opt, x.count};
      execute(Policy::template programs<G>[0], h);
      ++steps_;
      return h.loss_value;
    } else {
      return 0.0f;
    }
  }

  /// Forward only, on at most max_batch samples; the view stays valid until the next call.
  samples<output_shape> predict(samples<input_shape> x) {
    check_batch(x.count, x.count, "predict");
    bind_input(x.data);
    forward_layers(0, layer_count, x.count);
    return {outs_[layer_count - 1], x.count};
  }

  /// Mean loss and (for class labels) accuracy over any number of samples, max_batch at a time.
  template <Target Y, class Loss>
  evaluation evaluate(samples<input_shape> x, Y y, const Loss&) {
    Loss::template check<output_shape, Y>();
    if constexpr (!Loss::template accepts<output_shape, Y>) return {};
    if (x.count != y.count)
      fail("evaluate is given " + std::to_string(x.count) + " samples but " + std::to_string(y.count) + " targets",
           "every sample needs its target", "pass views of equal count");
    double total = 0;
    std::size_t correct = 0;
    for (std::size_t at = 0; at < x.count; at += options_.max_batch) {
      const std::size_t n = std::min(options_.max_batch, x.count - at);
      const Y part = slice(y, at, n);
      if constexpr (requires { Loss::validate(part, output_shape::size); }) Loss::validate(part, output_shape::size);
      const float* out = predict({x.data + at * input_shape::size, n}).data;
      Loss::template rows<output_shape>(ctx_, out, part, static_cast<float*>(nullptr), rows_, float(n));
      for (std::size_t r = 0; r < n; ++r) total += rows_[r];
      if constexpr (std::is_same_v<Y, class_labels>) correct += count_correct(out, part);
    }
    const double count = double(x.count);
    return {x.count ? total / count : 0.0, x.count ? double(correct) / count : 0.0, x.count};
  }

 private:
  // The program's instructions, for one training step with its loss and optimizer types.
  template <class Y, class Loss, class Opt>
  struct step_handler {
    model& m;
    const float* x;
    Y y;
    Opt& opt;
    std::size_t batch;
    float loss_value = 0;

    void scatter(const instruction&) { m.bind_input(x); }  // one device: the whole batch, in place
    void forward(const instruction& i) { m.forward_stage(i.stage, batch); }
    void loss(const instruction&) {
      const float* out = m.outs_[layer_count - 1];
      Loss::template rows<output_shape>(m.ctx_, out, y, m.grad_[0], m.rows_, float(batch));
      loss_value = sum(m.ctx_, m.rows_, batch) / float(batch);
    }
    void backward(const instruction& i) { m.backward_stage(i.stage, batch, false); }
    void optimizer_step(const instruction&) {
      opt.step(m.ctx_, m.params_, m.grads_, m.opt_state_, layout::param_buffer_size, ++m.opt_steps_);
    }
    void communicate(const instruction& i) {
      fail(std::string("instruction ") + to_string(i.op) + " reached a single-device model",
           "single_device programs hold no communication", "report this as a plait bug");
    }
  };

  static class_labels slice(class_labels y, std::size_t at, std::size_t n) { return {y.data + at, n}; }
  template <Shape S>
  static samples<S> slice(samples<S> y, std::size_t at, std::size_t n) { return {y.data + at * S::size, n}; }

  std::size_t count_correct(const float* out, class_labels y) const {
    constexpr std::size_t C = output_shape::size;
    std::size_t correct = 0;
    for (std::size_t r = 0; r < y.count; ++r) {
      const float* row = out + r * C;
      std::size_t best = 0;
      for (std::size_t c = 1; c < C; ++c) best = row[c] > row[best] ? c : best;
      correct += static_cast<std::int32_t>(best) == y.data[r];
    }
    return correct;
  }

  // Messages are built only on failure: a step must not allocate.
  void check_batch(std::size_t n, std::size_t targets, const char* call) const {
    if (n == 0) fail(std::string(call) + " is given an empty batch", "a step needs at least one sample", "skip empty batches");
    if (n > options_.max_batch)
      fail(std::string(call) + " is given a batch of " + std::to_string(n) + " samples, more than max_batch = " +
               std::to_string(options_.max_batch),
           "activations were planned at place(...) for max_batch samples", "raise place_options.max_batch");
    if (n != targets)
      fail(std::string(call) + " is given " + std::to_string(n) + " samples but " + std::to_string(targets) + " targets",
           "every sample needs its target", "pass views of equal count");
  }

  void plan_memory() {
    const std::size_t b = options_.max_batch;
    arena_plan plan;
    const std::size_t p = plan.reserve<float>(layout::param_buffer_size);
    const std::size_t g = plan.reserve<float>(layout::param_buffer_size);
    std::array<std::size_t, layer_count> act{}, saved{};
    for (std::size_t i = 0; i < layer_count; ++i) {
      act[i] = layout::is_view[i] ? 0 : plan.reserve<float>(b * layout::out_sizes[i]);
      saved[i] = plan.reserve<float>(b * layout::saved_sizes[i]);
    }
    const std::size_t g0 = plan.reserve<float>(b * layout::max_width);
    const std::size_t g1 = plan.reserve<float>(b * layout::max_width);
    const std::size_t rows = plan.reserve<float>(b);
    arena_ = arena(plan.bytes(), memory());
    params_ = arena_.at<float>(p);
    grads_ = arena_.at<float>(g);
    for (std::size_t i = 0; i < layer_count; ++i) {
      acts_[i] = layout::is_view[i] ? nullptr : arena_.at<float>(act[i]);
      saved_[i] = arena_.at<float>(saved[i]);
    }
    grad_ = {arena_.at<float>(g0), arena_.at<float>(g1)};
    rows_ = arena_.at<float>(rows);
  }

  std::pmr::memory_resource* memory() const {
    return options_.memory ? options_.memory : std::pmr::get_default_resource();
  }

  void init_parameters() {
    static_for<layer_count>([&]<std::size_t I>() {
      splitmix64 rng(mix_seed(options_.seed, I));
      layout::template layer<I>::init(params_ + layout::param_offsets[I], rng);
    });
  }

  // The optimizer's state is planned by its first step: its size depends on the optimizer.
  template <class Opt>
  void prepare_optimizer(const Opt& opt) {
    static constexpr char tag = 0;
    const std::size_t floats = opt.state_per_param() * layout::param_buffer_size;
    if (opt_tag_ == &tag && floats * sizeof(float) <= opt_arena_.bytes()) return;
    opt_arena_ = arena(floats * sizeof(float), memory());
    opt_state_ = floats ? opt_arena_.at<float>(0) : nullptr;
    opt_tag_ = &tag;
    opt_steps_ = 0;
  }

  // Resolves where each layer reads and writes for this batch; views alias their input.
  void bind_input(const float* x) {
    const float* in = x;
    for (std::size_t i = 0; i < layer_count; ++i) {
      ins_[i] = in;
      outs_[i] = layout::is_view[i] ? const_cast<float*>(in) : acts_[i];
      in = outs_[i];
    }
  }

  void forward_stage(std::size_t s, std::size_t batch) {
    const auto r = Policy::template stages<G>[s];
    forward_layers(r.first, r.last, batch);
  }

  void forward_layers(std::size_t first, std::size_t last, std::size_t batch) {
    static_for<layer_count>([&]<std::size_t I>() {
      if (I < first || I >= last) return;
      using B = typename layout::template layer<I>;
      B::forward(ctx_, forward_args<float>{params_ + layout::param_offsets[I], ins_[I], outs_[I], saved_[I], batch});
    });
  }

  // Backward from the gradient in grad_[0], last layer first. dx of the first layer is skipped:
  // nothing needs the gradient of the input data.
  void backward_stage(std::size_t s, std::size_t batch, bool accumulate) {
    const auto r = Policy::template stages<G>[s];
    std::size_t cur = 0;
    static_for<layer_count>([&]<std::size_t J>() {
      constexpr std::size_t I = layer_count - 1 - J;
      if (I < r.first || I >= r.last) return;
      using B = typename layout::template layer<I>;
      float* dy = grad_[cur];
      float* dx = nullptr;
      if (I > 0) {
        if constexpr (!(B::is_view || B::in_place_grad)) cur ^= 1;
        dx = grad_[cur];
      }
      B::backward(ctx_, backward_args<float>{params_ + layout::param_offsets[I], ins_[I], outs_[I], saved_[I], dy, dx,
                                             grads_ + layout::param_offsets[I], batch, accumulate});
    });
  }

  place_options options_;
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
  float* opt_state_ = nullptr;
  const void* opt_tag_ = nullptr;
  std::size_t opt_steps_ = 0;
  std::size_t steps_ = 0;
};

}  // namespace plait
