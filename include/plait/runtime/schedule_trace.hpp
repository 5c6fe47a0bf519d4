#pragma once
// The two views of a policy's training step, in one format (Chrome trace, one track per device):
//   - planned: write_planned_trace<Policy, G>(path) draws the constexpr timeline of the programs
//     (policy/plan.hpp) before anything runs, with each stage's forward taking its FLOPs' share of
//     time and backward twice that;
//   - executed: model.write_trace(path) after model.enable_trace() and a step.
// measured_bubble(...) reads the idle share of a step back out of an executed trace.

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "../graph/chain.hpp"
#include "../io/chrome_trace.hpp"
#include "../io/trace.hpp"
#include "../policy/pc_plan.hpp"
#include "../policy/plan.hpp"
#include "../program/instruction.hpp"

namespace plait {

/// The planned training step of any policy as trace events (plan_of<Policy, G>::planned_timeline):
/// each device's forwards and backwards, a stage's forward taking its FLOPs' share of time and its
/// backward twice that, messages and collectives taking none. `us_per_unit` microseconds per FLOP of
/// forward (default: the slowest forward of one micro-batch takes 1000 us).
template <class Policy, RootedGraph G>
std::vector<trace_event> planned_events(double us_per_unit = 0) {
  using plan = plan_of<Policy, G>;
  constexpr auto& progs = plan::programs;
  constexpr auto& t = plan::planned_timeline;
  double slowest = 0;
  for (std::size_t d = 0; d < progs.size(); ++d)
    for (std::size_t k = 0; k < progs[d].size(); ++k)
      if (progs[d][k].op == opcode::forward)
        slowest = std::max(slowest, plan::stage_cost_table[progs[d][k].stage].forward);
  const double scale = us_per_unit > 0 ? us_per_unit : (slowest > 0 ? 1000.0 / slowest : 1.0);
  std::vector<trace_event> events;
  for (std::size_t d = 0; d < progs.size(); ++d)
    for (std::size_t k = 0; k < progs[d].size(); ++k) {
      const instruction& i = progs[d][k];
      if (i.op != opcode::forward && !is_backward(i.op)) continue;
      // It began its cost before its end (the plan's costs: policy/stage_costs.hpp).
      const double end = t.end[d][k], begin = end - plan::stage_cost_table[i.stage].of(i.op);
      events.push_back({to_string(i.op), std::uint32_t(plan::device_of[d]), trace_row::compute, begin * scale,
                        end * scale, std::int32_t(i.microbatch), 0});
    }
  return events;
}

/// Writes the planned training step of any policy as a Chrome trace, one track per device.
template <class Policy, RootedGraph G>
void write_planned_trace(const std::filesystem::path& path, double us_per_unit = 0) {
  using plan = plan_of<Policy, G>;
  const auto events = planned_events<Policy, G>(us_per_unit);
  trace_metadata meta;
  meta.title = std::string("plait ") + plan::name;
  if (*plan::schedule_name) meta.title += std::string(" (") + plan::schedule_name + ")";
  meta.title += ": planned";
  for (std::size_t d = 0; d < plan::physical_device_count; ++d)
    meta.device_names.push_back("device " + std::to_string(d));
  write_chrome_trace(path, std::span<const trace_event>(events), meta);
}

/// The planned predictive-coding step of T iterations on a batch of `rows` rows per replica
/// (pc_plan<...>::planned_timeline) as a Chrome trace, one track per device: its forward pass in
/// chunks, then each iteration's errors (the event's micro-batch field holds the iteration) and the
/// weights; an iteration of the most loaded device takes 1000 us.
template <class Policy, RootedGraph G, std::size_t T = 4>
void write_planned_pc_trace(const std::filesystem::path& path, pc_variant v = pc_variant::standard,
                            std::size_t rows = pc_chunk_rows * pc_forward_chunks) {
  using pc = pc_plan<plan_of<Policy, G>>;
  const auto progs = pc::template step_programs<T>(v);
  const auto t = pc::template planned_timeline<T>(v, rows);
  double slowest = 0;
  for (std::size_t d = 0; d < progs.size(); ++d)
    for (std::size_t k = 1; k < progs[d].size(); ++k)
      if (progs[d][k].op == opcode::pc_errors) slowest = std::max(slowest, t.end[d][k] - t.end[d][k - 1]);
  const double scale = slowest > 0 ? 1000.0 / slowest : 1.0;
  std::vector<trace_event> events;
  for (std::size_t d = 0; d < progs.size(); ++d) {
    std::int32_t iteration = -1;
    for (std::size_t k = 0; k < progs[d].size(); ++k) {
      const instruction& i = progs[d][k];
      if (i.op == opcode::pc_errors) ++iteration;
      const char* name = i.op == opcode::forward      ? "forward"
                         : i.op == opcode::pc_errors  ? "errors"
                         : i.op == opcode::pc_weights ? "weights"
                                                      : nullptr;
      if (!name) continue;
      const double begin = k ? t.end[d][k - 1] : 0.0;
      if (!(t.end[d][k] > begin)) continue;  // an empty chunk of the forward
      events.push_back({name, std::uint32_t(d), trace_row::compute, begin * scale, t.end[d][k] * scale,
                        i.op == opcode::pc_errors ? iteration : -1, 0});
    }
  }
  trace_metadata meta;
  meta.title = std::string("plait ") + plan_of<Policy, G>::name + ", predictive coding (" + to_string(v) +
               ", T = " + std::to_string(T) + "): planned";
  for (std::size_t d = 0; d < progs.size(); ++d) meta.device_names.push_back("device " + std::to_string(d));
  write_chrome_trace(path, std::span<const trace_event>(events), meta);
}

/// The idle share of one recorded step, averaged over devices: 1 - busy / step time, where busy is
/// the time a device spent in forward, loss, backward and optimizer instructions and the step time
/// runs from the first to the last event of the step on any device.
/// `device_of[d]`: the device logical device d runs on, where several take turns on one (chunked
/// pipeline schedules: plan_of<...>::device_of); busy time is summed per device.
inline double measured_bubble(std::span<const trace_event> events, std::int32_t step,
                              std::span<const std::size_t> device_of, std::size_t devices) {
  double first = 0, last = 0;
  bool any = false;
  std::vector<double> busy(devices, 0.0);
  for (const trace_event& e : events) {
    if (e.step != step || e.device >= device_of.size() || device_of[e.device] >= devices) continue;
    first = any ? std::min(first, e.begin_us) : e.begin_us;
    last = any ? std::max(last, e.end_us) : e.end_us;
    any = true;
    if (e.row == trace_row::compute) busy[device_of[e.device]] += e.end_us - e.begin_us;
  }
  if (!any || last <= first) return 0;
  double idle = 0;
  for (double b : busy) idle += (last - first) - b;
  return idle / ((last - first) * double(devices));
}
inline double measured_bubble(std::span<const trace_event> events, std::int32_t step, std::size_t devices) {
  std::vector<std::size_t> same(devices);
  for (std::size_t d = 0; d < devices; ++d) same[d] = d;
  return measured_bubble(events, step, same, devices);
}

}  // namespace plait
