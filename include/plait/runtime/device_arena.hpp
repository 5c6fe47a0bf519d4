#pragma once
// device_arena<Layout, HostMemory>: where each buffer of one device's arena sits (device_memory.hpp
// lists them), and what each takes by use (memory_plan.hpp). device_memory allocates what lay_out
// returns, and a memory plan reports the same figures before anything is allocated.

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

#include "../core/concepts.hpp"
#include "../graph/host_stage_layers.hpp"
#include "../policy/policy.hpp"
#include "memory_plan.hpp"

namespace plait {

template <class Layout, bool HostMemory>
struct device_arena {
  static constexpr std::size_t layer_count = Layout::layer_count;
  /// Layers [0, host_layers) are the graph's host stage (on<cpu>): run on the host, before the device's.
  static constexpr std::size_t host_layers = host_stage_layers<Layout>::size;

  /// What a device's arena is planned for.
  struct plan {
    stage_range owned{0, layer_count};
    std::size_t rows = 1;   // samples per micro-batch, at most
    std::size_t slots = 1;  // micro-batches in flight, at most
    std::size_t shard_floats = 0;
    std::size_t target_floats = 1;   // floats (or int32 labels) of one sample's target
    bool keep_output_grads = false;  // the programs split backwards: keep output gradients from B to W
  };

  /// Layers whose weight gradient a split backward defers to W: those with parameters whose backward
  /// splits (core/concepts.hpp). Every other layer runs its whole backward in B.
  static constexpr auto defers_weight = []<std::size_t... I>(std::index_sequence<I...>) {
    return std::array<bool, layer_count>{
        (Layout::param_sizes[I] > 0 && splits_backward_v<typename Layout::template layer<I>>)...};
  }(std::make_index_sequence<layer_count>{});

  /// Floats per sample that a deferring layer keeps from B to W beside its output gradient
  /// (backward_args::kept: a composite's inner output gradients, an LSTM's gate gradients).
  static constexpr auto split_kept = []<std::size_t... I>(std::index_sequence<I...>) {
    return std::array<std::size_t, layer_count>{
        (defers_weight[I] ? split_kept_count_of<typename Layout::template layer<I>> : 0)...};
  }(std::make_index_sequence<layer_count>{});

  /// The layout's parameter floats [lo, hi) of the layers `owned`.
  static constexpr std::pair<std::size_t, std::size_t> param_bounds(stage_range owned) {
    return {Layout::param_offsets[owned.first],
            owned.last == layer_count ? Layout::param_buffer_size : Layout::param_offsets[owned.last]};
  }
  /// Whether a slot holds an input buffer: a stage's received input, the copied-in batch (device
  /// memory), or the host stage's output.
  static constexpr bool has_input(stage_range owned) { return owned.first > 0 || !HostMemory || host_layers > 0; }

  // Offsets into the arena, per slot and once per device.
  struct slot {
    std::size_t in = 0, dx = 0;
    std::array<std::size_t, layer_count> act{}, saved{}, dy{}, kept{};
  };
  std::vector<slot> slots;
  std::size_t params = 0, grads = 0, state = 0, g0 = 0, g1 = 0, loss_rows = 0, shard = 0, targets = 0;
  arena_ledger ledger;  // the arena's size, and its bytes by use

  static device_arena lay_out(const plan& p) {
    const auto [lo, hi] = param_bounds(p.owned);
    const std::size_t in_width =
        p.owned.first == 0 ? host_stage_layers<Layout>::out_width : Layout::out_sizes[p.owned.first - 1];
    device_arena at;
    arena_ledger& a = at.ledger;
    at.params = a.reserve<float>(memory_use::parameters, hi - lo);
    at.grads = a.reserve<float>(memory_use::gradients, hi - lo);
    at.state = a.reserve<float>(memory_use::layer_state, Layout::state_buffer_size);
    at.slots.resize(p.slots);
    for (slot& s : at.slots) {
      if (has_input(p.owned)) s.in = a.reserve<float>(memory_use::stage_inputs, p.rows * in_width);
      if (p.owned.first > 0) s.dx = a.reserve<float>(memory_use::input_gradients, p.rows * in_width);
      for (std::size_t i = std::max(p.owned.first, host_layers); i < p.owned.last;
           ++i) {  // the host stage's: host_stage
        if (!Layout::is_view[i]) s.act[i] = a.reserve<float>(memory_use::activations, p.rows * Layout::out_sizes[i]);
        s.saved[i] = a.reserve<float>(memory_use::activations, p.rows * Layout::saved_sizes[i]);
        if (p.keep_output_grads && defers_weight[i]) {
          s.dy[i] = a.reserve<float>(memory_use::kept_output_gradients, p.rows * Layout::out_sizes[i]);
          if (split_kept[i]) s.kept[i] = a.reserve<float>(memory_use::kept_output_gradients, p.rows * split_kept[i]);
        }
      }
    }
    at.g0 = a.reserve<float>(memory_use::backward_gradients, p.rows * Layout::max_width);
    at.g1 = a.reserve<float>(memory_use::backward_gradients, p.rows * Layout::max_width);
    at.loss_rows = a.reserve<float>(memory_use::loss_rows, p.rows);
    at.shard = a.reserve<float>(memory_use::gradient_shard, p.shard_floats);
    at.targets = a.reserve<float>(memory_use::targets, HostMemory ? 0 : p.rows * p.target_floats);
    return at;
  }
};

}  // namespace plait
