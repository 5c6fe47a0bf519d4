// bench/run policy_matrix: one model under every policy, side by side in one run.
//
// MLP 784 -> 1024 -> 1024 -> 1024 -> 10, batch 512, SGD, one thread per logical host device, under
// single_device, replicate<2>, pipeline<2, microbatches<8>, one_f_one_b>, partition<2>, and the mesh
// replicate<2, partition<2>> (4 logical devices on the 2 cores: oversubscribed, and said so in the
// table). Steps of all policies are timed in alternating rounds (median over rounds). For each:
// throughput, bytes each device sends per step (from the generated programs: an all-reduce of n
// floats over g devices sends 2(g-1)/g * n floats per device, an all-gather (g-1)/g * n, a message
// its size), and the largest planned memory of one device (parameters, gradients, activations,
// optimizer state). partition2_speedup = single time / partition<2> time. Then a model of two equal
// branches, concat(...), on one device and under partition<2> (one branch per device):
// branches2_speedup.
//
// The machine's parallel ceiling for replicate<2>, partition<2> and the pipeline, in the same rounds
// (bench/parallel_ceiling.hpp): the step's GEMMs in the split that policy gives each device
// (replicate: the whole MLP at 256 rows; partition: its column and row slices at 512 rows, from
// partition<2>'s device graph; the pipeline: each stage's layers, 8 micro-batches of 64 rows) on two
// threads with nothing shared, against both devices' GEMMs on one thread. efficiency = speedup /
// ceiling; for the pipeline, speedup / ((1 - planned bubble) x ceiling), its ideal speedup
// p (1 - bubble) scaled by ceiling / p.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "parallel_ceiling.hpp"

namespace {
using namespace plait;
using clock_type = std::chrono::steady_clock;

constexpr auto mlp = input<784> >> linear<1024> >> relu >> linear<1024> >> relu >> linear<1024> >> relu >> linear<10>;
// Two equal branches of about the MLP's work, for branch placement (partition<2>: one branch per device).
constexpr auto branch = linear<1024> >> relu >> linear<768> >> relu;
constexpr auto forked = input<784> >> concat(branch, branch) >> linear<10>;
constexpr std::size_t batch = 512;

struct data {
  std::vector<float> x = std::vector<float>(batch * 784);
  std::vector<std::int32_t> y = std::vector<std::int32_t>(batch);
  data() {
    splitmix64 rng(5);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(10));
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

/// Bytes device 0 sends in one step, read from its generated program.
template <class Policy, class graph>
double bytes_sent_per_step() {
  using M = model<Policy, graph, host<sequential>>;
  using D = typename M::device_layout;
  const double dp = double(M::data_parallel_degree), inner = double(M::plan::inner_count);
  const double rows = double(batch) / dp;  // a replica's share
  double floats = 0;
  for (const instruction& i : Policy::template programs<graph>[0]) {
    const bool dp_group = i.peer == std::int16_t(collective_group::data_parallel);
    const double g = dp_group ? dp : inner;
    if (i.op == opcode::all_reduce && i.buffer == whole_gradient)
      floats += 2 * (g - 1) / g * double(D::param_buffer_size);
    else if (i.op == opcode::all_reduce && dp_group) {
      if constexpr (requires { Policy::template bucket_list<graph>; })
        floats += 2 * (g - 1) / g * double(Policy::template bucket_list<graph>[i.buffer].size);
    } else if (i.op == opcode::all_reduce || i.op == opcode::all_gather) {  // partition's exchanges
      // The layer after the exchange: the end of the stage (activations), or its start (gradients).
      const auto r = Policy::template stages<graph>[i.stage];
      const std::size_t after = message_kind(i.buffer) == message_kind::activation ? r.last : r.first;
      const double width = double(i.op == opcode::all_gather ? D::out_sizes[after] : D::out_sizes[after - 1]);
      floats += (i.op == opcode::all_reduce ? 2 : 1) * (g - 1) / g * width * rows;
    } else if (i.op == opcode::send) {
      const double mb = rows / double(M::microbatch_count);
      const auto owned = Policy::template owned<graph>[0];
      const double width = message_kind(i.buffer) == message_kind::activation ? double(D::out_sizes[owned.last - 1])
                                                                              : double(D::out_sizes[owned.first - 1]);
      floats += width * mb;
    }
  }
  return floats * sizeof(float);
}

struct entry {
  std::string name;
  std::size_t devices;
  bool oversubscribed;
  double (*round)(const data&, int);
  double bytes;
  std::size_t (*memory)();
  std::vector<double> ms{};
  std::shared_ptr<plait_bench::parallel_ceiling> ceiling{};  // for the policies with a target
  double ideal_share = 1;                                    // 1 - planned bubble for a pipeline
};

template <class Policy, auto Net>
auto& model_of() {
  static auto m = place<Policy>(Net, host_devices(Policy::device_count, 1), {.max_batch = batch, .seed = 1});
  return m;
}

template <class Policy, auto Net>
double round_of(const data& d, int steps) {
  auto& m = model_of<Policy, Net>();
  auto opt = sgd{.lr = 0.01f};
  const samples<shape<784>> x{d.x.data(), batch};
  const class_labels y{d.y.data(), batch};
  const auto t0 = clock_type::now();
  for (int s = 0; s < steps; ++s) m.train_step(x, y, cross_entropy, opt);
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count() / steps;
}

template <class Policy, auto Net>
std::size_t peak_memory() {
  auto& m = model_of<Policy, Net>();
  std::size_t most = 0;
  for (std::size_t d = 0; d < Policy::device_count; ++d) most = std::max(most, m.planned_bytes(d));
  return most;
}

template <class Policy, auto Net = mlp>
entry make(const char* name) {
  using graph = std::remove_const_t<decltype(Net)>;
  return {name,
          Policy::device_count,
          Policy::device_count > 2,
          &round_of<Policy, Net>,
          bytes_sent_per_step<Policy, graph>(),
          &peak_memory<Policy, Net>};
}
}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int rounds = quick ? 3 : 9, steps = quick ? 2 : 4;
  const data d;
  std::vector<entry> entries{make<single_device>("single_device"),
                             make<replicate<2>>("replicate<2>"),
                             make<pipeline<2, microbatches<8>, one_f_one_b>>("pipeline<2, m=8, 1F1B>"),
                             make<partition<2>>("partition<2>"),
                             make<replicate<2, partition<2>>>("replicate<2, partition<2>>"),
                             make<single_device, forked>("branches: single_device"),
                             make<partition<2>, forked>("branches: partition<2>")};
  {
    namespace pb = plait_bench;
    using graph = std::remove_const_t<decltype(mlp)>;
    using whole = graph_layout<graph>;
    using parts = graph_layout<partition<2>::device_graph<graph>>;
    using pipe = pipeline<2, microbatches<8>, one_f_one_b>;
    constexpr std::size_t cut = pipe::stages<graph>[0].last;
    const int rows = int(batch / 2), mb_rows = int(batch / 8);
    entries[1].ceiling = std::make_shared<pb::parallel_ceiling>(
        std::vector{pb::mlp_step(pb::linear_widths<whole>(), rows), pb::mlp_step(pb::linear_widths<whole>(), rows)});
    entries[2].ceiling = std::make_shared<pb::parallel_ceiling>(
        std::vector{pb::mlp_step(pb::linear_widths<whole>(0, cut), mb_rows, 8, true),
                    pb::mlp_step(pb::linear_widths<whole>(cut, whole::layer_count), mb_rows, 8, false)});
    entries[2].ideal_share = 1 - pipe::planned_timeline<graph>.bubble_fraction();
    entries[3].ceiling = std::make_shared<pb::parallel_ceiling>(std::vector{
        pb::mlp_step(pb::linear_widths<parts>(), int(batch)), pb::mlp_step(pb::linear_widths<parts>(), int(batch))});
  }
  for (auto& e : entries) e.round(d, 2);  // warm-up: plans optimizer state, faults pages in
  for (int r = 0; r < rounds; ++r)
    for (auto& e : entries) {
      e.ms.push_back(e.round(d, steps));
      if (e.ceiling) e.ceiling->round(steps);
    }
  const double one = median(entries[0].ms);
  std::printf(
      "policy_matrix: MLP 784-1024-1024-1024-10, batch %zu, SGD, 1 thread per logical device, 2 cores, "
      "%d rounds x %d steps\n",
      batch, rounds, steps);
  std::printf("%-28s %8s %10s %12s %9s %14s %14s %9s %10s\n", "policy", "devices", "ms/step", "samples/s", "speedup",
              "MB sent/dev", "MB peak/dev", "ceiling", "efficiency");
  double partition2 = 0, branches2 = 0, ceiling[3] = {}, efficiency[3] = {};
  const double forked_one = median(entries[5].ms);
  for (auto& e : entries) {
    const double ms = median(e.ms);
    const bool fork = e.name.starts_with("branches");
    const double speedup = (fork ? forked_one : one) / ms;
    if (e.name == "partition<2>") partition2 = speedup;
    if (e.name == "branches: partition<2>") branches2 = speedup;
    std::printf("%-28s %5zu%-3s %10.2f %12.0f %9.2f %14.2f %14.2f", e.name.c_str(), e.devices,
                e.oversubscribed ? " *" : "", ms, batch / ms * 1e3, speedup, e.bytes / 1e6, double(e.memory()) / 1e6);
    if (e.ceiling) {
      const std::size_t k = std::size_t(&e - &entries[1]);  // replicate, pipeline, partition
      ceiling[k] = e.ceiling->ceiling();
      efficiency[k] = speedup / (e.ideal_share * ceiling[k]);
      std::printf(" %9.3f %10.3f", ceiling[k], efficiency[k]);
    }
    std::printf("\n");
  }
  std::printf("ceiling: the policy's GEMMs per step on 2 threads against 1 (ms/step, 1 thread / 2 threads):");
  for (std::size_t k = 1; k <= 3; ++k)
    std::printf(" %s %s %.2f / %.2f;", entries[k].name.c_str(), entries[k].ceiling->describe().c_str(),
                entries[k].ceiling->median(entries[k].ceiling->serial),
                entries[k].ceiling->median(entries[k].ceiling->parallel));
  std::printf("\nefficiency = speedup / ceiling; for the pipeline speedup / ((1 - planned bubble %.3f) x ceiling)\n",
              1 - entries[2].ideal_share);
  std::printf("* oversubscribed: more logical devices than the machine's 2 cores\n");
  std::printf("branches: 784 -> concat(1024 -> 768, 1024 -> 768) -> 10, speedup against its own single device\n");
  std::printf(
      "RESULT policy_matrix batch=%zu single_ms=%.3f partition2_speedup=%.3f branches2_speedup=%.3f "
      "replicate2_speedup=%.3f pipeline2_speedup=%.3f mesh_speedup=%.3f replicate2_ceiling=%.3f "
      "replicate2_efficiency=%.3f partition2_ceiling=%.3f partition2_efficiency=%.3f pipeline2_ceiling=%.3f "
      "pipeline2_efficiency=%.3f\n",
      batch, one, partition2, branches2, one / median(entries[1].ms), one / median(entries[2].ms),
      one / median(entries[4].ms), ceiling[0], efficiency[0], ceiling[2], efficiency[2], ceiling[1], efficiency[1]);
}
