#pragma once
// pipeline<S, microbatches<M>, Schedule, partition<T>>: a pipeline whose every stage is a
// tensor-parallel group of T devices. Device d runs stage d / T as shard d % T (the innermost
// policy varies fastest over the device list).
//
// What it generates: the graph is cut into S stages as pipeline<S, ...> cuts it; the linears and
// branches are split over T as partition<T> splits them, except that a column-then-row pair never
// straddles a stage boundary (a column before a cut is gathered instead). Each device runs the
// schedule's program for its stage with every forward and backward of the stage expanded into the
// stage's partition sub-stages and their exchanges (on its tensor group); the activations and
// gradients between stages go from shard t of one stage to shard t of the next (on its pipeline
// group): at a stage boundary every shard holds the whole activation, so each sends its own copy.
//
// Checked when the program compiles: the expanded programs of all S x T devices together, messages
// and collectives of every group (program/verify.hpp).

#include <array>
#include <cstddef>

#include "../program/verify.hpp"
#include "partition.hpp"
#include "pipeline.hpp"

namespace plait {

template <std::size_t S, class Micro, class Sched, std::size_t T>
struct pipeline<S, Micro, Sched, partition<T>> {
  using outer = pipeline<S, Micro, Sched>;  // the stages and the schedule
  static_assert(!outer::chunked,
                "plait: pipeline<S, M, Schedule, partition<T>> is given a chunked schedule (interleaved_1f1b, zb_v). "
                "Tensor-parallel stages run one stage per group. Fix: use gpipe or one_f_one_b with partition<T>.");
  static_assert(!outer::splits_backward,
                "plait: pipeline<S, M, Schedule, partition<T>> is given a schedule that splits the backward (zb_h1). "
                "A tensor-parallel stage sums its input gradient across the group inside the backward, which its "
                "input part alone does not finish. Fix: use one_f_one_b or gpipe with partition<T> stages, or zb_h1 "
                "without partition.");
  static constexpr std::size_t stage_count = S;
  static constexpr std::size_t tensor_parallel_degree = T;
  static constexpr std::size_t device_count = S * T;
  static constexpr std::size_t microbatch_count = Micro::count;
  static constexpr std::size_t data_parallel_degree = 1;
  static constexpr const char* name = "pipeline<S, M, Schedule, partition<T>>";

  /// The pipeline's stage starts, which a row split may not start.
  template <RootedGraph G>
  struct cuts {
    static constexpr bool starts(std::size_t i) {
      for (std::size_t s = 1; s < S; ++s)
        if (outer::template stages<G>[s].first == i) return true;
      return false;
    }
  };
  template <RootedGraph G>
  using plan = detail::partition_plan<G, T, cuts<G>>;

  template <RootedGraph G>
  using device_graph = decltype(detail::device_graph_of<G, T, cuts<G>>(std::make_index_sequence<G::layer_count>{}));

 private:
  /// Stage s's layers of the device graph, and its sub-stages: the partition's stages cut at the
  /// pipeline's stage boundaries.
  template <RootedGraph G>
  static constexpr auto pipe_ranges = [] {
    std::array<stage_range, S> r{};
    for (std::size_t s = 0; s < S; ++s)
      r[s] = {plan<G>::first_part[outer::template stages<G>[s].first],
              plan<G>::first_part[outer::template stages<G>[s].last]};
    return r;
  }();
  template <RootedGraph G>
  static constexpr bool splits(std::size_t layer) {  // a partition boundary strictly inside a pipeline stage
    for (const auto& b : plan<G>::boundaries)
      if (b.layer == layer) return true;
    return false;
  }
  template <RootedGraph G>
  static constexpr std::size_t sub_count = [] {
    std::size_t n = 0;
    for (const auto& r : pipe_ranges<G>) {
      n += 1;
      for (std::size_t l = r.first + 1; l < r.last; ++l) n += splits<G>(l);
    }
    return n;
  }();

 public:
  /// The sub-stages, stage after stage (the indices forward and backward instructions name).
  template <RootedGraph G>
  static constexpr auto stages = [] {
    std::array<stage_range, sub_count<G>> r{};
    std::size_t k = 0;
    for (const auto& p : pipe_ranges<G>) {
      std::size_t first = p.first;
      for (std::size_t l = p.first + 1; l < p.last; ++l)
        if (splits<G>(l)) {
          r[k++] = {first, l};
          first = l;
        }
      r[k++] = {first, p.last};
    }
    return r;
  }();

  template <RootedGraph G>
  static constexpr auto owned = [] {
    std::array<stage_range, device_count> o{};
    for (std::size_t d = 0; d < device_count; ++d) o[d] = pipe_ranges<G>[d / T];
    return o;
  }();

 private:
  template <RootedGraph G>
  static constexpr detail::boundary_kind kind_at(std::size_t layer, bool& found) {
    found = false;
    for (const auto& b : plan<G>::boundaries)
      if (b.layer == layer) {
        found = true;
        return b.kind;
      }
    return {};
  }
  // The expanded program of stage s, written into `out` (or only counted, when out is null).
  template <RootedGraph G, class Out>
  static constexpr std::size_t expand(std::size_t s, Out* out) {
    std::size_t at = 0;
    const auto put = [&](instruction i) {
      if (out) (*out)[at] = i;
      ++at;
    };
    std::size_t first_sub = 0;
    for (std::size_t q = 0; q < s; ++q)
      for (std::size_t k = 0; k < sub_count<G>; ++k)
        first_sub += stages<G>[k].first >= pipe_ranges<G>[q].first && stages<G>[k].last <= pipe_ranges<G>[q].last;
    std::size_t subs = 0;
    for (std::size_t k = 0; k < sub_count<G>; ++k)
      subs += stages<G>[k].first >= pipe_ranges<G>[s].first && stages<G>[k].last <= pipe_ranges<G>[s].last;
    for (const instruction& i : outer::schedule_programs[s]) {
      if (i.op == opcode::forward) {
        for (std::size_t k = first_sub; k < first_sub + subs; ++k) {
          put({.op = opcode::forward, .stage = std::uint16_t(k), .microbatch = i.microbatch});
          bool found = false;
          const auto kind = kind_at<G>(stages<G>[k].last, found);
          if (found && kind != detail::boundary_kind::sum_backward)
            put({.op = kind == detail::boundary_kind::sum_forward ? opcode::all_reduce : opcode::all_gather,
                 .stage = std::uint16_t(k),
                 .microbatch = i.microbatch,
                 .peer = std::int16_t(collective_group::inner),
                 .buffer = std::uint16_t(message_kind::activation)});
        }
      } else if (i.op == opcode::backward) {
        for (std::size_t k = first_sub + subs; k-- > first_sub;) {
          put({.op = opcode::backward, .stage = std::uint16_t(k), .microbatch = i.microbatch});
          bool found = false;
          const auto kind = kind_at<G>(stages<G>[k].first, found);
          if (found && kind == detail::boundary_kind::sum_backward)
            put({.op = opcode::all_reduce,
                 .stage = std::uint16_t(k),
                 .microbatch = i.microbatch,
                 .peer = std::int16_t(collective_group::inner),
                 .buffer = std::uint16_t(message_kind::gradient)});
        }
      } else if (i.op != opcode::nop) {
        put(i);
      }
    }
    return at;
  }
  template <RootedGraph G>
  static constexpr std::size_t length = [] {
    std::size_t n = 0;
    for (std::size_t s = 0; s < S; ++s) n = std::max(n, expand<G, program<1>>(s, nullptr));
    return n;
  }();

 public:
  template <RootedGraph G>
  static constexpr auto composed = [] {
    std::array<program<length<G>>, device_count> all{};
    for (std::size_t d = 0; d < device_count; ++d) {
      program<length<G>> p{};
      for (auto& i : p) i = {.op = opcode::nop};
      expand<G>(d / T, &p);
      all[d] = p;
    }
    return all;
  }();

  template <RootedGraph G>
  static constexpr verdict check = verify_mesh<device_count, T>(composed<G>);

  template <RootedGraph G>
  static constexpr auto programs = [] {
    static_assert(detail::check_splits<G, T, cuts<G>>());
    static_assert(check<G>.kind == verdict::ok,
                  "plait: the programs of pipeline<S, M, Schedule, partition<T>> do not verify: a message or an "
                  "exchange has no match, or the devices could wait on each other forever. Fix: report this as a "
                  "plait bug, with the policy and the graph.");
    return composed<G>;
  }();

  /// Device d's blocks of the whole model's parameters: its shard's, in its stage's range.
  template <RootedGraph G>
  static constexpr auto param_blocks = [] {
    constexpr auto by_rank = detail::partition_param_blocks<G, T, cuts<G>>();
    std::array<std::remove_cvref_t<decltype(by_rank[0])>, device_count> b{};
    for (std::size_t d = 0; d < device_count; ++d) b[d] = by_rank[d % T];
    return b;
  }();
};

static_assert(Policy<pipeline<2, microbatches<2>, gpipe, partition<2>>>);

}  // namespace plait
