// bench/run pipeline_bubble: the pipeline bubble, measured against the plan, and the zero-bubble
// schedule against 1F1B.
//
// An MLP of 8 equal layers (512 -> 512, relu between, MSE loss on random targets), batch 1024, on
// 2 host devices of one thread each: pipeline<2, microbatches<m>, S> for m in {1, 2, 4, 8, 16} and
// S in {gpipe, one_f_one_b, zb_h1, interleaved_1f1b<2>, zb_v} (the last two: 4 stages of 2 layers,
// two on each device, taking turns), and the zero-bubble schedules with spare_slots<1> at m >= 4
// (rows *_spare: one more activation slot per stage, messages read in place instead of copied),
// against single_device on one thread. Steps of every
// configuration are timed in alternating rounds in one run. The measured bubble is read from the
// executed trace (idle share of each step: 1 - busy / step time, averaged over the stages) and set
// beside the planned one (the schedule's programs timed with each stage's FLOPs: forward, the
// backward's input part B and its weight part W, policy/stage_costs.hpp) and the textbook
// (p-1)/(m+p-1) with F = B = W. The plan is also replayed with what the instructions took in the
// executed trace, twice: with their mean per kind and stage (replayed; replayed - planned is the FLOP
// model's error), and step by step with what each instruction took in that step (as run; messages cost
// nothing there): measured - as run is the runtime's overhead (messages, wake-ups, turns) and nothing
// else, and as run - replayed what the durations' spread from step to step adds to the critical path
// (the machine's: the same instruction takes longer in one step than in another).
//
// The machine's parallel ceiling, in the same rounds (bench/parallel_ceiling.hpp): the GEMMs of a
// step at m = 8 (each stage's forward, input-gradient and weight-gradient products of its 8
// micro-batches of 128 rows, as the stages run them) with the two stages' products on two threads,
// nothing shared, against all of them on one.
// A schedule's efficiency is its speedup over the plan's ideal (p (1 - planned bubble)) scaled by
// the ceiling over p: 1 means the pipeline is as fast as this machine runs the same products in
// parallel with nothing in between.

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "parallel_ceiling.hpp"

namespace {
using namespace plait;
using clock_type = std::chrono::steady_clock;

constexpr auto layer = linear<512> >> relu;
constexpr auto mlp = input<512> >> layer >> layer >> layer >> layer >> layer >> layer >> layer >> linear<512>;
constexpr std::size_t batch = 1024;  // micro-batches of 64..1024 rows: GEMMs large enough to run near the SGEMM rate

struct data {
  std::vector<float> x = std::vector<float>(batch * 512), t = std::vector<float>(batch * 512);
  data() {
    splitmix64 rng(9);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : t) v = rng.uniform(-1, 1);
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// The opcode a computing instruction's trace name stands for ("forward stage 2", "loss", ...).
std::size_t opcode_named(const char* name, std::size_t& stage) {
  const std::string n = name;
  for (std::size_t op = 0; op < opcode_count; ++op) {
    const std::string o = to_string(opcode(op));
    stage = 0;
    if (n == o) return op;
    if (n.rfind(o + " stage ", 0) == 0) {
      stage = std::stoul(n.substr(o.size() + 7));
      return op;
    }
  }
  return opcode_count;
}

// What each computing instruction took in the executed trace: the mean per (opcode, stage), the loss
// and the optimizer's step by opcode alone.
struct op_costs {
  static constexpr std::size_t stages = 8;
  std::array<std::array<double, stages>, opcode_count> sum{}, count{};

  void add(std::span<const trace_event> events, std::int32_t from_step) {
    for (const trace_event& e : events) {
      if (e.step < from_step || e.row != trace_row::compute || e.name == nullptr) continue;
      std::size_t stage = 0;
      const std::size_t op = opcode_named(e.name, stage);
      if (op == opcode_count || stage >= stages) continue;
      sum[op][stage] += e.end_us - e.begin_us;
      count[op][stage] += 1;
    }
  }
  double operator()(std::size_t, const instruction& i) const {
    const std::size_t op = std::size_t(i.op);
    const std::size_t s = i.op == opcode::forward || is_backward(i.op) ? std::size_t(i.stage) : 0;
    return s < stages && count[op][s] > 0 ? sum[op][s] / count[op][s] : 0.0;
  }
};

// What each computing instruction took in one step of the executed trace, by (opcode, the stage whose
// program ran it, micro-batch). The plan replayed with these is that step as it ran, but with messages
// that cost nothing: measured - this replay is what the runtime adds (messages, wake-ups, turns), and
// only that; the durations' own spread from step to step is on both sides.
struct step_costs {
  std::size_t microbatches = 1;
  std::vector<double> took;  // [stage][micro-batch][opcode], sized by what the step ran

  step_costs(std::span<const trace_event> events, std::int32_t step) {
    std::size_t stages = 1;
    for (const trace_event& e : events)
      if (e.step == step && e.row == trace_row::compute) {
        stages = std::max<std::size_t>(stages, e.device + 1);
        microbatches = std::max<std::size_t>(microbatches, e.microbatch < 0 ? 1 : std::size_t(e.microbatch) + 1);
      }
    took.assign(stages * microbatches * opcode_count, 0.0);
    for (const trace_event& e : events) {
      if (e.step != step || e.row != trace_row::compute || e.name == nullptr) continue;
      std::size_t named_stage = 0;
      const std::size_t op = opcode_named(e.name, named_stage);
      if (op != opcode_count)
        took[at(e.device, e.microbatch < 0 ? 0 : std::size_t(e.microbatch), op)] += e.end_us - e.begin_us;
    }
  }
  std::size_t at(std::size_t stage, std::size_t mb, std::size_t op) const {
    return (stage * microbatches + mb) * opcode_count + op;
  }
  double operator()(std::size_t stage, const instruction& i) const {
    const std::size_t k = at(stage, i.microbatch, std::size_t(i.op));
    return i.microbatch < microbatches && k < took.size() ? took[k] : 0.0;
  }
};

using replay_fn = double (*)(const step_costs&);  // the plan timed with one step's own costs

struct config {
  const char* schedule;
  std::size_t m;
  double planned, textbook;
  std::vector<double> ms, bubble, as_run;
  double (*round)(const data&, int, double&, double&, op_costs&);
  void (*write)(const std::string& prefix, const char* name);  // its planned and executed traces
  double (*replay)(const op_costs&);                           // the plan timed with the measured costs
  op_costs costs;
};

// One round: `steps` timed steps; returns ms per step, the mean measured bubble and, where `replay` is
// given, the mean bubble of the plan replayed with each step's own costs (as_run).
template <class Model>
double time_steps(Model& model, const data& d, int steps, double& bubble, op_costs& costs, replay_fn replay = nullptr,
                  double* as_run = nullptr) {
  auto opt = sgd{.lr = 1e-3f};
  const samples<shape<512>> x{d.x.data(), batch};
  const samples<shape<512>> t{d.t.data(), batch};
  model.enable_trace(1 << 12);
  const std::size_t first = model.steps();
  const auto t0 = clock_type::now();
  for (int s = 0; s < steps; ++s) model.train_step(x, t, mse, opt);
  const double ms = std::chrono::duration<double, std::milli>(clock_type::now() - t0).count() / steps;
  const auto events = model.trace().events();
  bubble = 0;
  const auto& device_of = Model::plan::device_of;
  for (int s = 0; s < steps; ++s) bubble += measured_bubble(events, std::int32_t(first + s), device_of, 2);
  bubble /= steps;
  if (replay != nullptr) {
    *as_run = 0;
    for (int s = 0; s < steps; ++s) *as_run += replay(step_costs(events, std::int32_t(first + s)));
    *as_run /= steps;
  }
  costs.add(events, std::int32_t(first));
  return ms;
}

template <class Policy>
auto& model_of() {
  static auto model = [] {
    constexpr std::size_t devices = plan_of<Policy, std::remove_const_t<decltype(mlp)>>::physical_device_count;
    auto m = place<Policy>(mlp, host_devices(devices, 1), {.max_batch = batch, .seed = 1});
    return m;
  }();
  return model;
}

using graph = std::remove_const_t<decltype(mlp)>;

// The plan of Policy timed with any cost (cost(stage, instruction)); its bubble.
template <class Policy, class Cost>
double replayed(const Cost& cost) {
  using plan = plan_of<Policy, graph>;
  if constexpr (plan::takes_turns)
    return plan_turn_timeline(plan::turn_order, plan::slots, cost, plan::reads).bubble_fraction();
  else
    return plan_mesh_timeline_by<plan::inner_count, plan::tensor_parallel_degree>(plan::programs, cost)
        .bubble_fraction();
}

template <class Policy>
double round_of(const data& d, int steps, double& bubble, double& as_run, op_costs& costs) {
  auto& model = model_of<Policy>();
  static bool warm = false;
  if (!warm) {
    double ignored;
    op_costs unused;
    time_steps(model, d, 2, ignored, unused);  // plans optimizer state, faults pages in
    warm = true;
  }
  if constexpr (std::is_same_v<Policy, single_device>) return time_steps(model, d, steps, bubble, costs);
  else return time_steps(model, d, steps, bubble, costs, &replayed<Policy, step_costs>, &as_run);
}
template <std::size_t M, class S, class... Options>
config make(const char* name) {
  using P = pipeline<2, microbatches<M>, S, Options...>;
  return {name,
          M,
          P::template planned_timeline<graph>.bubble_fraction(),
          P::bubble_fraction,
          {},
          {},
          {},
          &round_of<P>,
          [](const std::string& prefix, const char* schedule) {
            const std::string m = "_m" + std::to_string(M) + "_";
            write_planned_trace<P, graph>(prefix + m + "planned_" + schedule + ".json");
            model_of<P>().write_trace(prefix + m + "executed_" + schedule + ".json");
          },
          &replayed<P, op_costs>,
          {}};
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string trace;  // --trace PREFIX: each configuration's planned and executed traces
  for (int a = 1; a < argc; ++a) {
    if (std::strcmp(argv[a], "--quick") == 0) quick = true;
    if (std::strcmp(argv[a], "--trace") == 0 && a + 1 < argc) trace = argv[++a];
  }
  const int rounds = quick ? 3 : 7, steps = quick ? 2 : 4;
  const data d;
  std::vector<config> configs{make<1, gpipe>("gpipe"),
                              make<2, gpipe>("gpipe"),
                              make<4, gpipe>("gpipe"),
                              make<8, gpipe>("gpipe"),
                              make<16, gpipe>("gpipe"),
                              make<1, one_f_one_b>("one_f_one_b"),
                              make<2, one_f_one_b>("one_f_one_b"),
                              make<4, one_f_one_b>("one_f_one_b"),
                              make<8, one_f_one_b>("one_f_one_b"),
                              make<16, one_f_one_b>("one_f_one_b"),
                              make<1, zb_h1>("zb_h1"),
                              make<2, zb_h1>("zb_h1"),
                              make<4, zb_h1>("zb_h1"),
                              make<8, zb_h1>("zb_h1"),
                              make<16, zb_h1>("zb_h1"),
                              make<2, interleaved_1f1b<2>>("interleaved"),
                              make<4, interleaved_1f1b<2>>("interleaved"),
                              make<8, interleaved_1f1b<2>>("interleaved"),
                              make<16, interleaved_1f1b<2>>("interleaved"),
                              make<1, zb_v>("zb_v"),
                              make<2, zb_v>("zb_v"),
                              make<4, zb_v>("zb_v"),
                              make<8, zb_v>("zb_v"),
                              make<16, zb_v>("zb_v"),
                              make<4, zb_h1, spare_slots<1>>("zb_h1_spare"),
                              make<8, zb_h1, spare_slots<1>>("zb_h1_spare"),
                              make<16, zb_h1, spare_slots<1>>("zb_h1_spare"),
                              make<4, zb_v, spare_slots<1>>("zb_v_spare"),
                              make<8, zb_v, spare_slots<1>>("zb_v_spare"),
                              make<16, zb_v, spare_slots<1>>("zb_v_spare")};
  constexpr std::size_t cut = pipeline<2, microbatches<8>, zb_h1>::stages<graph>[0].last;  // layers of stage 0
  using layout = graph_layout<graph>;
  plait_bench::parallel_ceiling gemms(
      {plait_bench::mlp_step(plait_bench::linear_widths<layout>(0, cut), int(batch / 8), 8, true),
       plait_bench::mlp_step(plait_bench::linear_widths<layout>(cut, layout::layer_count), int(batch / 8), 8, false)});
  std::vector<double> single;
  for (int r = 0; r < rounds; ++r) {
    double ignored, none;
    op_costs unused;
    single.push_back(round_of<single_device>(d, steps, ignored, none, unused));
    for (auto& c : configs) {
      double bubble, as_run;
      c.ms.push_back(c.round(d, steps, bubble, as_run, c.costs));
      c.bubble.push_back(bubble);
      c.as_run.push_back(as_run);
    }
    gemms.round(steps);
  }
  const double one = median(single), ceiling = gemms.ceiling();
  std::printf(
      "pipeline_bubble: MLP of 8 layers 512x512, batch %zu, p = 2 host devices (1 thread each) vs 1 device, "
      "%d rounds x %d steps\n",
      batch, rounds, steps);
  std::printf(
      "single device: %.2f ms/step; the step's GEMMs at m = 8 (%s): %.2f ms on 1 thread, %.2f ms on 2: ceiling "
      "%.3f\n",
      one, gemms.describe().c_str(), gemms.median(gemms.serial), gemms.median(gemms.parallel), ceiling);
  std::printf("%-12s %4s %10s %8s %9s %9s %9s %9s %9s %9s %7s %9s %10s\n", "schedule", "m", "ms/step", "speedup",
              "measured", "planned", "error", "replayed", "as run", "overhead", "(p-1)/", "ideal", "efficiency");
  std::printf("%-12s %4s %10s %8s %9s %9s %9s %9s %9s %9s %7s %9s %10s\n", "", "", "", "", "bubble", "bubble", "",
              "bubble", "bubble", "", "(m+p-1)", "speedup", "");
  double worst = 0, worst_overhead = 0, worst_spare = 0, worst_overhead_spare = 0, speedup_m8 = 0, speedup_m8_gpipe = 0,
         speedup_m8_zb = 0, eff_m8 = 0, eff_m8_zb = 0, speedup_m8_il = 0, eff_m8_il = 0, speedup_m8_zbv = 0,
         eff_m8_zbv = 0;
  for (const auto& c : configs) {
    const double ms = median(c.ms), b = median(c.bubble), err = std::abs(b - c.planned);
    std::vector<double> added(c.bubble.size());  // measured - as run, per round
    for (std::size_t r = 0; r < added.size(); ++r) added[r] = c.bubble[r] - c.as_run[r];
    const double replayed = c.replay(c.costs), as_run = median(c.as_run), overhead = median(added);
    const double ideal = 2 * (1 - c.planned), efficiency = (one / ms) / (ideal * ceiling / 2);
    const bool spare = std::strstr(c.schedule, "_spare") != nullptr;  // an option beside the schedules: apart
    (spare ? worst_spare : worst) = std::max(spare ? worst_spare : worst, err);
    (spare ? worst_overhead_spare : worst_overhead) = std::max(spare ? worst_overhead_spare : worst_overhead, overhead);
    if (c.m == 8 && c.schedule[0] == 'o') speedup_m8 = one / ms, eff_m8 = efficiency;
    if (c.m == 8 && c.schedule[0] == 'g') speedup_m8_gpipe = one / ms;
    if (c.m == 8 && std::strcmp(c.schedule, "zb_h1") == 0) speedup_m8_zb = one / ms, eff_m8_zb = efficiency;
    if (c.m == 8 && c.schedule[0] == 'i') speedup_m8_il = one / ms, eff_m8_il = efficiency;
    if (c.m == 8 && std::strcmp(c.schedule, "zb_v") == 0) speedup_m8_zbv = one / ms, eff_m8_zbv = efficiency;
    std::printf("%-12s %4zu %10.2f %8.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %7.3f %9.3f %10.3f\n", c.schedule, c.m, ms,
                one / ms, b, c.planned, err, replayed, as_run, overhead, c.textbook, ideal, efficiency);
  }
  if (!trace.empty())
    for (const auto& c : configs) c.write(trace, c.schedule);
  // Ratios of two configurations: the median of the rounds' own ratios (both ran in every round, next
  // to each other), which a drift of the machine between rounds does not move.
  const auto find = [&](const char* schedule, std::size_t m) {
    for (const auto& c : configs)
      if (c.m == m && std::strcmp(c.schedule, schedule) == 0) return &c;
    return static_cast<const config*>(nullptr);
  };
  const auto paired = [&](const char* slow, const char* fast, std::size_t m) {
    const config *a = find(slow, m), *b = find(fast, m);
    std::vector<double> r;
    for (std::size_t k = 0; k < a->ms.size(); ++k) r.push_back(a->ms[k] / b->ms[k]);
    std::printf("%s over %s at m = %zu, per round: ", fast, slow, m);
    for (double x : r) std::printf("%.3f ", x);
    std::printf("(median %.3f; ratio of the medians %.3f)\n", median(r), median(a->ms) / median(b->ms));
    return median(r);
  };
  const double zb_over = paired("one_f_one_b", "zb_h1", 8);
  const double zbv_spare_m8 = paired("zb_v", "zb_v_spare", 8), zbv_spare_m16 = paired("zb_v", "zb_v_spare", 16);
  std::printf(
      "RESULT pipeline_bubble p=2 batch=%zu single_ms=%.3f max_bubble_error=%.3f max_runtime_overhead=%.3f "
      "speedup_m8=%.3f "
      "speedup_m8_gpipe=%.3f speedup_m8_zb=%.3f zb_over_1f1b_m8=%.3f ceiling=%.3f efficiency_m8=%.3f "
      "efficiency_m8_zb=%.3f speedup_m8_interleaved=%.3f efficiency_m8_interleaved=%.3f speedup_m8_zbv=%.3f "
      "efficiency_m8_zbv=%.3f max_bubble_error_spare=%.3f max_runtime_overhead_spare=%.3f zbv_spare_over_zbv_m8=%.3f "
      "zbv_spare_over_zbv_m16=%.3f\n",
      batch, one, worst, worst_overhead, speedup_m8, speedup_m8_gpipe, speedup_m8_zb, zb_over, ceiling, eff_m8,
      eff_m8_zb, speedup_m8_il, eff_m8_il, speedup_m8_zbv, eff_m8_zbv, worst_spare, worst_overhead_spare, zbv_spare_m8,
      zbv_spare_m16);
}
