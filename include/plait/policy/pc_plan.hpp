#pragma once
// pc_plan<Plan>: what a predictive-coding step needs of a policy's plan (docs/predictive_coding.md):
// the checks that the graph and the policy can run one, and every device's predictive-coding
// programs for each variant (program/predictive_coding.hpp), verified together. Instantiated by
// the first pc_step of a model; a model that never calls it pays nothing.
//
// Layer-parallel predictive coding is the pipeline policy with one micro-batch: pipeline<S> cuts the
// graph into S stages (by FLOPs or at `cut`), and every stage updates its value nodes at once in
// every iteration. replicate<D> and replicate<D, pipeline<S>> add data parallelism: the weight
// gradients are reduced once per step, by the training program's own collectives.

#include <array>
#include <cstddef>
#include <utility>

#include "../core/concepts.hpp"
#include "../graph/host_stage_layers.hpp"
#include "../program/predictive_coding.hpp"
#include "../program/timeline.hpp"

namespace plait {

namespace detail {
/// Whether predictive coding can train bound layer B: its backward splits (core/concepts.hpp), and
/// it does not say `static constexpr bool pc_trainable = false` (a layer whose backward splits but
/// that PC cannot train: batchnorm2d couples the samples of a batch, embedding's input is token ids,
/// not a value node).
template <class B>
inline constexpr bool pc_trainable_v = [] {
  if constexpr (requires { B::pc_trainable; }) return splits_backward_v<B> && bool{B::pc_trainable};
  else return splits_backward_v<B>;
}();

template <class B>
constexpr bool pc_trainable() {
  static_assert(pc_trainable_v<B>,
                "plait: predictive coding is asked of a graph with a layer it cannot train. PC keeps every layer's "
                "output as a value node and needs each layer's input and weight gradients apart, from the layer "
                "alone: batchnorm2d (statistics over the batch), dropout (random), embedding, lstm, residual and "
                "branches are refused (the layer is named in the instantiation below). Fix: train this graph with "
                "train_step, or build the PC network from linear, conv2d, layernorm, activations, pooling and "
                "flatten.");
  return pc_trainable_v<B>;
}
template <class Layout, std::size_t... I>
constexpr bool pc_trainable_layers(std::index_sequence<I...>) {
  return (pc_trainable<typename Layout::template layer<I>>() && ...);
}
}  // namespace detail

template <class Plan>
struct pc_plan {
  using layout = typename Plan::device_layout;
  static_assert(Plan::tensor_parallel_degree == 1,
                "plait: predictive coding is asked of a model under partition<N>. Its layers are split across "
                "devices, and PC's value nodes are whole layer outputs. Fix: use pipeline<S> (layer parallel), "
                "replicate<D> or replicate<D, pipeline<S>>.");
  static_assert(Plan::microbatch_count == 1,
                "plait: predictive coding is asked of a pipeline with more than one micro-batch. Layer-parallel PC "
                "needs none: every stage works on the whole batch in every inference iteration, so there is no "
                "bubble to fill. Fix: use pipeline<S> (one micro-batch).");
  static_assert(!Plan::takes_turns,
                "plait: predictive coding is asked of a pipeline with a chunked schedule (interleaved_1f1b, zb_v). "
                "Layer-parallel PC has no micro-batches to interleave: every stage works on the whole batch at "
                "once. Fix: use pipeline<S>, one stage per device.");
  static_assert(host_stage_layers<layout>::size == 0,
                "plait: predictive coding is asked of a graph with an on<cpu> host stage. The host stage runs "
                "outside the devices' programs, and PC updates every layer's output. Fix: place the whole graph "
                "on the devices.");
  /// Whether a predictive-coding step can run: the policy's checks above, then every layer's (one
  /// message at a time: the layers are looked at only once the policy passed).
  static constexpr bool trainable = [] {
    if constexpr (Plan::tensor_parallel_degree == 1 && Plan::microbatch_count == 1 &&
                  host_stage_layers<layout>::size == 0)
      return detail::pc_trainable_layers<layout>(std::make_index_sequence<layout::layer_count>{});
    else return false;
  }();

  /// Every device's predictive-coding program, per variant (indexed by pc_variant).
  static constexpr auto programs =
      std::array{pc_programs<Plan::inner_count>(Plan::programs, pc_variant::standard),
                 pc_programs<Plan::inner_count>(Plan::programs, pc_variant::incremental),
                 pc_programs<Plan::inner_count>(Plan::programs, pc_variant::fixed_prediction)};
  static_assert(!trainable || (verify_pc_programs<Plan::inner_count>(programs[0]) &&
                               verify_pc_programs<Plan::inner_count>(programs[1]) &&
                               verify_pc_programs<Plan::inner_count>(programs[2])),
                "plait: the predictive-coding programs of this policy do not verify: a message has no match, or the "
                "devices could wait on each other forever. Fix: report this as a plait bug, with the policy and the "
                "graph.");

  static constexpr std::size_t part_length = programs[0][0].start.size();

  /// A whole step of T iterations, one flat program per device (start, T x iteration, finish, tail).
  template <std::size_t T>
  static constexpr auto step_programs(pc_variant v) {
    std::array<program<(T + 3) * part_length>, Plan::device_count> out{};
    for (std::size_t d = 0; d < Plan::device_count; ++d) {
      const auto& p = programs[std::size_t(v)][d];
      std::size_t at = 0;
      const auto append = [&](const program<part_length>& part) {
        for (const instruction& i : part) out[d][at++] = i;
      };
      append(p.start);
      for (std::size_t t = 0; t < T; ++t) append(p.iteration);
      append(p.finish);
      append(p.tail);
    }
    return out;
  }

  /// Forward FLOPs per sample of the layers device d holds.
  static constexpr double device_flops(std::size_t d) {
    double f = 0;
    for (std::size_t i = Plan::owned[d].first; i < Plan::owned[d].last; ++i)
      f += double(layout::template layer_flops<>[i]);
    return f;
  }
  /// Forward FLOPs per sample of the first layer that does work, on layer 0's device (0 elsewhere):
  /// it reads the data, so it has no input-gradient term, and its prediction is kept all step.
  static constexpr double data_fed_flops(std::size_t d) {
    if (Plan::owned[d].first != 0) return 0;
    for (std::size_t i = 0; i < layout::layer_count; ++i)
      if (!layout::is_view[i]) return double(layout::template layer_flops<>[i]);
    return 0;
  }
  /// What each instruction of a step on a batch cut into `chunks` chunks (pc_chunks) costs, in
  /// forward FLOPs per sample of the device's layers (F; F0 that of a data-fed first layer): each
  /// chunk of the forward pass F / chunks (the chunks past `chunks` are empty); pc_errors recomputes the predictions
  /// but F0's and takes the input-gradient terms but F0's (2F - 2F0; 3F - F0 with the weight part
  /// of incremental PC, which recomputes F0 too; F - F0 in the fixed-prediction form, which keeps
  /// its predictions); pc_weights 2F - F0 (F when the predictions are kept); the element-wise
  /// update 0.
  static constexpr double cost(std::size_t d, const instruction& i, pc_variant v,
                               std::size_t chunks = pc_forward_chunks) {
    const double f = device_flops(d), f0 = data_fed_flops(d);
    switch (i.op) {
      case opcode::forward: return i.microbatch == 0 ? f : i.microbatch <= chunks ? f / double(chunks) : 0;
      case opcode::pc_errors:
        return v == pc_variant::fixed_prediction ? f - f0 : i.buffer == 1 ? 3 * f - f0 : 2 * f - 2 * f0;
      case opcode::pc_weights: return v == pc_variant::fixed_prediction ? f : 2 * f - f0;
      default: return 0;
    }
  }
  /// The planned step of T iterations on a batch of `rows` rows per replica (program/timeline.hpp):
  /// when each instruction would end, and the idle share (the bubble: only what the stages' unequal
  /// work and the first chunk of the opening forward leave). The default batch is cut into the
  /// most chunks.
  template <std::size_t T>
  static constexpr auto planned_timeline(pc_variant v, std::size_t rows = pc_chunk_rows * pc_forward_chunks) {
    const std::size_t chunks = pc_chunks(rows);
    return plan_mesh_timeline_by<Plan::inner_count, 1>(
        step_programs<T>(v), [v, chunks](std::size_t d, const instruction& i) { return cost(d, i, v, chunks); });
  }
};

}  // namespace plait
