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

namespace plait {

namespace detail {
template <class B>
constexpr bool pc_trainable() {
  static_assert(splits_backward_v<B>,
                "plait: predictive coding is asked of a graph with a layer it cannot train. PC keeps every layer's "
                "output as a value node and needs each layer's input and weight gradients apart, from the layer "
                "alone: batchnorm2d (statistics over the batch), dropout (random), embedding, lstm, residual and "
                "branches are refused (the layer is named in the instantiation below). Fix: train this graph with "
                "train_step, or build the PC network from linear, conv2d, layernorm, activations, pooling and "
                "flatten.");
  return splits_backward_v<B>;
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
  static_assert(host_stage_layers<layout>::size == 0,
                "plait: predictive coding is asked of a graph with an on<cpu> host stage. The host stage runs "
                "outside the devices' programs, and PC updates every layer's output. Fix: place the whole graph "
                "on the devices.");
  static constexpr bool trainable = detail::pc_trainable_layers<layout>(std::make_index_sequence<layout::layer_count>{});

  /// Every device's predictive-coding program, per variant (indexed by pc_variant).
  static constexpr auto programs = std::array{pc_programs<Plan::inner_count>(Plan::programs, pc_variant::standard),
                                              pc_programs<Plan::inner_count>(Plan::programs, pc_variant::incremental),
                                              pc_programs<Plan::inner_count>(Plan::programs,
                                                                             pc_variant::fixed_prediction)};
  static_assert(verify_pc_programs<Plan::inner_count>(programs[0]) && verify_pc_programs<Plan::inner_count>(programs[1]) &&
                    verify_pc_programs<Plan::inner_count>(programs[2]),
                "plait: the predictive-coding programs of this policy do not verify: a message has no match, or the "
                "devices could wait on each other forever. Fix: report this as a plait bug, with the policy and the "
                "graph.");
};

}  // namespace plait
