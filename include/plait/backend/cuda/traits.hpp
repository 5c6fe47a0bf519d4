#pragma once
// What the runtime asks of the CUDA backend (backend/traits.hpp): a logical device's context is a
// cuda_context on its GPU (its own stream and cuBLAS handle), its planned memory one cuda_arena.
// The host never reads or writes that memory in place: place(...) copies parameters in once, a step
// copies the input and the targets in and the loss out.

#include <cstddef>
#include <memory_resource>

#include "../traits.hpp"
#include "backend.hpp"
#include "graph.hpp"
#include "memory.hpp"
#include "staging.hpp"

namespace plait {

template <>
struct device_traits<cuda> {
  using context = cuda_context;
  using arena_type = cuda_arena;
  static constexpr bool host_memory = false;

  static context make_context(const device_set<cuda>& set, std::size_t i, std::size_t logical) {
    return cuda_context(logical, set.gpus.at(i), set.math);
  }
  // GPU memory: place_options::memory (a host memory resource) does not apply.
  static arena_type make_arena(std::size_t bytes, const context& ctx, std::pmr::memory_resource*) {
    return cuda_arena(bytes, ctx);
  }
  static device_binding binding(const context& ctx) { return {ctx.device, ctx.stream()}; }
  // The host stage: pinned buffers in turn, copied on a copy stream of the device; its layers run on
  // the device's worker thread with the host's sequential kernels.
  using staging_type = cuda_staging;
  static staging_type make_staging(std::size_t floats, std::size_t slots, const context& ctx) {
    return cuda_staging(floats, slots, ctx);
  }
  static host_context<sequential> host_side(const context& ctx) { return {ctx.index, 1}; }
  using step_graph = cuda_step_graph;
  /// A call of the model on the user's thread: device 0 current while it works (device 0's program runs
  /// there), whatever device the user had, and the user's device current again after.
  struct caller_scope {
    cuda_detail::keep_device keep;
    explicit caller_scope(const context& ctx) : keep(ctx.device) {}
  };
};

static_assert(Backend<cuda>);

}  // namespace plait
