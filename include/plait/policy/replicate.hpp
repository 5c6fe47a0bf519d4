#pragma once
// replicate<N, Options...>: data parallelism, as PyTorch's DistributedDataParallel.
//
// What it represents: N replicas of the whole graph on N logical devices. Each step the global
// batch is scattered N ways (as evenly as possible: shard_of), every replica runs forward and
// backward on its share, the gradients are summed across replicas bucket by bucket while backward
// goes on, and every replica applies the same optimizer step, so the replicas stay identical.
//
// Options (each at most once, any order):
//   buckets<bucket_plan{.bytes = ..., .first_bytes = ...}>  gradient bucket sizes (default: DDP's)
//   shard_optimizer   ZeRO stage 1: gradients are reduce-scattered, each replica updates its shard
//                     of the parameters with its shard of the optimizer state, then the parameters
//                     are all-gathered. Same results; optimizer memory divided by N.
//
// The loss is normalised by the global batch on every replica, so summing the replicas' gradients
// gives exactly the gradient of the global batch, however unevenly it was split.

#include <cstddef>
#include <type_traits>

#include "../graph/layout.hpp"
#include "../program/instruction.hpp"
#include "buckets.hpp"
#include "policy.hpp"

namespace plait {

/// Option of replicate: shard the optimizer state (ZeRO stage 1).
struct shard_optimizer {};

/// Option of replicate: the gradient bucket sizes.
template <bucket_plan P>
struct buckets {
  static constexpr bucket_plan plan = P;
};

template <class T>
struct is_buckets_option : std::false_type {};
template <bucket_plan P>
struct is_buckets_option<buckets<P>> : std::true_type {};

namespace detail {
template <class Option>
constexpr bucket_plan plan_or(bucket_plan fallback) {
  if constexpr (is_buckets_option<Option>::value) return Option::plan;
  else return fallback;
}
}  // namespace detail

template <std::size_t N, class... Options>
struct replicate {
  static_assert(
      N >= 1,
      "plait: replicate<0> has no replicas. Data parallelism needs at least one device. Fix: use replicate<N> with N >= 1.");
  static_assert(((std::is_same_v<Options, shard_optimizer> || is_buckets_option<Options>::value) && ...),
                "plait: replicate<N, Options...> is given an option it does not know. Its options are "
                "shard_optimizer and buckets<bucket_plan{...}>, or an inner policy given first (replicate<D, "
                "pipeline<...>>, a device mesh). Fix: remove or correct the option, or put the inner policy first.");
  static_assert((std::size_t{0} + ... + std::is_same_v<Options, shard_optimizer>) <= 1 &&
                    (std::size_t{0} + ... + is_buckets_option<Options>::value) <= 1,
                "plait: replicate<N, Options...> is given an option twice. Each option says one thing once. "
                "Fix: keep one of each.");

  // replicate<0> is refused above; the rest of the type reads one replica, so that the message above is
  // the only error the compiler prints.
  static constexpr std::size_t device_count = N >= 1 ? N : 1;
  static constexpr std::size_t data_parallel_degree = device_count;
  static constexpr const char* name = "replicate";
  static constexpr bool sharded = (false || ... || std::is_same_v<Options, shard_optimizer>);
  static constexpr bucket_plan plan = [] {
    bucket_plan p{};
    ((p = detail::plan_or<Options>(p)), ...);
    return p;
  }();

  /// Bucket k: layers and gradient range; bucket 0 holds the last layers.
  template <RootedGraph G>
  static constexpr auto bucket_list = buckets_of<G, plan>;

  /// Stage s runs the layers of bucket K-1-s: forward goes through the stages in order, backward in
  /// reverse, and after backward of a stage its bucket is complete.
  template <RootedGraph G>
  static constexpr auto stages = [] {
    constexpr auto b = bucket_list<G>;
    std::array<stage_range, b.size()> s{};
    for (std::size_t k = 0; k < b.size(); ++k) s[b.size() - 1 - k] = {b[k].first_layer, b[k].last_layer};
    return s;
  }();

  /// Every device holds the whole graph.
  template <RootedGraph G>
  static constexpr auto owned = [] {
    std::array<stage_range, device_count> all{};
    for (auto& r : all) r = {0, graph_layout<G>::layer_count};
    return all;
  }();

  /// Every replica's program (they are alike; the device index picks the share of the batch):
  ///   scatter, forward(0..K-1), loss, then for each bucket k: backward(K-1-k), all_reduce(k)
  ///   [sharded: reduce_scatter(k)], optimizer_step, [sharded: all_gather(0..K-1)].
  template <RootedGraph G>
  static constexpr auto programs = [] {
    constexpr std::size_t K = bucket_list<G>.size();
    constexpr std::size_t length = 3 + 3 * K + (sharded ? K : 0);
    program<length> p{};
    std::size_t at = 0;
    p[at++] = {.op = opcode::scatter};
    for (std::size_t s = 0; s < K; ++s) p[at++] = {.op = opcode::forward, .stage = std::uint16_t(s)};
    p[at++] = {.op = opcode::loss};
    for (std::size_t k = 0; k < K; ++k) {
      p[at++] = {.op = opcode::backward, .stage = std::uint16_t(K - 1 - k)};
      p[at++] = collective(sharded ? opcode::reduce_scatter : opcode::all_reduce, collective_group::data_parallel,
                           std::uint16_t(k));
    }
    p[at++] = {.op = opcode::optimizer_step};
    if constexpr (sharded)
      for (std::size_t k = 0; k < K; ++k)
        p[at++] = collective(opcode::all_gather, collective_group::data_parallel, std::uint16_t(k));
    std::array<program<length>, device_count> all{};
    for (auto& d : all) d = p;
    return all;
  }();
};

static_assert(Policy<replicate<2>>);
static_assert(Policy<replicate<4, shard_optimizer, buckets<bucket_plan{.bytes = 1 << 20}>>>);

}  // namespace plait

#include "mesh.hpp"  // replicate<D, Inner>: the device mesh
