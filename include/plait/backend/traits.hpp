#pragma once
// What the runtime asks of a backend (docs/design.md §7): the context a logical device runs its kernels
// with, made from the device set given to place(...), and the planned memory of that device. One
// specialisation per backend, beside the backend: the host's here, CUDA's in cuda/traits.hpp.
//
//   device_traits<B>::context                      what kernels take (host_context, cuda_context)
//   device_traits<B>::arena_type                   one planned block of the device's memory
//   device_traits<B>::make_context(set, i, d)      the context of entry i of `set`, logical device d
//   device_traits<B>::make_arena(bytes, ctx, mr)   zero-filled; `mr` is where host memory comes from
//   device_traits<B>::host_memory                  whether the host reads and writes device memory directly
//   device_traits<B>::binding(ctx)                 where a transport between processes must put its work
//   device_traits<B>::staging_type                 how the host stage (on<cpu>) hands a micro-batch over
//   device_traits<B>::make_staging(floats, slots, ctx)
//   device_traits<B>::host_side(ctx)               the host context the host stage runs with
//   device_traits<B>::step_graph                   a captured training step (CUDA graphs), or no_step_graph
//   device_traits<B>::caller_scope(ctx)            RAII: ctx's device current on the calling thread for a
//                                                  scope, the caller's own again after

#include <concepts>
#include <cstddef>
#include <memory_resource>

#include "../core/meta.hpp"
#include "arena.hpp"
#include "host/backend.hpp"

namespace plait {

/// Where a logical device's memory is and what orders its work, for a communicator between processes:
/// host memory (gpu < 0), or a CUDA device and the stream (a cudaStream_t) its operations join.
struct device_binding {
  int gpu = -1;
  void* stream = nullptr;
};

/// Host devices replay nothing: place_options::cuda_graph is refused for them.
struct no_step_graph {};

/// The host stage's output on host devices: written straight into the device's buffer.
struct host_staging {
  float* begin(float* dst, std::size_t) const { return dst; }
  template <class Ctx>
  void end(const Ctx&, float*, std::size_t, std::size_t) const {}
  template <class Ctx>
  void release(const Ctx&, std::size_t) const {}
};

/// The primary template knows no backend: Backend<B> is false for it.
template <class Backend>
struct device_traits {};

/// Backend: a type naming where a logical device runs its kernels (host<System>, cuda), with
/// device_traits<B> saying how to make its context and memory (the members listed above).
template <class B>
concept Backend = requires(const typename device_traits<B>::context& ctx) {
  typename device_traits<B>::arena_type;
  { device_traits<B>::host_memory } -> std::convertible_to<bool>;
  { device_traits<B>::binding(ctx) } -> std::convertible_to<device_binding>;
  typename device_traits<B>::staging_type;
  typename device_traits<B>::step_graph;
};

template <class System>
struct device_traits<host<System>> {
  using context = host_context<System>;
  using arena_type = arena;
  static constexpr bool host_memory = true;

  static context make_context(const device_set<host<System>>& set, std::size_t, std::size_t logical) {
    context c;
    c.index = logical;
    c.threads = set.threads_per_device;
    c.math = set.math;
    if (c.math == host_math::bf16) host_detail::expect_bf16_cpu();  // a device_set built by hand is checked too
    return c;
  }
  static arena_type make_arena(std::size_t bytes, const context&, std::pmr::memory_resource* mr) {
    return arena(bytes, mr);
  }
  static device_binding binding(const context&) { return {}; }
  using staging_type = host_staging;
  static staging_type make_staging(std::size_t, std::size_t, const context&) { return {}; }
  static const context& host_side(const context& ctx) { return ctx; }
  using step_graph = no_step_graph;
  /// The caller's thread needs no device of its own to work on host devices.
  struct caller_scope {
    explicit caller_scope(const context&) noexcept {}
  };
};

static_assert(Backend<host<sequential>> && Backend<host<openmp>>);

}  // namespace plait
