#pragma once
// host_stage<Layout, Backend>: runs a graph's host stage (its leading on<cpu> layers,
// graph/host_stage_layers.hpp) for the device that holds layer 0, one micro-batch at a time, and hands the
// result to that device through its backend's staging (pinned buffers in turn on CUDA: the host
// prepares micro-batch k+1 while the device copies and computes micro-batch k).
//
// Memory, planned at place(...) on the host:
//   acts[i]  [rows, out_i]    each non-view layer's output but the last's, which is written into the
//                             staging buffer (the host stage keeps nothing for backward)
//   saved[i] [rows, saved_i]  what a layer writes beside its output
//   staging                   the backend's: [rows, out_width] pinned, twice (CUDA), or the device buffer itself

#include <array>
#include <cstddef>
#include <cstring>
#include <vector>

#include "../backend/traits.hpp"
#include "../core/concepts.hpp"
#include "../graph/host_stage_layers.hpp"
#include "../policy/policy.hpp"

namespace plait {

/// The graph's host stage fits the graph and the policy (compile errors that say why otherwise):
/// the on<cpu> marks come first, hold no parameters or state, leave layers for the devices, and every
/// device that holds layer 0 holds more than the host stage.
template <class Plan>
constexpr bool host_stage_fits() {
  using P = host_stage_layers<typename Plan::layout>;
  static_assert(P::leading,
                "plait: on<cpu>(...) marks layers after the first layer that runs on a device. The host stage is "
                "the graph's input path and runs before the devices. Fix: put the on<cpu> part first, right after "
                "input<...>, or remove the mark.");
  static_assert(P::untrained,
                "plait: on<cpu>(...) holds a layer with parameters or state. The host stage prepares the input and "
                "is not trained: no gradient goes back to the host. Fix: keep layers without parameters (scaling, "
                "flatten, pooling, dropout) in on<cpu>(...) and put the others after it.");
  static_assert(P::size < P::layer_count,
                "plait: on<cpu>(...) marks every layer of the graph. The host stage feeds the devices, which need "
                "at least one layer. Fix: leave at least the last layer outside on<cpu>(...).");
  constexpr bool each_device_runs_something = [] {
    constexpr std::size_t host = host_stage_layers<typename Plan::device_layout>::size;
    for (const stage_range& r : Plan::owned)
      if (r.first < host && (r.first > 0 || r.last <= host)) return false;
    return true;
  }();
  static_assert(each_device_runs_something,
                "plait: a device's part of the graph holds only on<cpu> layers. Such a device would have nothing to "
                "run: the host runs those layers for the device after them. Fix: cut the pipeline after the on<cpu> "
                "part, or give the policy fewer stages.");
  return true;
}

template <class Layout, class Backend>
class host_stage {
 public:
  using prefix = host_stage_layers<Layout>;
  using traits = device_traits<Backend>;
  static constexpr std::size_t size = prefix::size;
  static constexpr std::size_t out_width = prefix::out_width;

  host_stage(std::size_t rows, std::size_t slots, const typename traits::context& ctx)
      : staging_(traits::make_staging(rows * out_width, slots, ctx)) {
    static_for<size>([&]<std::size_t I>() {
      using B = typename Layout::template layer<I>;
      if constexpr (!B::is_view && I + 1 < size) acts_[I].resize(rows * B::out_shape::size);
      saved_[I].resize(rows * B::saved_count);
    });
  }

  /// What the random layers of the host stage draw from (as a device's layers: replica::set_step).
  struct draw {
    std::uint64_t seed = 0, step = 0;
    std::size_t first_sample = 0;
    bool training = true;
  };

  /// The host stage on n samples of x ([n, In] @ host), its output handed to input slot `slot`, `dst`
  /// ([n, out_width] @ the device of `ctx`), before the work enqueued next on the device. Returns dst.
  float* run(const typename traits::context& ctx, std::size_t slot, float* dst, const float* x, std::size_t n, draw d) {
    const auto& host = traits::host_side(ctx);
    float* to = staging_.begin(dst, n * out_width);  // [n, out_width] @ pinned host, or dst itself
    const float* in = x;                             // [n, in_i] @ host
    static_for<size>([&]<std::size_t I>() {
      using B = typename Layout::template layer<I>;
      float* out = B::is_view ? const_cast<float*>(in) : I + 1 == size ? to : acts_[I].data();  // [n, out_i] @ host
      B::forward(host,
                 forward_args<float>{
                     nullptr, in, out, saved_[I].data(), n, d.training, nullptr, d.seed, d.step, d.first_sample, {}});
      in = out;
    });
    if (in != to) std::memcpy(to, in, n * out_width * sizeof(float));  // the stage ends in a view
    staging_.end(ctx, dst, n * out_width, slot);
    return dst;
  }

  /// Input slot `slot` is no longer read by work enqueued after this (its micro-batch's last reader).
  void release(const typename traits::context& ctx, std::size_t slot) { staging_.release(ctx, slot); }

 private:
  std::array<std::vector<float>, size> acts_, saved_;
  typename traits::staging_type staging_;
};

}  // namespace plait
