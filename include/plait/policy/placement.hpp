#pragma once
// placement<D, microbatches<M>, Schedule>: D devices, named by the graph's on<d>(...) marks
// (graph/on.hpp).
//
// What it represents: the graph cut where the pinned device changes; each run of layers is a stage
// on the device its marks name. It is a pipeline whose stage s runs on device device_of_stage[s]
// rather than on device s: the same schedules (M = 1: plain model parallelism, activations moved
// from device to device), the same compile-time verification, with the messages addressed to the
// devices that hold the neighbouring stages. A CPU preprocessing stage feeding a model on another
// device is `input<...> >> on<1>(preprocess) >> on<0>(model)` under placement<2>.
//
// Requirements (compile errors otherwise): the graph has marks; they name devices 0 .. D-1, each
// holding exactly one stage (each device's layers are contiguous in the graph).

#include <array>
#include <cstddef>

#include "../graph/layout.hpp"
#include "../graph/on.hpp"
#include "../program/schedule.hpp"
#include "../program/verify.hpp"
#include "pipeline.hpp"
#include "policy.hpp"

namespace plait {

namespace detail {
template <RootedGraph G>
struct pins {
  using L = graph_layout<G>;
  static constexpr std::size_t n = L::layer_count;
  /// Each layer's device: its mark, or the device of the marked layer before it (after it, at the start).
  static constexpr auto device = [] {
    std::array<std::size_t, n> d{};
    static_for<n>([&]<std::size_t I>() {  // on<cpu> layers belong to the device of the layers after them
      constexpr std::size_t pin = pinned_device_of<typename L::template layer<I>>;
      d[I] = pin == cpu ? unpinned : pin;
    });
    std::size_t first = unpinned;
    for (std::size_t i = 0; i < n && first == unpinned; ++i) first = d[i];
    std::size_t last = first;
    for (auto& x : d) x = x == unpinned ? last : (last = x);
    return d;
  }();
  static constexpr bool any = n > 0 && device[0] != unpinned;
  static constexpr std::size_t stage_count = [] {
    std::size_t s = n > 0;
    for (std::size_t i = 1; i < n; ++i) s += device[i] != device[i - 1];
    return s;
  }();
  static constexpr auto stages = [] {
    std::array<stage_range, stage_count> r{};
    std::size_t s = 0;
    for (std::size_t i = 1; i <= n; ++i)
      if (i == n || device[i] != device[i - 1]) {
        r[s].last = i;
        if (s + 1 < stage_count) r[++s].first = i;
      }
    return r;
  }();
  static constexpr auto device_of_stage = [] {
    std::array<std::size_t, stage_count> d{};
    for (std::size_t s = 0; s < stage_count; ++s) d[s] = device[stages[s].first];
    return d;
  }();
  /// Devices 0 .. stage_count-1, each holding exactly one stage.
  static constexpr bool one_stage_per_device = [] {
    std::array<std::size_t, stage_count> held{};
    for (std::size_t s = 0; s < stage_count; ++s) {
      if (device_of_stage[s] >= stage_count) return false;
      ++held[device_of_stage[s]];
    }
    for (auto h : held)
      if (h != 1) return false;
    return true;
  }();
};
}  // namespace detail

template <std::size_t D, class Micro = microbatches<1>, class Sched = gpipe>
struct placement {
  static_assert(D >= 1,
                "plait: placement<0> has no devices. Fix: give the number of devices the graph's on<d> marks name.");
  static_assert(
      is_microbatches<Micro>::value,
      "plait: placement's second argument is not microbatches<M>. Fix: write placement<D, microbatches<M>, Schedule>.");
  static_assert(Schedule<Sched>,
                "plait: placement's second argument is not a schedule. Fix: use gpipe or one_f_one_b.");
  static_assert(!is_chunked_schedule<Sched>,
                "plait: placement<D, M, Schedule> is given a chunked schedule (interleaved_1f1b, zb_v). The graph's "
                "on<d> marks give each device one part. Fix: use gpipe, one_f_one_b or zb_h1, or pipeline<S, M, "
                "Schedule> without marks.");
  static constexpr std::size_t microbatch_count = Micro::count;
  static constexpr std::size_t data_parallel_degree = 1;
  static constexpr const char* name = "placement";

  static constexpr std::size_t device_count = D;

  template <RootedGraph G>
  static constexpr auto stages = [] {
    using P = detail::pins<G>;
    static_assert(P::any,
                  "plait: placement<> is given a graph without on<D>(...) marks. placement puts each marked part of "
                  "the graph on its device. Fix: mark the parts, e.g. input<8> >> on<1>(f) >> on<0>(g), or use "
                  "pipeline<S> to cut the graph for you.");
    static_assert(!P::any || P::stage_count == D,
                  "plait: the graph's on<d>(...) marks and placement<D> disagree on the number of devices. Each run "
                  "of layers on one device is a part of its own. Fix: make D the number of devices the marks name.");
    static_assert(!P::any || P::stage_count != D || P::one_stage_per_device,
                  "plait: the graph's on<d>(...) marks do not give each device one contiguous part. placement<D> "
                  "needs devices 0 .. D-1, each holding one run of layers. Fix: number the devices from 0 without "
                  "gaps and keep each device's layers together.");
    std::array<stage_range, D> r{};
    if constexpr (P::any && P::stage_count == D)
      for (std::size_t s = 0; s < D; ++s) r[s] = P::stages[s];
    return r;
  }();

  /// Device d holds the stage placed on it.
  template <RootedGraph G>
  static constexpr auto owned = [] {
    using P = detail::pins<G>;
    std::array<stage_range, D> o{};
    if constexpr (P::stage_count == D && P::one_stage_per_device)
      for (std::size_t s = 0; s < D; ++s) o[P::device_of_stage[s]] = stages<G>[s];
    return o;
  }();

  /// Stage s's schedule program on device device_of_stage[s], its messages addressed to devices.
  template <RootedGraph G>
  static constexpr auto programs = [] {
    using P = detail::pins<G>;
    constexpr auto by_stage = Sched::template programs<D, Micro::count>();
    static_assert(verify_messages(by_stage).kind == verdict::ok,
                  "plait: the schedule's programs do not verify for this placement. Fix: report this as a plait bug.");
    auto out = by_stage;
    if constexpr (P::stage_count == D && P::one_stage_per_device)
      for (std::size_t s = 0; s < D; ++s) {
        auto p = by_stage[s];
        for (instruction& i : p)
          if ((i.op == opcode::send || i.op == opcode::recv) && i.peer >= 0)
            i.peer = std::int16_t(P::device_of_stage[std::size_t(i.peer)]);
        out[P::device_of_stage[s]] = p;
      }
    return out;
  }();
};

static_assert(Policy<placement<2>>);

}  // namespace plait
