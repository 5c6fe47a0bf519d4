// The C++ half of `bench/run pc`: predictive coding (model::pc_step), standard variant, T = 8
// iterations, inference rate 0.1, SGD, softmax cross-entropy, data uniform in [-1, 1) with random
// labels. bench/pc.py runs this binary in its modes and prints the one RESULT line.
//
//   bench_pc --cost [--quick]       table 1: one PC step of the Fashion-MNIST MLP 784-128-128-128-10 at
//                                   batch 128 on one host device, against the same step's own GEMMs
//                                   timed alone (the floor) and one backprop train_step, alternating
//   bench_pc --parallel [--quick] [--trace PATH]   table 3: an MLP of 8 linear layers 1024 wide, batch 256, on
//                                   pipeline<2> (2 host devices) against single_device, and the
//                                   machine's parallel ceiling: the GEMMs of each stage's layers on
//                                   two threads at once against all of them on one, alternating
//                                   (bench/parallel_ceiling.hpp, as the other multi-device benchmarks)
//   bench_pc --torch-side SECONDS [small|fmnist]
//                                   table 2, plait's half: seconds per PC step (median) of the small
//                                   MLP 64-64-64-10 (batch 32) and the Fashion-MNIST MLP (batch 128),
//                                   and of each step's GEMMs alone
//   bench_pc --check DIR            writes, per model, the initial parameters, the batch, the T + 1
//                                   energies of one step and the parameters after it, for pc.py to
//                                   check its PyTorch step against
//
// --cost and --parallel end with a line `KEYS key=value ...` that pc.py folds into its RESULT line.
// One thread per device: bench/run sets OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <plait/plait.hpp>
#include <string>
#include <utility>
#include <vector>

#include "parallel_ceiling.hpp"

namespace {
using namespace plait;
using clock_type = std::chrono::steady_clock;

constexpr std::size_t T = 8;  // inference iterations
constexpr float rate = 0.1f;  // inference rate
constexpr float lr = 0.01f;   // SGD

constexpr auto small = input<64> >> linear<64> >> relu >> linear<64> >> relu >> linear<10>;
constexpr auto fmnist = input<784> >> linear<128> >> relu >> linear<128> >> relu >> linear<128> >> relu >> linear<10>;
constexpr auto wide_layer = linear<1024> >> relu;
constexpr auto wide = input<1024> >> wide_layer >> wide_layer >> wide_layer >> wide_layer >> wide_layer >> wide_layer >>
                      wide_layer >> linear<1024>;  // 8 linear layers, cross-entropy over 1024 classes

constexpr std::size_t small_batch = 32, fmnist_batch = 128, wide_batch = 256;
const std::vector<std::size_t> small_dims{64, 64, 64, 10}, fmnist_dims{784, 128, 128, 128, 10},
    wide_dims{1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024, 1024};

constexpr pc_options standard{.iterations = T, .rate = rate};

// Inputs uniform in [-1, 1), labels uniform over the classes: never zeros.
struct batch_data {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_data(std::size_t n, std::size_t in, std::size_t classes, std::uint64_t seed) : x(n * in), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(classes));
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// Seconds of each of `steps` calls of f; their median.
template <class F>
double median_step(F&& f, int steps) {
  std::vector<double> t;
  for (int s = 0; s < steps; ++s) {
    const auto t0 = clock_type::now();
    f();
    t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  return median(t);
}

// One side of a comparison: its round medians.
struct side {
  const char* name;
  std::vector<double> rounds;
  double med() const { return median(rounds); }
  std::string range_ms() const {
    const auto [lo, hi] = std::minmax_element(rounds.begin(), rounds.end());
    char buf[96];
    std::snprintf(buf, sizeof buf, "%9.3f [%.3f..%.3f]", med() * 1e3, *lo * 1e3, *hi * 1e3);
    return buf;
  }
};

// The matrix products of a standard PC step (runtime/predictive_coding.hpp) on layers [first, last)
// of an MLP of widths dims, for `batch` rows, with the step's shapes and transposes, each reading and
// writing buffers of its own as the step does:
//   start       the forward pass, x_l = x_{l-1} W_l^T                          (one per layer)
//   errors, 1st the nodes are still the forward pass's outputs: no prediction, hidden errors 0; only
//               the graph's last layer's input-gradient term dx = dz W (where that layer is owned)
//   errors, 2..T  last layer first: mu_l = x_{l-1} W_l^T, and the input-gradient term dx = dz_l W_l
//               to the node before, except for the graph's first layer: its input is the data, so
//               it has no term and its prediction is the forward pass's, kept all step
//   weights     mu_l = x_{l-1} W_l^T again (not the first layer's), and dW_l = dz_l^T x_{l-1}
// `input_term`: whether layer `first` has an input-gradient GEMM (a later pipeline stage's first layer,
// whose term goes to the stage before). Timed alone (the floor) or, one per stage, by
// plait_bench::parallel_ceiling (bench/parallel_ceiling.hpp) on one thread and on two.
plait_bench::device_gemms pc_gemms(const std::vector<std::size_t>& dims, std::size_t first, std::size_t last,
                                   std::size_t batch, std::size_t iterations, bool input_term) {
  const std::size_t n = last - first;
  const bool owns_last = last + 1 == dims.size();
  const auto has_term = [&](std::size_t k) { return k > 0 || input_term; };
  const auto kept = [&](std::size_t k) { return first == 0 && k == 0; };  // the data-fed layer's prediction
  const auto first_iteration_term = [&](std::size_t k) { return owns_last && k + 1 == n && has_term(k); };
  plait_bench::device_gemms g;
  std::vector<std::size_t> w, dw, node, mu, eps, dx;  // node[k]: layer first+k's input
  for (std::size_t i = first; i < last; ++i) {
    w.push_back(g.buffer(dims[i + 1] * dims[i]));
    dw.push_back(g.buffer(dims[i + 1] * dims[i]));
    mu.push_back(g.buffer(batch * dims[i + 1]));
    eps.push_back(g.buffer(batch * dims[i + 1]));
    dx.push_back(g.buffer(batch * dims[i]));
  }
  for (std::size_t i = first; i <= last; ++i) node.push_back(g.buffer(batch * dims[i]));
  const int b = int(batch);
  const auto in = [&](std::size_t k) { return int(dims[first + k]); };
  const auto out = [&](std::size_t k) { return int(dims[first + k + 1]); };
  const auto predict = [&](std::size_t k, std::size_t to) {  // [B, o] = node[k] [B, i] x W^T
    g.gemm(b, out(k), in(k), false, true, node[k], w[k], to);
  };
  for (std::size_t k = 0; k < n; ++k) predict(k, node[k + 1]);
  for (std::size_t t = 0; t < iterations; ++t)
    for (std::size_t k = n; k-- > 0;) {
      if (t == 0 && !first_iteration_term(k)) continue;
      if (t > 0 && !kept(k)) predict(k, mu[k]);
      if (has_term(k)) g.gemm(b, in(k), out(k), false, false, eps[k], w[k], dx[k]);  // dx [B, i] = dz [B, o] x W
    }
  for (std::size_t k = 0; k < n; ++k) {
    if (!kept(k)) predict(k, mu[k]);
    g.gemm(out(k), in(k), b, true, false, eps[k], node[k], dw[k]);  // dW [o, i] = dz^T [o, B] x x [B, i]
  }
  return g;
}

// ---- table 1: the cost of a PC step against its GEMMs and against backprop ----
int cost(bool quick) {
  const int rounds = quick ? 3 : 9, steps = quick ? 8 : 20;
  const batch_data d(fmnist_batch, 784, 10, 123);
  const samples<shape<784>> x{d.x.data(), fmnist_batch};
  const class_labels y{d.y.data(), fmnist_batch};
  auto pc = place(fmnist, host_device(), {.max_batch = fmnist_batch, .seed = 1});
  auto bp = place(fmnist, host_device(), {.max_batch = fmnist_batch, .seed = 1});
  sgd o1{.lr = lr}, o2{.lr = lr};
  auto floor = pc_gemms(fmnist_dims, 0, 4, fmnist_batch, T, false);
  for (int i = 0; i < 3; ++i) {  // plans optimizer state and the PC buffers, warms caches
    pc.pc_step(x, y, cross_entropy, o1, standard);
    bp.train_step(x, y, cross_entropy, o2);
    floor.run();
  }
  side s_pc{"pc_step"}, s_floor{"GEMM floor"}, s_bp{"train_step"};
  for (int r = 0; r < rounds; ++r) {
    s_pc.rounds.push_back(median_step([&] { pc.pc_step(x, y, cross_entropy, o1, standard); }, steps));
    s_floor.rounds.push_back(median_step([&] { floor.run(); }, steps));
    s_bp.rounds.push_back(median_step([&] { bp.train_step(x, y, cross_entropy, o2); }, steps));
  }
  const double t_pc = s_pc.med(), t_floor = s_floor.med(), t_bp = s_bp.med();
  std::printf(
      "\n1. cost: one standard PC step (T = %zu, rate %.1f, SGD) of the MLP 784-128-128-128-10, batch %zu, one host "
      "device (1 thread),\n   against the step's own %zu GEMMs alone (same shapes and transposes) and one backprop "
      "train_step; %d rounds x %d steps\n",
      T, double(rate), fmnist_batch, floor.count(), rounds, steps);
  std::printf("   %-12s %26s %12s %10s\n", "", "ms/step [min..max]", "GFLOP/s", "ratio");
  const double flops = floor.flops();
  std::printf("   %-12s %26s %12.1f %10.3f\n", "pc_step", s_pc.range_ms().c_str(), flops / t_pc / 1e9, 1.0);
  std::printf("   %-12s %26s %12.1f %10.3f  (pc_step / floor)\n", "GEMM floor", s_floor.range_ms().c_str(),
              flops / t_floor / 1e9, t_pc / t_floor);
  std::printf("   %-12s %26s %12s %10.3f  (pc_step / train_step)\n", "train_step", s_bp.range_ms().c_str(), "",
              t_pc / t_bp);
  std::printf("KEYS pc_ms=%.3f floor_ms=%.3f backprop_ms=%.3f pc_floor_ratio=%.3f pc_over_backprop=%.2f\n", t_pc * 1e3,
              t_floor * 1e3, t_bp * 1e3, t_pc / t_floor, t_pc / t_bp);
  return 0;
}

// ---- table 3: layer-parallel PC on pipeline<2> against one device, and the parallel ceiling ----
int parallel(bool quick, const char* trace) {
  const int rounds = quick ? 3 : 7, steps = quick ? 1 : 2;
  const batch_data d(wide_batch, 1024, 1024, 321);
  const samples<shape<1024>> x{d.x.data(), wide_batch};
  const class_labels y{d.y.data(), wide_batch};
  auto one = place(wide, host_device(), {.max_batch = wide_batch, .seed = 2});
  auto two = place<pipeline<2>>(wide, host_devices(2), {.max_batch = wide_batch, .seed = 2});
  constexpr std::size_t per_layer = 1024 * 1024 + 1024;
  const std::size_t cut = two.parameters(0).size() / per_layer;  // layers of stage 0
  const std::size_t stage1 = two.parameters(1).size() / per_layer;
  sgd o1{.lr = lr}, o2{.lr = lr};
  // The ceiling: each stage's GEMMs (as the stage runs them: stage 1's first layer sends its input
  // term back) on a thread of its own, no communication; against both stages' GEMMs on one thread.
  plait_bench::parallel_ceiling gemms(
      {pc_gemms(wide_dims, 0, cut, wide_batch, T, false), pc_gemms(wide_dims, cut, 8, wide_batch, T, true)});
  one.pc_step(x, y, cross_entropy, o1, standard);  // plans optimizer state and the PC buffers, faults pages in
  two.pc_step(x, y, cross_entropy, o2, standard);
  side s_one{"single_device"}, s_two{"pipeline<2>"}, s_c1{"GEMMs, 1 thread"}, s_c2{"GEMMs, 2 threads"};
  for (int r = 0; r < rounds; ++r) {
    s_one.rounds.push_back(median_step([&] { one.pc_step(x, y, cross_entropy, o1, standard); }, steps));
    s_two.rounds.push_back(median_step([&] { two.pc_step(x, y, cross_entropy, o2, standard); }, steps));
    s_c1.rounds.push_back(median_step([&] { gemms.serial_ms(1); }, steps));
    s_c2.rounds.push_back(median_step([&] { gemms.parallel_ms(1); }, steps));
  }
  if (trace != nullptr) {  // one more step of pipeline<2>, recorded
    two.enable_trace();
    two.pc_step(x, y, cross_entropy, o2, standard);
    two.write_trace(trace);
  }
  const double speedup = s_one.med() / s_two.med(), ceiling = s_c1.med() / s_c2.med();
  std::printf(
      "\n3. layer-parallel: MLP of 8 linear layers 1024 wide (relu between), cross-entropy over 1024 classes, batch "
      "%zu,\n   standard PC (T = %zu, rate %.1f), SGD; pipeline<2> on 2 host devices (1 thread each, stages of %zu + "
      "%zu layers)\n   against single_device; ceiling: the same GEMMs (%s per step) as two halves on two "
      "threads, no communication,\n   against both halves on one thread; %d rounds x %d steps, alternating\n",
      wide_batch, T, double(rate), cut, stage1, gemms.describe().c_str(), rounds, steps);
  std::printf("   %-18s %26s %10s\n", "", "ms/step [min..max]", "speedup");
  std::printf("   %-18s %26s %10.3f\n", "single_device", s_one.range_ms().c_str(), 1.0);
  std::printf("   %-18s %26s %10.3f\n", "pipeline<2>", s_two.range_ms().c_str(), speedup);
  std::printf("   %-18s %26s %10.3f\n", "GEMMs, 1 thread", s_c1.range_ms().c_str(), 1.0);
  std::printf("   %-18s %26s %10.3f  (the ceiling)\n", "GEMMs, 2 threads", s_c2.range_ms().c_str(), ceiling);
  std::printf("   layer-parallel efficiency = speedup / ceiling = %.3f; single_device / its GEMMs alone = %.3f\n",
              speedup / ceiling, s_one.med() / s_c1.med());
  std::printf(
      "KEYS wide_single_ms=%.2f wide_pipeline2_ms=%.2f layer_parallel_speedup=%.3f parallel_ceiling=%.3f "
      "layer_parallel_efficiency=%.3f\n",
      s_one.med() * 1e3, s_two.med() * 1e3, speedup, ceiling, speedup / ceiling);
  return 0;
}

// ---- table 2, plait's half: seconds per step of the models PyTorch runs too, and their GEMM floors ----
template <class F>
double timed(F&& f, double min_time) {  // median seconds of f after a warm-up, at least 5 calls and min_time
  for (int i = 0; i < 5; ++i) f();
  std::vector<double> t;
  const auto start = clock_type::now();
  while (std::chrono::duration<double>(clock_type::now() - start).count() < min_time || t.size() < 5) {
    const auto t0 = clock_type::now();
    f();
    t.push_back(std::chrono::duration<double>(clock_type::now() - t0).count());
  }
  return median(t);
}

template <auto Net, std::size_t In, std::size_t Batch>
std::pair<double, double> plait_step(double min_time, const std::vector<std::size_t>& dims) {
  const batch_data d(Batch, In, 10, 123);
  const samples<shape<In>> x{d.x.data(), Batch};
  const class_labels y{d.y.data(), Batch};
  auto m = place(Net, host_device(), {.max_batch = Batch, .seed = 1});
  sgd opt{.lr = lr};
  const double step = timed([&] { m.pc_step(x, y, cross_entropy, opt, standard); }, min_time);
  auto floor = pc_gemms(dims, 0, dims.size() - 1, Batch, T, false);
  return {step, timed([&] { floor.run(); }, min_time / 2)};
}

// `only`: one model alone (for a profiler), else both.
int torch_side(double min_time, const std::string& only) {
  const auto s = only == "fmnist" ? std::pair{0.0, 0.0} : plait_step<small, 64, small_batch>(min_time, small_dims);
  const auto f = only == "small" ? std::pair{0.0, 0.0} : plait_step<fmnist, 784, fmnist_batch>(min_time, fmnist_dims);
  std::printf("{\"small\": %.9g, \"fmnist\": %.9g, \"floor_small\": %.9g, \"floor_fmnist\": %.9g}\n", s.first, f.first,
              s.second, f.second);
  return 0;
}

// ---- the files pc.py checks its PyTorch step against ----
template <class V>
void write(const std::string& path, const V& v) {
  std::ofstream f(path, std::ios::binary);
  f.write(reinterpret_cast<const char*>(v.data()), std::streamsize(v.size() * sizeof(v[0])));
  if (!f) {
    std::fprintf(stderr, "bench_pc: cannot write %s\n", path.c_str());
    std::exit(1);
  }
}

template <auto Net, std::size_t In, std::size_t Batch>
void check_files(const std::string& dir, const char* name) {
  const batch_data d(Batch, In, 10, 77);
  auto m = place(Net, host_device(), {.max_batch = Batch, .seed = 4});
  const std::string at = dir + "/" + name;
  write(at + "_params0.f32", m.gather_parameters());
  write(at + "_x.f32", d.x);
  write(at + "_y.i32", d.y);
  std::vector<double> energies(T + 1);
  sgd opt{.lr = lr};
  pc_options o = standard;
  o.energies = energies;
  m.pc_step(samples<shape<In>>{d.x.data(), Batch}, class_labels{d.y.data(), Batch}, cross_entropy, opt, o);
  write(at + "_energies.f64", energies);
  write(at + "_params1.f32", m.gather_parameters());
}

int check(const std::string& dir) {
  check_files<small, 64, small_batch>(dir, "small");
  check_files<fmnist, 784, fmnist_batch>(dir, "fmnist");
  return 0;
}

int usage() {
  std::fprintf(
      stderr,
      "usage: bench_pc --cost [--quick] | --parallel [--quick] | --torch-side SECONDS [small|fmnist] | --check DIR\n");
  return 2;
}
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  const std::string mode = argv[1];
  const bool quick = argc > 2 && std::strcmp(argv[2], "--quick") == 0;
  if (mode == "--cost") return cost(quick);
  if (mode == "--parallel") {  // [--quick] [--trace PATH]
    const char* trace = nullptr;
    for (int a = 2; a + 1 < argc; ++a)
      if (std::strcmp(argv[a], "--trace") == 0) trace = argv[a + 1];
    return parallel(quick, trace);
  }
  if (mode == "--torch-side" && argc > 2) return torch_side(std::atof(argv[2]), argc > 3 ? argv[3] : "");
  if (mode == "--check" && argc > 2) return check(argv[2]);
  return usage();
}
