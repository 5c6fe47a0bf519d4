#pragma once
// A training step captured in a CUDA graph and replayed (place_options::cuda_graph), for model
// (model.hpp) on one CUDA device.
//
// The first step of a kind (its types, batch size and optimizer settings) runs as usual: it plans the
// optimizer's state and lets cuBLAS choose its kernels. The next one is captured: the step's work is
// enqueued once more on the device's stream, in capture mode, with the batch read from pinned buffers,
// the loss summed on the device (sum_into) and copied to a pinned scalar, then launched. Every later
// step of that kind copies the batch into the pinned buffers, sets the step words (the step number
// dropout reads, the count Adam's bias correction reads) and launches the graph: one launch instead of
// one per kernel. A change of batch size, optimizer or its settings (a learning-rate schedule) starts
// over: one usual step, then a capture.
//
// What cannot be captured is refused at place(...): host devices, more than one device (devices meet
// through host threads), a host stage (on<cpu>: host work), and layers whose forward waits for the
// device (embedding checks its ids there).

#include <cstring>
#include <type_traits>

#include "jobs.hpp"
#include "model.hpp"

namespace plait {

namespace detail {
template <class Layout>
inline constexpr bool waits_for_device = [] {
  bool any = false;
  static_for<Layout::layer_count>([&]<std::size_t I>() {
    if constexpr (requires { Layout::template layer<I>::waits_for_device; })
      any = any || Layout::template layer<I>::waits_for_device;
  });
  return any;
}();
}  // namespace detail

template <class Policy, RootedGraph G, class Backend>
void model<Policy, G, Backend>::check_graph_options() {
  const place_options& options = devices_->options();
  if (!options.cuda_graph) return;
  if (!has_step_graph)
    fail("place_options.cuda_graph is set for a model on host devices",
         "a CUDA graph replays the work of a step on a GPU's stream",
         "place on cuda_devices(...), or leave cuda_graph unset");
  if (device_count > 1)
    fail(
        cat("place_options.cuda_graph is set for ", plan::name, " on ", device_count, " devices"),
        "a step is captured on one device's stream; several devices meet through host threads, which a graph cannot replay",
        "place on one CUDA device, or leave cuda_graph unset");
  if (host_stage_layers<layout>::size > 0)
    fail("place_options.cuda_graph is set for a graph with a host stage (on<cpu>)",
         "a CUDA graph replays the GPU's work only, not the host's layers",
         "prepare the batch before train_step and drop the on<cpu> marks, or leave cuda_graph unset");
  if (detail::waits_for_device<device_layout>)
    fail("place_options.cuda_graph is set for a graph with embedding",
         "embedding checks its ids on the device and waits for the answer, which a replayed step cannot do",
         "leave cuda_graph unset for this graph");
  if constexpr (has_step_graph) graph_.plan(options.max_batch, input_shape::size, output_shape::size);
}

template <class Policy, RootedGraph G, class Backend>
template <class L, class Y, class Opt>
float model<Policy, G, Backend>::graph_step(const float* x, Y y, std::size_t count, Opt& opt) {
  if constexpr (has_step_graph && device_count == 1 && !decltype(graph_)::template replayable<Opt>) {
    fail("place_options.cuda_graph is set and the optimizer cannot be kept by a graph",
         "a captured step keeps the optimizer's settings, and plait compares them each step",
         "make the optimizer a small trivially copyable aggregate with operator== (as sgd and adam are), or leave "
         "cuda_graph unset");
  } else if constexpr (has_step_graph && device_count == 1) {
    using job_type = train_job<L, Y, Opt, device_count>;
    static constexpr char tag = 0;  // one per step kind (loss, targets, optimizer types)
    const void* kind = &tag;
    if (!graph_.matches(kind, count, opt)) {  // a new kind of step: run it as usual, capture the next one
      graph_.expect(kind, count, opt);
      return eager_step<L>(x, y, count, opt);
    }
    auto& rep = devices_->memory(0);
    const auto& ctx = rep.ctx();
    // The batch into the pinned buffers that the graph's first copies read.
    std::memcpy(graph_.input(), x, count * input_shape::size * sizeof(float));  // [n, in] @ pinned host
    std::size_t target_bytes = count * sizeof(float) * output_shape::size;      // [n, out] @ pinned host
    if constexpr (std::is_same_v<Y, class_labels>) target_bytes = count * sizeof(std::int32_t);  // [n] @ pinned host
    std::memcpy(graph_.targets(), y.data, target_bytes);
    const Y staged{static_cast<decltype(y.data)>(graph_.targets()), count};
    if (!graph_.ready()) {
      job_type job{graph_.input(), staged, count, &opt, data_parallel_degree};
      job.state[0] = rep.template optimizer_state<Opt>(opt.state_per_param() * trainable_floats<device_layout>(rep));
      job.loss_at = ctx.device_scalar();
      graph_.capture(
          ctx, [&] { devices_->run_one(0, job, steps_); });  // sets this step's words and counts its optimizer step
    } else {
      rep.begin_step(steps_, false);  // the step words the graph's first node copies in
      rep.next_optimizer_step();
    }
    graph_.launch(ctx);
    ctx.synchronize();
    const double total = *ctx.host_scalar();
    ++steps_;
    return float(total / double(count));
  } else {
    (void)x, (void)y, (void)count, (void)opt;
    return 0.0f;  // refused at place(...): check_graph_options
  }
}

}  // namespace plait
