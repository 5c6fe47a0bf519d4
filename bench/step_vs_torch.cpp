// The C++ half of `bench/run step_vs_torch`: one training step of plait on the models of the
// comparison, and the SGEMM rate that sets the floor. bench/step_vs_torch.py runs this binary
// and PyTorch alternately and reports the ratios.
//
//   small : MLP 32 -> 64 -> 64 -> 10,       batch 32,  SGD
//   medium: MLP 784 -> 1024 -> 1024 -> 10,  batch 256, SGD
//   medium_bf16: the medium step on a host device in host_math::bf16 (skipped on a CPU without bf16)
// Thread counts come from the environment (OPENBLAS_NUM_THREADS, PLAIT_BENCH_THREADS).

#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdlib>
#include <plait/plait.hpp>
#include <vector>

namespace {
using namespace plait;

unsigned threads() {
  const char* t = std::getenv("PLAIT_BENCH_THREADS");
  return t ? unsigned(std::atoi(t)) : 1u;
}

// Inputs uniform in [-1, 1), labels uniform over the classes: never zeros.
template <std::size_t In, std::size_t Classes>
struct batch_data {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit batch_data(std::size_t n) : x(n * In), y(n) {
    splitmix64 rng(123);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(Classes));
  }
};

template <auto Net, std::size_t In, std::size_t Batch>
void step(benchmark::State& state, host_math math = host_math::float32) {
  if (math == host_math::bf16 && !host_detail::has_bf16(host_detail::effective_isa())) {
    state.SkipWithError("this CPU has no bfloat16 instructions: host_math::bf16 is refused");
    return;
  }
  auto model = place(Net, host_device(threads(), math), {.max_batch = Batch, .seed = 1});
  const batch_data<In, 10> data(Batch);
  auto opt = sgd{.lr = 0.01f};
  const samples<shape<In>> x{data.x.data(), Batch};
  const class_labels y{data.y.data(), Batch};
  for (int i = 0; i < 3; ++i) model.train_step(x, y, cross_entropy, opt);  // plans optimizer state, warms caches
  for (auto _ : state) benchmark::DoNotOptimize(model.train_step(x, y, cross_entropy, opt));
  using L = typename decltype(model)::layout;
  state.counters["flops"] = benchmark::Counter(double(Batch) * 6.0 * double(L::flops_per_sample) / 2.0,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

constexpr auto small = input<32> >> linear<64> >> relu >> linear<64> >> relu >> linear<10>;
constexpr auto medium = input<784> >> linear<1024> >> relu >> linear<1024> >> relu >> linear<10>;

void plait_step_small(benchmark::State& s) { step<small, 32, 32>(s); }
void plait_step_medium(benchmark::State& s) { step<medium, 784, 256>(s); }
void plait_step_medium_bf16(benchmark::State& s) { step<medium, 784, 256>(s, host_math::bf16); }

// SGEMM 1024^3 (row-major, C = A B): the machine's GEMM rate for the floor.
void sgemm_1024(benchmark::State& state) {
  const int n = 1024;
  std::vector<float> a(std::size_t(n) * n), b(a.size()), c(a.size());
  splitmix64 rng(7);
  for (auto& v : a) v = rng.uniform(-1, 1);
  for (auto& v : b) v = rng.uniform(-1, 1);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
    benchmark::DoNotOptimize(c.data());
  }
  state.counters["flops"] = benchmark::Counter(2.0 * n * n * n, benchmark::Counter::kIsIterationInvariantRate);
}

// The GEMMs of one MLP training step alone, with the step's shapes and transposes: forward
// y = x W^T, backward dW = dy^T x and dx = dy W (no dx for the first layer). Their time is the
// floor a step cannot beat; everything else plait does must fit in the difference.
template <std::size_t... D>
struct step_products {
  static constexpr std::size_t dims[] = {D...};
  static constexpr std::size_t layers = sizeof...(D) - 1;
  std::size_t batch;
  std::vector<std::vector<float>> act, w, dw, grad;

  explicit step_products(std::size_t b) : batch(b), act(layers + 1), w(layers), dw(layers), grad(layers + 1) {
    splitmix64 rng(11);
    auto fill = [&](std::vector<float>& v, std::size_t n) {
      v.resize(n);
      for (auto& e : v) e = rng.uniform(-1, 1);
    };
    for (std::size_t l = 0; l <= layers; ++l) {
      fill(act[l], batch * dims[l]);
      fill(grad[l], batch * dims[l]);
    }
    for (std::size_t l = 0; l < layers; ++l) {
      fill(w[l], dims[l + 1] * dims[l]);
      fill(dw[l], dims[l + 1] * dims[l]);
    }
  }

  /// One step's products through mm(ta, tb, m, n, k, a, lda, b, ldb, c, ldc): c = op(a) op(b).
  template <class Mm>
  void run(Mm mm) {
    const auto no = transpose::no, yes = transpose::yes;
    for (std::size_t l = 0; l < layers; ++l) {
      const std::size_t i = dims[l], o = dims[l + 1];
      mm(no, yes, batch, o, i, act[l].data(), i, w[l].data(), i, act[l + 1].data(), o);
    }
    for (std::size_t l = layers; l-- > 0;) {
      const std::size_t i = dims[l], o = dims[l + 1];
      mm(yes, no, o, i, batch, grad[l + 1].data(), o, act[l].data(), i, dw[l].data(), i);
      if (l > 0) mm(no, no, batch, i, o, grad[l + 1].data(), o, w[l].data(), i, grad[l].data(), i);
    }
  }
};

template <std::size_t... D>
void gemm_floor(benchmark::State& state, std::size_t batch) {
  host_context<sequential>{.threads = threads()}.enter();  // the step's threads, as a device sets them
  step_products<D...> p(batch);
  for (auto _ : state) {
    p.run([&](transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
              const float* b, std::size_t ldb, float* c, std::size_t ldc) {
      plait::host_sgemm(ta, tb, m, n, k, 1, a, lda, b, ldb, 0, c, ldc);  // the library plait's step picks
    });
    benchmark::ClobberMemory();
  }
}

void gemm_floor_small(benchmark::State& s) { gemm_floor<32, 64, 64, 10>(s, 32); }
void gemm_floor_medium(benchmark::State& s) { gemm_floor<784, 1024, 1024, 10>(s, 256); }

// The bf16 step's floor: the same products through plait's gemm on a host_math::bf16 context (each
// rounds its operands to bfloat16, then oneDNN's bf16 matmul), as plait_step_medium_bf16 runs them.
template <std::size_t... D>
void gemm_floor_bf16(benchmark::State& state, std::size_t batch) {
  if (!host_detail::has_bf16(host_detail::effective_isa())) {
    state.SkipWithError("this CPU has no bfloat16 instructions: host_math::bf16 is refused");
    return;
  }
  const host_context<openmp> ctx{.threads = threads(), .math = host_math::bf16};
  ctx.enter();
  step_products<D...> p(batch);
  for (auto _ : state) {
    p.run([&](transpose ta, transpose tb, std::size_t m, std::size_t n, std::size_t k, const float* a, std::size_t lda,
              const float* b, std::size_t ldb, float* c,
              std::size_t ldc) { gemm(ctx, ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, ldc); });
    benchmark::ClobberMemory();
  }
}

void gemm_floor_medium_bf16(benchmark::State& s) { gemm_floor_bf16<784, 1024, 1024, 10>(s, 256); }

BENCHMARK(gemm_floor_small)->Unit(benchmark::kMicrosecond);
BENCHMARK(gemm_floor_medium)->Unit(benchmark::kMillisecond);
BENCHMARK(gemm_floor_medium_bf16)->Unit(benchmark::kMillisecond);
BENCHMARK(plait_step_small)->Unit(benchmark::kMicrosecond);
BENCHMARK(plait_step_medium)->Unit(benchmark::kMillisecond);
BENCHMARK(plait_step_medium_bf16)->Unit(benchmark::kMillisecond);
BENCHMARK(sgemm_1024)->Unit(benchmark::kMillisecond);
}  // namespace

BENCHMARK_MAIN();
