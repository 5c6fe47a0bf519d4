#pragma once
// What the runtime asks of the CUDA backend (backend/traits.hpp): a logical device's context is a
// cuda_context on its GPU (its own stream and cuBLAS handle), its planned memory one cuda_arena.
// The host never reads or writes that memory in place: place(...) copies parameters in once, a step
// copies the input and the targets in and the loss out.

#include <cstddef>
#include <memory_resource>

#include "cuda.hpp"
#include "cuda_memory.hpp"
#include "traits.hpp"

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
};

}  // namespace plait
