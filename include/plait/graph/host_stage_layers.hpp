#pragma once
// The host stage of a graph: its leading layers marked on<cpu>(...) (graph/on.hpp).
//
//   constexpr auto net = input<1, 28, 28> >> on<cpu>(pixels_to_unit >> flatten)   // on the host
//                      >> linear<256> >> relu >> linear<10>;                       // on the devices
//
// What it represents: preprocessing in the input's path. The runtime runs these layers on the host
// for each micro-batch, writes their output into pinned host memory (two buffers, in turn) and copies
// it to the device that holds the next layer, so the host prepares micro-batch k+1 while the device
// copies and computes micro-batch k. On host devices the same layers run on that device, so a model
// gives the same numbers on host and CUDA devices.
//
// Requirements (compile errors from place(...) otherwise): the marks are on the graph's first layers
// only; those layers have no parameters and no state (the host stage is not trained: no gradient goes
// back to it); at least one layer is left for the devices, and every device that holds layer 0 holds
// more than the host stage.

#include <array>
#include <cstddef>

#include "layout.hpp"
#include "on.hpp"

namespace plait {

template <class Layout>
struct host_stage_layers {
  static constexpr std::size_t layer_count = Layout::layer_count;
  /// Whether layer i is marked on<cpu>.
  static constexpr auto marks = [] {
    std::array<bool, layer_count> m{};
    static_for<layer_count>(
        [&]<std::size_t I>() { m[I] = pinned_device_of<typename Layout::template layer<I>> == cpu; });
    return m;
  }();

  /// The leading layers marked on<cpu>: layers [0, size) run on the host.
  static constexpr std::size_t size = [] {
    std::size_t n = 0;
    while (n < layer_count && marks[n]) ++n;
    return n;
  }();
  /// No on<cpu> mark after the first device layer.
  static constexpr bool leading = [] {
    for (std::size_t i = size; i < layer_count; ++i)
      if (marks[i]) return false;
    return true;
  }();
  /// The host stage holds no parameters and no state.
  static constexpr bool untrained = [] {
    for (std::size_t i = 0; i < size; ++i)
      if (Layout::param_sizes[i] != 0 || Layout::state_sizes[i] != 0) return false;
    return true;
  }();
  /// Floats per sample that the host stage hands to the devices (the input's, without a host stage).
  static constexpr std::size_t out_width = size == 0 ? Layout::input_shape::size : Layout::out_sizes[size - 1];
};

}  // namespace plait
