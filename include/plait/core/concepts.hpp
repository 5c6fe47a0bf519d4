#pragma once
// The concepts at plait's public boundaries.
//
// LayerSpec: what a user writes in a graph expression (`linear<256>`, `relu`, `flatten`).
//   An empty literal type that names only what the layer owns. Requirements:
//   - `static constexpr bool is_layer = true;`
//   - `template <Shape In> struct bound`: the layer bound to its input shape (a BoundLayer).
//     Instantiating `bound<In>` for an input the layer cannot take fails with a plait message.
//
// BoundLayer: a layer whose input shape is known. Requirements:
//   - `in_shape`, `out_shape` (Shape types);
//   - `param_count`  : floats of parameters (weights then biases), laid out by the layer;
//   - `saved_count`  : floats per sample kept from forward for backward, beyond the layer's output;
//   - `flops`        : forward FLOPs per sample (multiply-add = 2);
//   - `is_view`      : the output is the input reinterpreted (no memory, no work);
//   - `in_place_grad`: backward may write dx over dy (element-wise layers);
//   - `init(params, rng)`, `forward(ctx, forward_args)`, `backward(ctx, backward_args)`,
//     templated on the execution context and the scalar type.
//   Optional:
//   - `state_count`  : floats of non-trainable state the layer keeps (batchnorm's running
//                      statistics, per-step scratch that is not per sample); default 0;
//   - `init_state(state)`: its initial values (default: zeros).
//   - `replica_sum_count`: doubles the layer sums across data-parallel replicas in one call of
//                      `replica_sum` (synchronised batchnorm); default 0 (it never calls it).
//   - `splits_backward`: backward runs its input part alone (dparams null) or its weight part alone
//                      (dx null), each giving the whole backward's bits (zero-bubble schedules defer
//                      the weight part; predictive coding needs both apart); default false.
//   - `pc_trainable`  : false for a layer whose backward splits but that predictive coding cannot
//                      train (batchnorm2d couples a batch's samples, embedding reads token ids).
//   - `split_kept_count`: floats per sample that a split backward keeps from its input part to its
//                      weight part (backward_args::kept), beside the output gradient the runtime keeps:
//                      a composite's inner output gradients, an LSTM's gate gradients; default 0.

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "shape.hpp"

namespace plait {

template <class T>
concept LayerSpec = std::is_empty_v<T> && requires {
  { T::is_layer } -> std::convertible_to<bool>;
} && T::is_layer;

template <class B>
concept BoundLayer = requires {
  typename B::in_shape;
  typename B::out_shape;
  { B::param_count } -> std::convertible_to<std::size_t>;
  { B::saved_count } -> std::convertible_to<std::size_t>;
  { B::flops } -> std::convertible_to<std::size_t>;
  { B::is_view } -> std::convertible_to<bool>;
  { B::in_place_grad } -> std::convertible_to<bool>;
} && Shape<typename B::in_shape> && Shape<typename B::out_shape>;

/// Sums buffers of doubles across the replicas that split one batch (data parallelism), so that a
/// layer can use statistics of the whole batch (synchronised batchnorm). Every replica calls it
/// with the same n at the same point of its step; on return every replica holds the same sums,
/// bitwise (summed in replica order). Empty (a no-op) where one replica sees the whole batch.
struct replica_sum {
  void (*fn)(void* ctx, double* data, std::size_t n) = nullptr;
  void* ctx = nullptr;
  void operator()(double* data, std::size_t n) const {
    if (fn) fn(ctx, data, n);
  }
};

/// What a layer's forward reads and writes, for a batch of `batch` samples.
/// `training` is false in predict/evaluate (dropout off, batchnorm uses running statistics).
/// `seed`, `step` and `first_sample` (the global index of this device's first sample in the batch)
/// let random layers draw the same numbers for a sample whatever the policy splits.
template <class T>
struct forward_args {
  const T* params;  // [param_count]
  const T* x;       // [batch, in_shape::size]
  T* y;             // [batch, out_shape::size]
  T* saved;         // [batch, saved_count]
  std::size_t batch;
  bool training = true;
  T* state = nullptr;  // [state_count]
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  std::size_t first_sample = 0;
  replica_sum replicas{};
  const std::uint64_t* step_at = nullptr;  // [1] @ the device: where random layers read the step, when set
};

/// What a layer's backward reads and writes. `dy` may be overwritten (it is scratch once read).
/// `dx` is null when no one needs the input's gradient (the first layer). `dparams` is null when no
/// one needs the parameters' gradient (predictive coding's inference iterations), only for layers
/// that declare `splits_backward = true` (splits_backward_v below).
/// `accumulate`: add to dparams instead of overwriting (micro-batches).
template <class T>
struct backward_args {
  const T* params;  // [param_count]
  const T* x;       // [batch, in_shape::size]
  const T* y;       // [batch, out_shape::size]
  const T* saved;   // [batch, saved_count]
  T* dy;            // [batch, out_shape::size]
  T* dx;            // [batch, in_shape::size] or null
  T* dparams;       // [param_count]
  std::size_t batch;
  bool accumulate;
  T* state = nullptr;  // [state_count]
  std::uint64_t seed = 0;
  std::uint64_t step = 0;
  std::size_t first_sample = 0;
  replica_sum replicas{};
  const std::uint64_t* step_at = nullptr;  // [1] @ the device: where random layers read the step, when set
  /// [batch, split_kept_count] or null: where a split backward's input part (dparams null) keeps what its
  /// weight part (dx null, the same kept) reads instead of computing it again. Given to both parts of one
  /// micro-batch by a schedule that splits; null otherwise, and then each part computes alone from dy.
  T* kept = nullptr;
};

/// Whether bound layer B's backward runs either part alone: its input part with dparams null, its
/// weight part with dx null (layers say `static constexpr bool splits_backward = true`).
template <class B>
inline constexpr bool splits_backward_v = [] {
  if constexpr (requires { B::splits_backward; }) return bool{B::splits_backward};
  else return false;
}();

/// Floats per sample bound layer B keeps from its input part to its weight part (backward_args::kept).
template <class B>
inline constexpr std::size_t split_kept_count_of = [] {
  if constexpr (requires { B::split_kept_count; }) return std::size_t{B::split_kept_count};
  else return std::size_t{0};
}();

/// Doubles a bound layer sums across replicas in one call (0 unless it declares replica_sum_count).
template <class B>
inline constexpr std::size_t replica_sum_count_of = [] {
  if constexpr (requires { B::replica_sum_count; }) return std::size_t{B::replica_sum_count};
  else return std::size_t{0};
}();

/// Floats of non-trainable state of a bound layer (0 unless it declares state_count).
template <class B>
inline constexpr std::size_t state_count_of = [] {
  if constexpr (requires { B::state_count; }) return std::size_t{B::state_count};
  else return std::size_t{0};
}();

}  // namespace plait
