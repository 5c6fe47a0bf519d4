#pragma once
// device_executor::run_together (runtime/executor.hpp): the logical devices that share one device,
// the stages of a chunked pipeline schedule, run on one thread in the device's order
// (plan_of<...>::turn_order, program/turns.hpp), one instruction at a time, as the order was
// verified. Each keeps its own memory, activation slots, messages and communication worker; only
// the thread is shared, so no two of them compute at once and no wake-up stands between them.

#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>

#include "executor.hpp"

namespace plait {

template <class Plan, class Backend>
template <class Job>
void device_executor<Plan, Backend>::run_together(device_executor* const* all, std::size_t p, Job& job,
                                                  std::uint64_t step) {
  if constexpr (Plan::takes_turns && !Job::predictive_coding) {
    constexpr std::size_t V = Plan::turns_per_device;
    const auto& members = Plan::turn_members[p];
    auto hs = [&]<std::size_t... I>(std::index_sequence<I...>) {
      return std::array<handler<Job>, V>{handler<Job>{*all[members[I]], job, step}...};
    }(std::make_index_sequence<V>{});
    const auto at = [&](std::size_t d) {  // d's handler
      std::size_t v = 0;
      while (members[v] != d) ++v;
      return v;
    };
    if constexpr (Job::training) {
      for (auto& h : hs) h.mem.begin_step(step);
      for (std::size_t n = 0; n < Plan::turn_order.length[p]; ++n) {
        const auto [d, pc] = Plan::turn_order.order[p][n];
        execute_one(Plan::programs[d][pc], hs[at(d)]);
      }
    } else {
      for (std::size_t n = 0; n < Plan::inference_turn_order.length[p]; ++n) {
        const auto [d, pc] = Plan::inference_turn_order.order[p][n];
        execute_one(Plan::inference_programs[d][pc], hs[at(d)]);
      }
    }
    for (auto& h : hs) h.release_held();  // all first: a stage may wait below for another's release
    for (auto& h : hs) {
      h.ex.queue_.wait();
      h.await_all_sent();
    }
  } else {
    (void)all, (void)p, (void)job, (void)step;
  }
}

}  // namespace plait
