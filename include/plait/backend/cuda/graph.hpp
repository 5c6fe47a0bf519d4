#pragma once
// cuda_step_graph: one training step of a model on one CUDA device, captured once in a CUDA graph and
// replayed (place_options::cuda_graph). For small models, where the launches of a step's kernels cost
// more than the kernels: a replay is one launch.
//
// What it holds: the executable graph, what it was captured for (the step's types, the batch's size,
// the optimizer's settings: a change of any of them captures again), and pinned host buffers for the
// batch, whose copies into the device are nodes of the graph (a replay reads what the host wrote there
// before it). The per-step values kernels read (the step number, the optimizer's step count) live in
// the context's step words, copied in by the graph's first node (cuda_context::set_step_words).

#include <cuda_runtime_api.h>

#include <array>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "backend.hpp"
#include "error.hpp"
#include "memory.hpp"

namespace plait {

class cuda_step_graph {
 public:
  cuda_step_graph() = default;
  cuda_step_graph(cuda_step_graph&& o) noexcept { swap(o); }
  cuda_step_graph& operator=(cuda_step_graph&& o) noexcept {
    cuda_step_graph tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  cuda_step_graph(const cuda_step_graph&) = delete;
  cuda_step_graph& operator=(const cuda_step_graph&) = delete;
  ~cuda_step_graph() { forget(); }

  /// Pinned buffers for `rows` samples of `input` floats and `target` floats (or int32 labels) each.
  void plan(std::size_t rows, std::size_t input, std::size_t target) {
    input_ = pinned_buffer<float>(rows * input);
    targets_ = pinned_buffer<float>(rows * target);
  }
  float* input() const { return input_.data(); }     // [rows, input] @ pinned host
  void* targets() const { return targets_.data(); }  // [rows, target] @ pinned host

  /// Optimizers whose settings a graph can keep and compare: small, trivially copyable, with operator==.
  template <class Opt>
  static constexpr bool replayable =
      std::is_trivially_copyable_v<Opt> && sizeof(Opt) <= 64 && std::equality_comparable<Opt>;

  /// Whether the graph in hand was captured for this step: the same step kind (the types of the
  /// step: a function address per instantiation), batch size and optimizer settings.
  template <class Opt>
    requires replayable<Opt>
  bool matches(const void* kind, std::size_t count, const Opt& opt) const {
    return kind_ == kind && count_ == count && *std::launder(reinterpret_cast<const Opt*>(opt_bytes_.data())) == opt;
  }
  /// Forgets the graph in hand; the next capture is for this step kind, batch size and optimizer.
  template <class Opt>
    requires replayable<Opt>
  void expect(const void* kind, std::size_t count, const Opt& opt) {
    forget();
    kind_ = kind;
    count_ = count;
    ::new (static_cast<void*>(opt_bytes_.data())) Opt(opt);
  }
  bool ready() const { return exec_ != nullptr; }

  /// Captures what `enqueue_step` enqueues on ctx's stream (from this thread), then the copy of the
  /// context's device scalar (the step's loss sum) to its pinned twin, and instantiates the graph. A
  /// failure ends the capture, keeps nothing and rethrows.
  template <class F>
  void capture(const cuda_context& ctx, F&& enqueue_step) {
    using cuda_detail::cuda_check;
    forget_exec();
    cuda_check(cudaStreamBeginCapture(ctx.stream(), cudaStreamCaptureModeThreadLocal), "cudaStreamBeginCapture",
               ctx.device);
    cudaGraph_t graph = nullptr;
    try {
      enqueue_step();
      cuda_check(
          cudaMemcpyAsync(ctx.host_scalar(), ctx.device_scalar(), sizeof(double), cudaMemcpyDeviceToHost, ctx.stream()),
          "cudaMemcpyAsync (device to host) of the step's loss", ctx.device);
    } catch (...) {
      if (cudaStreamEndCapture(ctx.stream(), &graph) == cudaSuccess && graph) (void)cudaGraphDestroy(graph);
      (void)cudaGetLastError();
      throw;
    }
    cuda_check(cudaStreamEndCapture(ctx.stream(), &graph), "cudaStreamEndCapture (a step's capture)", ctx.device);
    const cudaError_t e = cudaGraphInstantiate(&exec_, graph, 0);
    (void)cudaGraphDestroy(graph);
    if (e != cudaSuccess) exec_ = nullptr;
    cuda_check(e, "cudaGraphInstantiate (a step's graph)", ctx.device);
  }

  /// Replays the step on ctx's stream (returns at once; the loss is in ctx.host_scalar() after the stream).
  void launch(const cuda_context& ctx) const {
    cuda_detail::cuda_check(cudaGraphLaunch(exec_, ctx.stream()), "cudaGraphLaunch (a captured step)", ctx.device);
  }

 private:
  void forget_exec() noexcept {
    if (exec_) (void)cudaGraphExecDestroy(exec_);
    exec_ = nullptr;
  }
  void forget() noexcept {
    forget_exec();
    kind_ = nullptr;
    count_ = 0;
  }
  void swap(cuda_step_graph& o) noexcept {
    std::swap(input_, o.input_);
    std::swap(targets_, o.targets_);
    std::swap(exec_, o.exec_);
    std::swap(kind_, o.kind_);
    std::swap(count_, o.count_);
    std::swap(opt_bytes_, o.opt_bytes_);
  }

  pinned_buffer<float> input_, targets_;
  cudaGraphExec_t exec_ = nullptr;
  const void* kind_ = nullptr;
  std::size_t count_ = 0;
  alignas(std::max_align_t) std::array<std::byte, 64> opt_bytes_{};
};

}  // namespace plait
