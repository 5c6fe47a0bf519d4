#pragma once
// The two views of a pipeline schedule, in one format (Chrome trace, one track per stage):
//   - planned: write_planned_trace<Policy, G>(path) draws the constexpr timeline of the schedule
//     before anything runs, with each stage's forward taking its FLOPs' share of time and backward
//     twice that;
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
#include "../program/instruction.hpp"

namespace plait {

/// The planned schedule as trace events: `us_per_unit` microseconds per FLOP of forward (default:
/// the slowest stage's forward of one micro-batch takes 1000 us).
template <class Policy, RootedGraph G>
std::vector<trace_event> planned_events(double us_per_unit = 0) {
  constexpr auto& progs = Policy::schedule_programs;
  constexpr auto& t = Policy::template planned_timeline<G>;
  double slowest = 0;
  for (std::size_t s = 0; s < progs.size(); ++s)
    for (std::size_t k = 0; k < progs[s].size(); ++k)
      if (progs[s][k].op == opcode::forward) slowest = std::max(slowest, t.end[s][k] - (k ? t.end[s][k - 1] : 0.0));
  const double scale = us_per_unit > 0 ? us_per_unit : (slowest > 0 ? 1000.0 / slowest : 1.0);
  std::vector<trace_event> events;
  for (std::size_t s = 0; s < progs.size(); ++s)
    for (std::size_t k = 0; k < progs[s].size(); ++k) {
      const instruction& i = progs[s][k];
      if (i.op != opcode::forward && i.op != opcode::backward) continue;
      // It began where the instruction before it left the clock (a receive may have moved it on).
      const double begin = k ? t.end[s][k - 1] : 0.0, end = t.end[s][k];
      events.push_back({i.op == opcode::forward ? "forward" : "backward", std::uint32_t(s), trace_row::compute,
                        begin * scale, end * scale, std::int32_t(i.microbatch), 0});
    }
  return events;
}

template <class Policy, RootedGraph G>
void write_planned_trace(const std::filesystem::path& path, double us_per_unit = 0) {
  const auto events = planned_events<Policy, G>(us_per_unit);
  trace_metadata meta;
  meta.title = std::string("plait ") + Policy::name + " (" + Policy::schedule::name + "): planned";
  for (std::size_t s = 0; s < Policy::stage_count; ++s) meta.device_names.push_back("stage " + std::to_string(s));
  write_chrome_trace(path, std::span<const trace_event>(events), meta);
}

/// The idle share of one recorded step, averaged over devices: 1 - busy / step time, where busy is
/// the time a device spent in forward, loss, backward and optimizer instructions and the step time
/// runs from the first to the last event of the step on any device.
inline double measured_bubble(std::span<const trace_event> events, std::int32_t step, std::size_t devices) {
  double first = 0, last = 0;
  bool any = false;
  std::vector<double> busy(devices, 0.0);
  for (const trace_event& e : events) {
    if (e.step != step || e.device >= devices) continue;
    first = any ? std::min(first, e.begin_us) : e.begin_us;
    last = any ? std::max(last, e.end_us) : e.end_us;
    any = true;
    if (e.row == trace_row::compute) busy[e.device] += e.end_us - e.begin_us;
  }
  if (!any || last <= first) return 0;
  double idle = 0;
  for (double b : busy) idle += (last - first) - b;
  return idle / ((last - first) * double(devices));
}

}  // namespace plait
