// The C++ half of `bench/run gpu_step_vs_torch` (bench/README.md): one training step of plait on
// GPU 0, timed with CUDA events after warm-up, and the cuBLAS GEMM floors of the large step in the
// same run. bench/gpu_step_vs_torch.py runs this binary and PyTorch alternately, round after round,
// and reports the ratios.
//
//   large: MLP 4096 -> 4096 -> 4096 -> 4096 -> 10, batch 8192, SGD, cross-entropy, twice:
//          bf16 (cuda_math::bf16: products on bfloat16 tensor cores, float32 master weights) and
//          TF32 (cuda_math::tf32)
//   small: MLP 32 -> 64 -> 64 -> 10,                 batch 32,   SGD, cross-entropy, TF32; kernel by kernel and
//          with its step captured in a CUDA graph (place_options::cuda_graph)
// Storage is float32 in every run: parameters, gradients, activations, the loss.
//
// What one "step" is here: model.train_step with the batch in pinned host memory, so the step
// includes the copy of the batch into the device (as the runtime does it: on the device's stream,
// before the forward) and the copy of the per-sample losses out. train_step returns once it has read
// the loss, which is before the device has finished the step: backward and the optimizer are still
// enqueued on the model's stream (a kernel-by-kernel step; a captured one waits for its graph). So the
// end event is recorded on an idle stream only after cudaDeviceSynchronize has waited for every stream
// of the device, including the model's: the pair of events then covers the whole step as the GPU's
// clock sees it, not just its steady-state overlap with the next step. The PyTorch side times the
// same: the copy in from pinned memory, forward, backward, SGD, and `loss.item()` (which follows SGD
// on its stream, so it returns once the step's work is done).
//
// The floors: the step's own products (forward y = x W^T for the 4 layers, backward dW = dy^T x for
// the 4 layers and dx = dy W for the 3 that have an input gradient), each timed alone with
// cublasGemmEx on its own handle and stream; a floor = the sum of their medians. Three configurations:
//   bf16:         float32 storage, CUBLAS_COMPUTE_32F_FAST_16BF: what plait's bf16 step calls, so
//                 plait bf16 / this floor is what plait adds around its products;
//   bf16 storage: A, B and C in bfloat16 (CUDA_R_16BF), CUBLAS_COMPUTE_32F: half the bytes read, no
//                 conversion in the kernel, what a framework that stores bf16 copies pays (stricter);
//   TF32:         float32 storage, CUBLAS_COMPUTE_32F_FAST_TF32, for the TF32 step.
// The copy of the batch into the device is timed alone as well.
//
// Output: a table, then one line `PLAIT key=value ...` for the driver. Without a CUDA device it
// prints `skipped: no CUDA device answers` and exits 77.
//
//   bench_gpu_step_vs_torch [--quick] [--reps-large N] [--reps-small N] [--probe]

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <plait/cuda.hpp>
#include <plait/plait.hpp>
#include <string>
#include <utility>
#include <vector>

namespace {
using namespace plait;
using cuda_detail::cuda_check;

constexpr int gpu = 0;

void blas_check(cublasStatus_t s, const char* what) { cuda_detail::cublas_check(s, what, gpu); }

struct stats {
  double median = 0, min = 0, max = 0;  // microseconds
};
stats summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v.front(), v.back()};
}

// Two CUDA events around work enqueued on `stream` (or, for a plait step, done before `f` returns: f
// waits for the device itself).
class event_timer {
 public:
  event_timer() {
    cuda_check(cudaEventCreate(&begin_), "cudaEventCreate", gpu);
    cuda_check(cudaEventCreate(&end_), "cudaEventCreate", gpu);
  }
  event_timer(const event_timer&) = delete;
  event_timer& operator=(const event_timer&) = delete;
  ~event_timer() {
    (void)cudaEventDestroy(begin_);
    (void)cudaEventDestroy(end_);
  }
  template <class F>
  double time_us(cudaStream_t stream, F&& f) {
    cuda_check(cudaEventRecord(begin_, stream), "cudaEventRecord", gpu);
    f();
    cuda_check(cudaEventRecord(end_, stream), "cudaEventRecord", gpu);
    cuda_check(cudaEventSynchronize(end_), "cudaEventSynchronize", gpu);
    float ms = 0;
    cuda_check(cudaEventElapsedTime(&ms, begin_, end_), "cudaEventElapsedTime", gpu);
    return double(ms) * 1e3;
  }

 private:
  cudaEvent_t begin_ = nullptr, end_ = nullptr;
};

// A batch in pinned host memory: inputs uniform in [-1, 1), labels uniform over the classes (never zeros).
template <std::size_t In, std::size_t Classes>
struct host_batch {
  pinned_buffer<float> x;         // [n, In] @ pinned host
  pinned_buffer<std::int32_t> y;  // [n] @ pinned host
  explicit host_batch(std::size_t n) : x(n * In), y(n) {
    splitmix64 rng(123);
    for (float& v : x.values()) v = rng.uniform(-1, 1);
    for (std::int32_t& v : y.values()) v = std::int32_t(rng.below(Classes));
  }
  samples<shape<In>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

// One model's steps: `warmup` untimed (they plan the optimizer state and warm cuBLAS's choices), then
// `reps` timed one by one.
struct step_result {
  stats time;
  float loss = 0;  // the last step's, which must be finite
};
template <auto Net, std::size_t In, std::size_t Batch>
step_result time_plait_step(const host_batch<In, 10>& data, cuda_math math, int warmup, int reps, cudaStream_t idle,
                            event_timer& ev, bool graph = false) {
  // graph: the step captured in a CUDA graph (place_options::cuda_graph; captured by the second warm-up step)
  auto model = place(Net, virtual_cuda_devices(1, gpu, math), {.max_batch = Batch, .seed = 1, .cuda_graph = graph});
  auto opt = sgd{.lr = 0.01f};
  float loss = 0;
  // train_step returns with the step's backward and optimizer still on the model's stream, which the
  // model does not hand out: the device-wide wait ends the step (and keeps a warm-up step out of the first timing).
  auto whole_step = [&] {
    loss = model.train_step(data.xs(), data.ys(), cross_entropy, opt);
    cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (the end of a step)", gpu);
  };
  for (int i = 0; i < warmup; ++i) whole_step();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) t.push_back(ev.time_us(idle, whole_step));
  expect(std::isfinite(loss), cat("the benchmark's loss is ", loss, " after ", warmup + reps, " steps"),
         "a step that diverged may not time what a training step does", "lower the learning rate of the benchmark");
  return {summarise(std::move(t)), loss};
}

// How a floor's products are computed: the type of A, B and C in memory and cuBLAS's compute type.
struct floor_config {
  const char* name;  // in the table
  cudaDataType_t storage;
  cublasComputeType_t compute;
};
constexpr floor_config floor_bf16{"bf16", CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_16BF};  // as gemm_impl<cuda> calls it
constexpr floor_config floor_bf16_storage{"bf16 storage", CUDA_R_16BF, CUBLAS_COMPUTE_32F};
constexpr floor_config floor_tf32{"TF32", CUDA_R_32F, CUBLAS_COMPUTE_32F_FAST_TF32};

// Fills device memory with values uniform in [-1, 1) (a hash of the index): the floor never runs on zeros.
template <class T>
__global__ void fill_uniform(T* p, std::size_t n, std::uint64_t seed) {
  for (std::size_t i = blockIdx.x * std::size_t(blockDim.x) + threadIdx.x; i < n;
       i += std::size_t(gridDim.x) * blockDim.x) {
    std::uint64_t z = seed + (i + 1) * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    p[i] = T(float(z >> 40) * 0x1.0p-23f - 1.0f);
  }
}

// n values of `storage` (float32 or bfloat16) in device memory, uniform in [-1, 1).
class device_matrix {
 public:
  device_matrix(std::size_t n, cudaDataType_t storage, std::uint64_t seed, cudaStream_t s) {
    const std::size_t bytes = n * (storage == CUDA_R_16BF ? sizeof(__nv_bfloat16) : sizeof(float));
    cuda_check(cudaMalloc(&p_, bytes), cat("cudaMalloc of ", bytes, " bytes"), gpu);
    if (storage == CUDA_R_16BF) fill_uniform<<<1024, 256, 0, s>>>(static_cast<__nv_bfloat16*>(p_), n, seed);
    else fill_uniform<<<1024, 256, 0, s>>>(static_cast<float*>(p_), n, seed);
    cuda_check(cudaGetLastError(), "fill_uniform launch", gpu);
  }
  device_matrix(const device_matrix&) = delete;
  device_matrix& operator=(const device_matrix&) = delete;
  device_matrix(device_matrix&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  ~device_matrix() {
    if (p_) (void)cudaFree(p_);
  }
  void* get() const { return p_; }

 private:
  void* p_ = nullptr;
};

// Row-major C[m, n] = op(A) op(B) in configuration f, as plait's gemm_impl<cuda> maps it onto
// column-major cuBLAS: the column-major C^T = op(B)^T op(A)^T, B given first, m and n swapped.
void gemm_ex(cublasHandle_t h, const floor_config& f, bool ta, bool tb, int m, int n, int k, const void* a, int lda,
             const void* b, int ldb, void* c, int ldc) {
  const float one = 1, zero = 0;
  const cublasStatus_t s =
      cublasGemmEx(h, tb ? CUBLAS_OP_T : CUBLAS_OP_N, ta ? CUBLAS_OP_T : CUBLAS_OP_N, n, m, k, &one, b, f.storage, ldb,
                   a, f.storage, lda, &zero, c, f.storage, ldc, f.compute, CUBLAS_GEMM_DEFAULT);
  if (s != CUBLAS_STATUS_SUCCESS) [[unlikely]]
    blas_check(s, cat("cublasGemmEx (", f.name, ", m ", m, ", n ", n, ", k ", k, ")").c_str());
}

struct gemm_call {
  std::string name;  // e.g. "fwd 1: [8192,4096] x [4096,4096]^T"
  bool ta, tb;
  int m, n, k;
  const void *a, *b;
  void* c;
  int lda, ldb, ldc;
  double flops() const { return 2.0 * m * n * k; }
};

struct floor_result {
  std::vector<std::pair<std::string, stats>> each;  // every product alone
  double sum_us = 0;                                // the sum of their medians: the floor
  stats back_to_back;                               // all of them in a row, one event pair
  double tflops = 0;                                // the step's products over the floor
};

// The large step's products alone, with its shapes and transposes (layers l = 0..3, widths dims[l] -> dims[l+1]),
// in configuration f.
floor_result time_gemm_floor(const floor_config& f, const std::array<int, 5>& dims, int batch, int warmup, int reps,
                             event_timer& ev) {
  cudaStream_t s = nullptr;
  cublasHandle_t h = nullptr;
  cuda_check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", gpu);
  blas_check(cublasCreate(&h), "cublasCreate");
  blas_check(cublasSetStream(h, s), "cublasSetStream");
  floor_result r;
  {
    constexpr int layers = 4;
    std::vector<device_matrix> act, grad, w, dw;  // each of f.storage
    for (int l = 0; l <= layers; ++l) {
      act.emplace_back(std::size_t(batch) * dims[l], f.storage, 100 + l, s);  // [batch, dims[l]] @ GPU 0
      grad.emplace_back(l == 0 ? 1 : std::size_t(batch) * dims[l], f.storage, 200 + l,
                        s);  // [batch, dims[l]] @ GPU 0 (l > 0)
    }
    for (int l = 0; l < layers; ++l) {
      w.emplace_back(std::size_t(dims[l + 1]) * dims[l], f.storage, 300 + l, s);   // [dims[l+1], dims[l]] @ GPU 0
      dw.emplace_back(std::size_t(dims[l + 1]) * dims[l], f.storage, 400 + l, s);  // [dims[l+1], dims[l]] @ GPU 0
    }
    std::vector<gemm_call> calls;
    for (int l = 0; l < layers; ++l) {  // y = x W^T: [batch, in] x [out, in]^T
      const int i = dims[l], o = dims[l + 1];
      calls.push_back({cat("fwd ", l, ":  [", batch, ",", i, "] x [", o, ",", i, "]^T"), false, true, batch, o, i,
                       act[l].get(), w[l].get(), act[l + 1].get(), i, i, o});
    }
    for (int l = layers - 1; l >= 0; --l) {
      const int i = dims[l], o = dims[l + 1];  // dW = dy^T x: [batch, out]^T x [batch, in]
      calls.push_back({cat("dW ", l, ":   [", batch, ",", o, "]^T x [", batch, ",", i, "]"), true, false, o, i, batch,
                       grad[l + 1].get(), act[l].get(), dw[l].get(), o, i, i});
      if (l > 0)  // dx = dy W: [batch, out] x [out, in]; the first layer's input needs no gradient
        calls.push_back({cat("dx ", l, ":   [", batch, ",", o, "] x [", o, ",", i, "]"), false, false, batch, i, o,
                         grad[l + 1].get(), w[l].get(), grad[l].get(), o, i, i});
    }
    auto run = [&](const gemm_call& g) {
      gemm_ex(h, f, g.ta, g.tb, g.m, g.n, g.k, g.a, g.lda, g.b, g.ldb, g.c, g.ldc);
    };
    double flops = 0;
    for (const gemm_call& g : calls) {
      for (int i = 0; i < warmup; ++i) run(g);
      std::vector<double> t;
      for (int i = 0; i < reps; ++i) t.push_back(ev.time_us(s, [&] { run(g); }));
      r.each.emplace_back(g.name, summarise(std::move(t)));
      r.sum_us += r.each.back().second.median;
      flops += g.flops();
    }
    std::vector<double> t;
    for (int i = 0; i < reps; ++i)
      t.push_back(ev.time_us(s, [&] {
        for (const gemm_call& g : calls) run(g);
      }));
    r.back_to_back = summarise(std::move(t));
    r.tflops = flops / (r.sum_us * 1e-6) / 1e12;
    cuda_check(cudaStreamSynchronize(s), "cudaStreamSynchronize", gpu);
  }
  (void)cublasDestroy(h);
  (void)cudaStreamDestroy(s);
  return r;
}

// The batch's copy into the device alone (inputs and labels, from pinned memory), as the step does it.
template <std::size_t In>
stats time_copy_in(const host_batch<In, 10>& data, int warmup, int reps, event_timer& ev) {
  cudaStream_t s = nullptr;
  cuda_check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", gpu);
  void *x = nullptr, *y = nullptr;
  cuda_check(cudaMalloc(&x, data.x.size() * sizeof(float)), "cudaMalloc", gpu);
  cuda_check(cudaMalloc(&y, data.y.size() * sizeof(std::int32_t)), "cudaMalloc", gpu);
  auto copy = [&] {
    cuda_check(cudaMemcpyAsync(x, data.x.data(), data.x.size() * sizeof(float), cudaMemcpyHostToDevice, s),
               "cudaMemcpyAsync", gpu);
    cuda_check(cudaMemcpyAsync(y, data.y.data(), data.y.size() * sizeof(std::int32_t), cudaMemcpyHostToDevice, s),
               "cudaMemcpyAsync", gpu);
  };
  for (int i = 0; i < warmup; ++i) copy();
  std::vector<double> t;
  for (int i = 0; i < reps; ++i) t.push_back(ev.time_us(s, copy));
  (void)cudaFree(x);
  (void)cudaFree(y);
  (void)cudaStreamDestroy(s);
  return summarise(std::move(t));
}

constexpr auto large =
    input<4096> >> linear<4096> >> relu >> linear<4096> >> relu >> linear<4096> >> relu >> linear<10>;
constexpr auto small = input<32> >> linear<64> >> relu >> linear<64> >> relu >> linear<10>;
constexpr std::size_t large_batch = 8192, small_batch = 32;

std::string device_name() {
  cudaDeviceProp p{};
  cuda_check(cudaGetDeviceProperties(&p, gpu), "cudaGetDeviceProperties", gpu);
  std::string name = p.name;
  for (char& c : name)
    if (c == ' ' || c == '=') c = '_';
  return name;
}

int run(int argc, char** argv) {
  bool quick = false, probe = false;
  int reps_large = 0, reps_small = 0;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") quick = true;
    else if (a == "--probe") probe = true;
    else if (a == "--reps-large" && i + 1 < argc) reps_large = std::atoi(argv[++i]);
    else if (a == "--reps-small" && i + 1 < argc) reps_small = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr,
                   "plait: unknown argument '%s'. bench_gpu_step_vs_torch takes --quick, --probe, --reps-large N, "
                   "--reps-small N. Fix: run it through bench/run gpu_step_vs_torch [--quick].\n",
                   a.c_str());
      return 2;
    }
  }
  if (!cuda_detail::cuda_device_answers()) {
    std::printf("skipped: no CUDA device answers\n");
    return 77;
  }
  const std::string name = device_name();
  if (probe) {
    std::printf("device=%s\n", name.c_str());
    return 0;
  }
  reps_large = reps_large > 0 ? reps_large : quick ? 10 : 30;
  reps_small = reps_small > 0 ? reps_small : quick ? 50 : 200;
  cuda_check(cudaSetDevice(gpu), "cudaSetDevice", gpu);
  cudaStream_t idle = nullptr;  // nothing runs on it: its events mark the host's calls on the GPU's clock
  cuda_check(cudaStreamCreateWithFlags(&idle, cudaStreamNonBlocking), "cudaStreamCreateWithFlags", gpu);
  event_timer ev;

  const host_batch<4096, 10> large_data(large_batch);
  const host_batch<32, 10> small_data(small_batch);
  constexpr std::array<int, 5> dims{4096, 4096, 4096, 4096, 10};
  const step_result pl =
      time_plait_step<large, 4096, large_batch>(large_data, cuda_math::bf16, 3, reps_large, idle, ev);
  const floor_result fl = time_gemm_floor(floor_bf16, dims, int(large_batch), 3, reps_large, ev);
  const floor_result fl16 = time_gemm_floor(floor_bf16_storage, dims, int(large_batch), 3, reps_large, ev);
  const step_result pt =
      time_plait_step<large, 4096, large_batch>(large_data, cuda_math::tf32, 3, reps_large, idle, ev);
  const floor_result ft = time_gemm_floor(floor_tf32, dims, int(large_batch), 3, reps_large, ev);
  const stats copy = time_copy_in(large_data, 3, reps_large, ev);
  const step_result ps = time_plait_step<small, 32, small_batch>(small_data, cuda_math::tf32, 20, reps_small, idle, ev);
  const step_result psg =
      time_plait_step<small, 32, small_batch>(small_data, cuda_math::tf32, 20, reps_small, idle, ev, true);
  (void)cudaStreamDestroy(idle);

  std::printf("plait on %s, float32 storage; CUDA events, median [min..max] us\n", name.c_str());
  auto row = [](const std::string& what, const stats& s) {
    std::printf("  %-52s %10.1f [%.1f..%.1f]\n", what.c_str(), s.median, s.min, s.max);
  };
  auto value = [](const std::string& what, double v) { std::printf("  %-52s %10.3f\n", what.c_str(), v); };
  auto floor_rows = [&](const floor_result& f, const char* config) {
    for (const auto& [what, t] : f.each) row(cat("  cuBLAS ", config, " ", what), t);
    std::printf("  %-52s %10.1f  (%.0f TFLOP/s)\n", cat("  ", config, " floor: sum of the GEMM medians").c_str(),
                f.sum_us, f.tflops);
    row("  the same GEMMs back to back", f.back_to_back);
  };
  row(cat("large step, bf16 products (cuda_math::bf16), batch ", large_batch), pl.time);
  floor_rows(fl, "bf16 (float32 storage, COMPUTE_32F_FAST_16BF)");
  floor_rows(fl16, "bf16 storage (CUDA_R_16BF, COMPUTE_32F)");
  value("  plait bf16 step / bf16 floor", pl.time.median / fl.sum_us);
  value("  plait bf16 step / bf16-storage floor", pl.time.median / fl16.sum_us);
  value("  plait bf16 step / (bf16 floor + copy in)", pl.time.median / (fl.sum_us + copy.median));
  row(cat("large step, TF32 products (cuda_math::tf32), batch ", large_batch), pt.time);
  floor_rows(ft, "TF32 (float32 storage, COMPUTE_32F_FAST_TF32)");
  value("  plait TF32 step / TF32 floor", pt.time.median / ft.sum_us);
  row("the large batch's copy in (pinned -> device)", copy);
  row(cat("small step, TF32, batch ", small_batch, " (", reps_small, " steps)"), ps.time);
  row(cat("small step, TF32, batch ", small_batch, ", captured in a CUDA graph"), psg.time);
  std::printf(
      "PLAIT device=%s reps_large=%d reps_small=%d plait_large_us=%.2f plait_large_min_us=%.2f "
      "plait_large_max_us=%.2f floor_large_us=%.2f floor_seq_large_us=%.2f floor_tflops=%.1f "
      "floor_large_bf16_storage_us=%.2f floor_seq_large_bf16_storage_us=%.2f floor_tflops_bf16_storage=%.1f "
      "plait_large_tf32_us=%.2f plait_large_tf32_min_us=%.2f plait_large_tf32_max_us=%.2f floor_large_tf32_us=%.2f "
      "floor_seq_large_tf32_us=%.2f floor_tflops_tf32=%.1f copy_large_us=%.2f "
      "plait_small_us=%.2f plait_small_min_us=%.2f plait_small_max_us=%.2f loss_large=%.4f loss_large_tf32=%.4f "
      "loss_small=%.4f plait_small_graph_us=%.2f plait_small_graph_min_us=%.2f plait_small_graph_max_us=%.2f "
      "loss_small_graph=%.4f\n",
      name.c_str(), reps_large, reps_small, pl.time.median, pl.time.min, pl.time.max, fl.sum_us, fl.back_to_back.median,
      fl.tflops, fl16.sum_us, fl16.back_to_back.median, fl16.tflops, pt.time.median, pt.time.min, pt.time.max,
      ft.sum_us, ft.back_to_back.median, ft.tflops, copy.median, ps.time.median, ps.time.min, ps.time.max,
      double(pl.loss), double(pt.loss), double(ps.loss), psg.time.median, psg.time.min, psg.time.max, double(psg.loss));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}
