#pragma once
// Where a pipeline cuts a graph into stages: at the graph's explicit `cut` markers, or, without
// any, balanced by the compile-time FLOPs of each layer so that the slowest stage is as fast as it
// can be (an exact partition of the layer sequence into contiguous stages, by dynamic programming).

#include <array>
#include <cstddef>

#include "../graph/cut.hpp"
#include "../graph/layout.hpp"
#include "policy.hpp"

namespace plait {

template <RootedGraph G>
struct graph_cuts {
  using L = graph_layout<G>;
  static constexpr auto is_cut = [] {
    std::array<bool, L::layer_count> c{};
    static_for<L::layer_count>([&]<std::size_t I>() { c[I] = is_cut_v<typename L::template layer<I>>; });
    return c;
  }();
  static constexpr std::size_t cut_count = [] {
    std::size_t n = 0;
    for (bool c : is_cut) n += c;
    return n;
  }();
  /// Layers that do work (views, such as flatten and cut, do none).
  static constexpr std::size_t working_layers = [] {
    std::size_t n = 0;
    for (std::size_t i = 0; i < L::layer_count; ++i) n += !L::is_view[i];
    return n;
  }();
};

/// Stage ranges from explicit cuts: a cut closes the stage before it (the cut belongs to it, so the
/// activation sent is the cut's input, and every later stage starts with a layer that does work).
template <RootedGraph G, std::size_t S>
constexpr std::array<stage_range, S> explicit_stages() {
  using C = graph_cuts<G>;
  std::array<stage_range, S> r{};
  std::size_t s = 0, first = 0;
  for (std::size_t i = 0; i < C::L::layer_count; ++i)
    if (C::is_cut[i] && s + 1 < S) {
      r[s++] = {first, i + 1};
      first = i + 1;
    }
  r[s] = {first, C::L::layer_count};
  return r;
}

/// Stage ranges balanced by forward FLOPs: minimise the largest stage's FLOPs, each stage holding at
/// least one layer that does work.
template <RootedGraph G, std::size_t S>
constexpr std::array<stage_range, S> balanced_stages() {
  using L = graph_layout<G>;
  constexpr std::size_t n = L::layer_count;
  constexpr std::size_t none = ~std::size_t{0};
  std::array<std::size_t, n + 1> prefix{}, working{};
  static_for<n>([&]<std::size_t I>() {
    prefix[I + 1] = prefix[I] + L::template layer<I>::flops + 1;  // +1: a layer is never free
    working[I + 1] = working[I] + !L::is_view[I];
  });
  // best[k][i]: the smallest possible largest stage when layers [0, i) form k stages; from[k][i]: the cut.
  std::array<std::array<std::size_t, n + 1>, S + 1> best{}, from{};
  for (auto& row : best)
    for (auto& v : row) v = none;
  best[0][0] = 0;
  for (std::size_t k = 1; k <= S; ++k)
    for (std::size_t i = 1; i <= n; ++i)
      for (std::size_t j = 0; j < i; ++j) {
        if (best[k - 1][j] == none || working[i] == working[j]) continue;
        const std::size_t cost = prefix[i] - prefix[j];
        const std::size_t worst = cost > best[k - 1][j] ? cost : best[k - 1][j];
        if (worst < best[k][i]) {
          best[k][i] = worst;
          from[k][i] = j;
        }
      }
  std::array<stage_range, S> r{};
  for (std::size_t k = S, i = n; k > 0; --k) {
    r[k - 1] = {from[k][i], i};
    i = from[k][i];
  }
  return r;
}

}  // namespace plait
