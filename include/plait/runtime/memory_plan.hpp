#pragma once
// memory_plan: the bytes each device of a model holds, by use, known before anything is allocated
// and checked against place_options::memory_budget.
//
//   auto m = place<replicate<2, shard_optimizer>>(net, host_devices(2), {.max_batch = 256}, adam{});
//   std::cout << m.memory_plan();  // or plan_memory<...>(net, devices, options, adam{}), before place
//
//   memory plan              device 0   device 1
//     parameters              6.6 KiB    6.6 KiB
//     gradients               6.6 KiB    6.6 KiB
//     activations            54.0 KiB   54.0 KiB
//     backward gradients     32.0 KiB   32.0 KiB
//     per-sample losses         512 B      512 B
//     gradient shard          3.3 KiB    3.3 KiB
//     optimizer state         6.6 KiB    6.6 KiB
//     total                 109.7 KiB  109.7 KiB
//     peak 109.7 KiB per device, no budget
//
// The numbers are the ones allocated: device_memory reserves its arena through an arena_ledger, which
// counts each buffer (alignment included) under its use, and the optimizer's state is sized by
// optimizer_floats, the count every step plans it for. A device whose total would exceed the budget is
// refused before its memory is allocated, with a plait error naming the device, its total, the budget
// and its three largest uses.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "../backend/arena.hpp"
#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "../graph/frozen.hpp"
#include "../policy/policy.hpp"
#include "options.hpp"

namespace plait {

/// What a device's bytes are for. Per activation slot (micro-batch in flight): activations, stage
/// inputs, input gradients and kept output gradients; the rest once per device.
enum class memory_use : std::uint8_t {
  parameters,             // the owned layers' parameters [Pd]
  gradients,              // their gradients [Pd]
  layer_state,            // non-trainable state (running statistics) [S]
  activations,            // each owned layer's output and what it saves for backward, per slot
  stage_inputs,           // the stage's received input (or the copied-in batch, or the host stage's output), per slot
  input_gradients,        // the gradient of the stage's input, sent back, per slot
  kept_output_gradients,  // output gradients kept from B to W (zero-bubble schedules), per slot
  backward_gradients,     // the two ping-pong gradient buffers of a backward
  loss_rows,              // per-sample losses
  gradient_shard,         // this replica's part of the reduced gradients (sharded optimizer)
  targets,                // the micro-batch's targets, copied in (device memory only)
  optimizer_state,        // the optimizer's state (momentum, moments), of its shard when sharded
  predictive_coding,      // value nodes and errors, planned by the first pc_step
};
inline constexpr std::size_t memory_use_count = std::size_t(memory_use::predictive_coding) + 1;

constexpr const char* memory_use_name(memory_use u) {
  constexpr const char* names[memory_use_count] = {"parameters",
                                                   "gradients",
                                                   "layer state",
                                                   "activations",
                                                   "stage inputs",
                                                   "input gradients",
                                                   "kept output gradients",
                                                   "backward gradients",
                                                   "per-sample losses",
                                                   "gradient shard",
                                                   "targets",
                                                   "optimizer state",
                                                   "predictive coding"};
  return names[std::size_t(u)];
}

/// "1.5 MiB (1572864 bytes)" style sizes: the unit, then (with `exact`) the byte count.
inline std::string format_bytes(std::size_t bytes, bool exact = false) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = double(bytes);
  std::size_t u = 0;
  while (v >= 1024.0 && u + 1 < std::size(units)) v /= 1024.0, ++u;
  char text[48];
  if (u == 0) std::snprintf(text, sizeof text, "%zu B", bytes);
  else std::snprintf(text, sizeof text, "%.1f %s", v, units[u]);
  return exact && u > 0 ? cat(text, " (", bytes, " bytes)") : std::string(text);
}

/// Bytes by use on one device.
struct memory_usage {
  std::array<std::size_t, memory_use_count> bytes{};

  std::size_t& operator[](memory_use u) { return bytes[std::size_t(u)]; }
  std::size_t operator[](memory_use u) const { return bytes[std::size_t(u)]; }
  std::size_t total() const {
    std::size_t n = 0;
    for (std::size_t b : bytes) n += b;
    return n;
  }
  /// The `n` largest non-empty uses, largest first (ties in the order of memory_use).
  std::vector<std::pair<memory_use, std::size_t>> largest(std::size_t n) const {
    std::vector<std::pair<memory_use, std::size_t>> all;
    for (std::size_t k = 0; k < memory_use_count; ++k)
      if (bytes[k] > 0) all.emplace_back(memory_use(k), bytes[k]);
    std::stable_sort(all.begin(), all.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (all.size() > n) all.resize(n);
    return all;
  }
  memory_usage& operator+=(const memory_usage& o) {
    for (std::size_t k = 0; k < memory_use_count; ++k) bytes[k] += o.bytes[k];
    return *this;
  }
  bool operator==(const memory_usage&) const = default;
};

/// An arena_plan that also counts what each reservation takes (its aligned size) under a use; the
/// usage's total is the arena's size.
class arena_ledger {
 public:
  template <class T>
  std::size_t reserve(memory_use u, std::size_t count) {
    const std::size_t before = plan_.bytes();
    const std::size_t at = plan_.template reserve<T>(count);
    usage_[u] += plan_.bytes() - before;
    return at;
  }
  std::size_t bytes() const { return plan_.bytes(); }
  const memory_usage& usage() const { return usage_; }

 private:
  arena_plan plan_;
  memory_usage usage_;
};

/// One logical device of the policy: the mesh's device `device`, running on device `runs_on` (the
/// same, except under chunked schedules, whose stages take turns on a device and share its memory).
struct device_memory_plan {
  std::size_t device = 0;
  std::size_t runs_on = 0;
  memory_usage usage;
  std::size_t total() const { return usage.total(); }
};

/// The memory of a model's devices (this process's, in order), and the budget it was checked against.
struct memory_plan {
  std::vector<device_memory_plan> devices;
  std::size_t budget = 0;  // bytes per device (place_options::memory_budget); 0: none

  /// What device `runs_on` holds: the usage of every logical device that runs on it.
  memory_usage on_device(std::size_t runs_on) const {
    memory_usage u;
    for (const auto& d : devices)
      if (d.runs_on == runs_on) u += d.usage;
    return u;
  }
  /// The largest total of a device: what the budget must hold.
  std::size_t peak() const {
    std::size_t p = 0;
    for (const auto& d : devices) p = std::max(p, on_device(d.runs_on).total());
    return p;
  }

  /// One row per use that any device holds, one column per logical device, then the totals.
  std::string table() const {
    const bool turns = std::any_of(devices.begin(), devices.end(), [](const auto& d) { return d.device != d.runs_on; });
    std::vector<std::string> heads;
    std::size_t width = 11;
    for (const auto& d : devices) {
      heads.push_back(turns ? cat("stage ", d.device, "@", d.runs_on) : cat("device ", d.device));
      width = std::max(width, heads.back().size() + 2);
    }
    const auto cell = [&](std::string s) { return std::string(width > s.size() ? width - s.size() : 1, ' ') + s; };
    const auto row = [&](std::string name, auto value) {
      std::string line = "  " + name + std::string(name.size() < 20 ? 20 - name.size() : 1, ' ');
      for (const auto& d : devices) line += cell(value(d));
      return line + "\n";
    };
    std::string out = "memory plan" + std::string(11, ' ');
    for (const auto& h : heads) out += cell(h);
    out += "\n";
    for (std::size_t k = 0; k < memory_use_count; ++k) {
      const auto u = memory_use(k);
      if (std::none_of(devices.begin(), devices.end(), [&](const auto& d) { return d.usage[u] > 0; })) continue;
      out += row(memory_use_name(u), [&](const device_memory_plan& d) { return format_bytes(d.usage[u]); });
    }
    out += row("total", [](const device_memory_plan& d) { return format_bytes(d.total()); });
    out += budget ? cat("  budget ", format_bytes(budget), " per device, peak ", format_bytes(peak()), "\n")
                  : cat("  peak ", format_bytes(peak()), " per device, no budget\n");
    return out;
  }
  friend std::ostream& operator<<(std::ostream& os, const memory_plan& p) { return os << p.table(); }
};

/// Refuses device `runs_on` holding `u` when that exceeds `budget` (0: no budget). `when` says what
/// would allocate it ("place(...)", "the optimizer's state").
inline void check_memory_budget(std::size_t runs_on, const memory_usage& u, std::size_t budget, const char* when) {
  if (budget == 0 || u.total() <= budget) return;
  std::string largest;
  const auto top = u.largest(3);
  for (std::size_t k = 0; k < top.size(); ++k)
    largest += cat(k == 0                ? ""
                   : k + 1 == top.size() ? " and "
                                         : ", ",
                   memory_use_name(top[k].first), " ", format_bytes(top[k].second));
  const memory_use first = top.front().first;
  const char* fix =
      first == memory_use::optimizer_state
          ? "shard the optimizer's state over the replicas (replicate<N, shard_optimizer>), take an optimizer with "
            "less state (sgd), or raise place_options.memory_budget"
      : first == memory_use::parameters || first == memory_use::gradients || first == memory_use::layer_state
          ? "split the model over more devices (pipeline<S, ...>, partition<N>), or raise place_options.memory_budget"
          : "lower place_options.max_batch (activations are planned for its share per micro-batch), run more "
            "micro-batches, or raise place_options.memory_budget";
  fail(cat("device ", runs_on, " would hold ", format_bytes(u.total(), true), " for ", when,
           ", over place_options.memory_budget of ", format_bytes(budget, true)),
       cat("its largest uses are ", largest), fix);
}

/// Refuses a plan one of whose devices exceeds the plan's budget, naming the first such device.
inline void check_memory_budget(const memory_plan& p, const char* when) {
  for (const auto& d : p.devices) check_memory_budget(d.runs_on, p.on_device(d.runs_on), p.budget, when);
}

/// Floats of optimizer state per state slot on the mesh's device d (m: its device_memory, or anything
/// with owned() and param_size()): its shard of the reduced gradients when sharded, else its
/// trainable parameters. What every step plans the state for (train_step.hpp, accumulate_step.hpp).
template <class Plan, class Memory>
std::size_t optimizer_floats(const Memory& m, std::size_t d) {
  const std::size_t shard = Plan::shard_floats[d];
  return shard ? shard : trainable_floats<typename Plan::device_layout>(m);
}

/// The device_memory plan of the mesh's device d for `max_batch` samples, as placed_devices builds it
/// (runtime_memory_plan checks that the two agree under every policy it places).
template <class Plan, class Memory>
typename Memory::plan device_plan_of(std::size_t d, std::size_t max_batch) {
  const std::size_t rows =
      shard_of(shard_of(max_batch, Plan::data_parallel_degree, 0).size(), Plan::microbatch_count, 0).size();
  return {.owned = Plan::owned[d],
          .rows = rows,
          .slots = Plan::slots[d],
          .shard_floats = Plan::shard_floats[d],
          .target_floats = Plan::layout::output_shape::size,
          .keep_output_grads = Plan::splits_backward};
}

/// The memory place(...) would plan on every device of Plan, allocating nothing; with `state_per_param`
/// floats of optimizer state per parameter (Memory: placed_devices' memory_type).
template <class Plan, class Memory>
memory_plan planned_at_place(const place_options& o, std::size_t state_per_param) {
  memory_plan p;
  p.budget = o.memory_budget;
  for (std::size_t d = 0; d < Plan::device_count; ++d) {
    const auto mp = device_plan_of<Plan, Memory>(d, o.max_batch);
    struct params {
      stage_range r;
      std::size_t n;
      stage_range owned() const { return r; }
      std::size_t param_size() const { return n; }
    };
    const auto [lo, hi] = Memory::arena_layout::param_bounds(mp.owned);
    memory_usage u = Memory::planned_usage(mp);
    u[memory_use::optimizer_state] =
        state_per_param * optimizer_floats<Plan>(params{mp.owned, hi - lo}, d) * sizeof(float);
    p.devices.push_back({d, Plan::device_of[d], u});
  }
  return p;
}

/// This process's devices as they hold memory now: what place allocated, the optimizer's state planned
/// so far and predictive coding's (Devices: placed_devices).
template <class Plan, class Devices>
memory_plan planned_memory(const Devices& devices) {
  memory_plan p;
  p.budget = devices.options().memory_budget;
  for (std::size_t l = 0; l < devices.local_count(); ++l) {
    const std::size_t d = devices.first() + l;
    p.devices.push_back({d, Plan::device_of[d], devices.memory(l).usage()});
  }
  return p;
}

/// The same with the state `opt` needs in place of the state planned so far.
template <class Plan, class Devices, class Opt>
memory_plan planned_memory(const Devices& devices, const Opt& opt) {
  memory_plan p = planned_memory<Plan>(devices);
  for (std::size_t l = 0; l < p.devices.size(); ++l)
    p.devices[l].usage[memory_use::optimizer_state] =
        opt.state_per_param() * optimizer_floats<Plan>(devices.memory(l), p.devices[l].device) * sizeof(float);
  return p;
}

/// "adam's state": what a refusal says the optimizer's state is.
template <class Opt>
std::string state_name() {
  if constexpr (requires { std::string(Opt::name); }) return cat(std::string(Opt::name), "'s state");
  else return "the optimizer's state";
}

/// Plans `opt`'s state on every device of `devices`, once every device is known to stay within the
/// budget: refused, nothing is allocated. A step with `opt` then allocates nothing.
template <class Plan, class Devices, class Opt>
void plan_optimizer_state(Devices& devices, const Opt& opt) {
  check_memory_budget(planned_memory<Plan>(devices, opt), state_name<Opt>().c_str());
  for (std::size_t l = 0; l < devices.local_count(); ++l) {
    const auto on = devices.on_device(l);
    auto& m = devices.memory(l);
    m.template optimizer_state<Opt>(opt.state_per_param() * optimizer_floats<Plan>(m, devices.first() + l));
  }
}

/// Gives each of `devices` the budget of its options, which it checks before it plans memory a step
/// asks for (the optimizer's state of a step without plan_optimizer, predictive coding's).
template <class Plan, class Devices>
void set_memory_budgets(Devices& devices) {
  for (std::size_t l = 0; l < devices.local_count(); ++l)
    devices.memory(l).set_memory_budget(devices.options().memory_budget, Plan::device_of[devices.first() + l]);
}

}  // namespace plait
