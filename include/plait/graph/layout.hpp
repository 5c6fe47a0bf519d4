#pragma once
// Everything the type of a rooted graph says about its memory and work, as constexpr values:
// the bound layers, each layer's offset in the one flat parameter buffer, per-sample activation
// and saved sizes, and FLOPs per sample.

#include <algorithm>
#include <array>
#include <cstddef>

#include "../core/meta.hpp"
#include "chain.hpp"

namespace plait {

/// Parameter blocks start on 64-byte boundaries (16 floats) so each layer's GEMM sees aligned rows.
inline constexpr std::size_t param_alignment = 16;

template <RootedGraph G>
struct graph_layout {
  using input_shape = typename G::input_shape;
  using output_shape = output_shape_t<G>;
  using layers = typename bound_list<input_shape, typename G::layers>::types;
  static constexpr std::size_t layer_count = layers::size;

  template <std::size_t I>
  using layer = type_at_t<I, layers>;

 private:
  template <class F>
  static constexpr auto per_layer(F f) {
    std::array<std::size_t, layer_count> a{};
    static_for<layer_count>([&]<std::size_t I>() { a[I] = f.template operator()<layer<I>>(); });
    return a;
  }

 public:
  /// Floats of parameters of each layer, unpadded.
  static constexpr auto param_sizes = per_layer([]<class B>() { return std::size_t{B::param_count}; });

  /// Offset of each layer's parameters in the flat buffer.
  static constexpr auto param_offsets = [] {
    std::array<std::size_t, layer_count> o{};
    std::size_t at = 0;
    for (std::size_t i = 0; i < layer_count; ++i) {
      o[i] = at;
      at += round_up(param_sizes[i], param_alignment);
    }
    return o;
  }();

  /// Length of the flat parameter buffer, padding included (padding stays zero).
  static constexpr std::size_t param_buffer_size = [] {
    std::size_t at = 0;
    for (auto s : param_sizes) at += round_up(s, param_alignment);
    return at;
  }();

  /// Parameters the model really has.
  static constexpr std::size_t parameter_count = [] {
    std::size_t n = 0;
    for (auto s : param_sizes) n += s;
    return n;
  }();

  /// Non-trainable state of each layer (not per sample), and its offsets in one state buffer.
  static constexpr auto state_sizes = per_layer([]<class B>() { return state_count_of<B>; });
  static constexpr auto state_offsets = [] {
    std::array<std::size_t, layer_count> o{};
    std::size_t at = 0;
    for (std::size_t i = 0; i < layer_count; ++i) {
      o[i] = at;
      at += round_up(state_sizes[i], param_alignment);
    }
    return o;
  }();
  static constexpr std::size_t state_buffer_size = [] {
    std::size_t at = 0;
    for (auto s : state_sizes) at += round_up(s, param_alignment);
    return at;
  }();

  /// The most doubles one layer sums across data-parallel replicas in one call (0: none does).
  static constexpr std::size_t replica_sum_size = [] {
    std::size_t n = 0;
    for (auto c : per_layer([]<class B>() { return replica_sum_count_of<B>; })) n = std::max(n, c);
    return n;
  }();

  /// Per-sample sizes of each layer's output and of what it saves for backward.
  static constexpr auto out_sizes = per_layer([]<class B>() { return std::size_t{B::out_shape::size}; });
  static constexpr auto saved_sizes = per_layer([]<class B>() { return std::size_t{B::saved_count}; });
  static constexpr auto is_view = per_layer([]<class B>() { return std::size_t{B::is_view}; });

  /// Per-sample floats that forward keeps for backward (outputs that are not views, and saved).
  static constexpr std::size_t activation_floats_per_sample = [] {
    std::size_t n = 0;
    for (std::size_t i = 0; i < layer_count; ++i) n += (is_view[i] ? 0 : out_sizes[i]) + saved_sizes[i];
    return n;
  }();

  /// The widest edge of the graph: the size of a gradient buffer per sample.
  static constexpr std::size_t max_width = [] {
    std::size_t w = input_shape::size;
    for (auto s : out_sizes) w = std::max(w, s);
    return w;
  }();

  /// Forward FLOPs per sample of each layer.
  template <class = void>
  static constexpr auto layer_flops = per_layer([]<class B>() { return std::size_t{B::flops}; });

  /// Forward FLOPs per sample (a multiply-add counts 2).
  static constexpr std::size_t flops_per_sample = [] {
    std::size_t n = 0;
    for (auto f : per_layer([]<class B>() { return std::size_t{B::flops}; })) n += f;
    return n;
  }();

  /// A training step's FLOPs per sample: forward, and backward at twice forward (dx and dW).
  static constexpr std::size_t train_flops_per_sample = 3 * flops_per_sample;
};

}  // namespace plait
