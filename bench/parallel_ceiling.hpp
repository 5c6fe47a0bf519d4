#pragma once
// The machine's parallel ceiling for a multi-device benchmark's own work, shared by
// bench/replicate_scaling, bench/policy_matrix and bench/pipeline_bubble.
//
// A benchmark describes the GEMMs each device runs in one training step (shapes, transposes, how
// many, on operands the way the runtime keeps them: one weight per layer, one activation per layer
// and micro-batch, the weight gradient accumulated over micro-batches). parallel_ceiling gives every
// device operands of its own (nothing shared between threads) and times
//   serial:   one thread runs every device's GEMMs, one device after the other;
//   parallel: device d's GEMMs on thread d (the calling thread is device 0), all at once.
// ceiling = serial / parallel is the most that N devices can gain over one on this machine for this
// work: two cores sharing a cache and memory bandwidth (or a noisy neighbour) give less than N.
// A benchmark times these two next to its configurations, in the same rounds, and reports
// efficiency = speedup / ceiling.
//
// The worker threads are started once and woken per run (an atomic generation counter, futex wait),
// so a run pays no thread creation; each GEMM is one single-threaded call of plait::host_sgemm, the
// library a host device of one thread runs that product on (bench/run sets OMP_NUM_THREADS=1 and
// OPENBLAS_NUM_THREADS=1).

#include <plait/kernels/gemm_host.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

namespace plait_bench {

/// The GEMMs of one device in one step, on operands of its own.
class device_gemms {
 public:
  /// A new operand of `floats` elements (filled with a small constant: no denormals, no zeros).
  std::size_t buffer(std::size_t floats) {
    buffers_.emplace_back(floats, 0.01f);
    return buffers_.size() - 1;
  }
  /// C [m, n] = op(A) [m, k] op(B) [k, n] (+ C when accumulate), row-major.
  void gemm(int m, int n, int k, bool trans_a, bool trans_b, std::size_t a, std::size_t b, std::size_t c,
            bool accumulate = false) {
    ops_.push_back({m, n, k, trans_a, trans_b, accumulate, a, b, c});
  }
  void run() {
    for (const op& o : ops_)
      plait::host_sgemm(o.trans_a ? plait::transpose::yes : plait::transpose::no,
                        o.trans_b ? plait::transpose::yes : plait::transpose::no, o.m, o.n, o.k, 1.f,
                        buffers_[o.a].data(), o.trans_a ? o.m : o.k, buffers_[o.b].data(), o.trans_b ? o.k : o.n,
                        o.accumulate ? 1.f : 0.f, buffers_[o.c].data(), o.n);
  }
  std::size_t count() const { return ops_.size(); }
  double flops() const {
    double f = 0;
    for (const op& o : ops_) f += 2.0 * o.m * o.n * o.k;
    return f;
  }

 private:
  struct op {
    int m, n, k;
    bool trans_a, trans_b, accumulate;
    std::size_t a, b, c;
  };
  std::vector<std::vector<float>> buffers_;
  std::vector<op> ops_;
};

/// An MLP's GEMMs on one device for one step, as plait's runtime runs a linear stage: per
/// micro-batch, every layer's forward y = x W^T, then from the last layer back its weight gradient
/// dW += dy^T x (accumulated over the micro-batches) and its input gradient dx = dy W (left out for
/// the graph's first layer, whose input needs none). `dims` are the widths from the stage's input
/// to its output; `rows` the rows of one micro-batch.
inline device_gemms mlp_step(const std::vector<int>& dims, int rows, std::size_t microbatches = 1,
                             bool first_layer_of_graph = true) {
  const std::size_t layers = dims.size() - 1;
  device_gemms g;
  std::vector<std::size_t> w(layers), dw(layers), dy(layers + 1);
  std::vector<std::vector<std::size_t>> x(microbatches, std::vector<std::size_t>(layers + 1));
  for (std::size_t l = 0; l < layers; ++l) {
    w[l] = g.buffer(std::size_t(dims[l + 1]) * dims[l]);
    dw[l] = g.buffer(std::size_t(dims[l + 1]) * dims[l]);
  }
  for (std::size_t l = 0; l <= layers; ++l) dy[l] = g.buffer(std::size_t(rows) * dims[l]);
  for (auto& mb : x)
    for (std::size_t l = 0; l <= layers; ++l) mb[l] = g.buffer(std::size_t(rows) * dims[l]);
  for (std::size_t mb = 0; mb < microbatches; ++mb) {
    for (std::size_t l = 0; l < layers; ++l)
      g.gemm(rows, dims[l + 1], dims[l], false, true, x[mb][l], w[l], x[mb][l + 1]);
    for (std::size_t l = layers; l-- > 0;) {
      g.gemm(dims[l + 1], dims[l], rows, true, false, dy[l + 1], x[mb][l], dw[l], mb > 0);
      if (l > 0 || !first_layer_of_graph) g.gemm(rows, dims[l], dims[l + 1], false, false, dy[l + 1], w[l], dy[l]);
    }
  }
  return g;
}

/// The widths of a chain's matrix products over its layers [first, last), from a plait graph_layout:
/// the input width, then the output of every layer whose parameters hold a matrix (in x out). Bias
/// and element-wise layers add none; a row-split linear of partition<N> (layout of its device graph)
/// counts with its slice of the inputs.
template <class Layout>
std::vector<int> linear_widths(std::size_t first = 0, std::size_t last = Layout::layer_count) {
  std::size_t in = first == 0 ? std::size_t(Layout::input_shape::size) : Layout::out_sizes[first - 1];
  std::vector<int> widths{int(in)};
  for (std::size_t i = first; i < last; ++i) {
    if (Layout::param_sizes[i] >= in * Layout::out_sizes[i]) widths.push_back(int(Layout::out_sizes[i]));
    in = Layout::out_sizes[i];
  }
  return widths;
}

/// One step's GEMMs of N devices, timed on one thread and on N threads.
class parallel_ceiling {
 public:
  explicit parallel_ceiling(std::vector<device_gemms> devices) : devices_(std::move(devices)) {
    for (std::size_t d = 1; d < devices_.size(); ++d)
      threads_.emplace_back([this, d] {
        std::uint64_t seen = 0;
        for (;;) {
          generation_.wait(seen, std::memory_order_acquire);
          seen = generation_.load(std::memory_order_acquire);
          if (stop_.load(std::memory_order_acquire)) return;
          devices_[d].run();
          if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == devices_.size() - 1) done_.notify_one();
        }
      });
    serial_ms(1);  // faults every operand in
    parallel_ms(1);
  }
  parallel_ceiling(const parallel_ceiling&) = delete;
  parallel_ceiling& operator=(const parallel_ceiling&) = delete;
  ~parallel_ceiling() {
    stop_.store(true, std::memory_order_release);
    generation_.fetch_add(1, std::memory_order_acq_rel);
    generation_.notify_all();
    for (auto& t : threads_) t.join();
  }

  /// Milliseconds per step with one thread running every device's GEMMs.
  double serial_ms(int steps) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s)
      for (auto& d : devices_) d.run();
    return since(t0) / steps;
  }
  /// Milliseconds per step with device d's GEMMs on thread d, all at once.
  double parallel_ms(int steps) {
    const auto t0 = std::chrono::steady_clock::now();
    for (int s = 0; s < steps; ++s) {
      done_.store(0, std::memory_order_release);
      generation_.fetch_add(1, std::memory_order_acq_rel);
      generation_.notify_all();
      devices_[0].run();
      for (std::size_t n; (n = done_.load(std::memory_order_acquire)) != devices_.size() - 1;)
        done_.wait(n, std::memory_order_acquire);
    }
    return since(t0) / steps;
  }
  /// One round of each, recorded: serial first, then parallel.
  void round(int steps) {
    serial.push_back(serial_ms(steps));
    parallel.push_back(parallel_ms(steps));
  }
  double ceiling() const { return median(serial) / median(parallel); }
  std::size_t device_count() const { return devices_.size(); }
  std::size_t gemms_per_device() const { return devices_[0].count(); }
  /// "G0 + G1 GEMMs, F0 + F1 GFLOP": each device's share of what was timed, for the benchmark's table.
  std::string describe() const {
    std::string count, flops;
    char s[32];
    for (const auto& d : devices_) {
      std::snprintf(s, sizeof s, "%s%zu", count.empty() ? "" : " + ", d.count());
      count += s;
      std::snprintf(s, sizeof s, "%s%.2f", flops.empty() ? "" : " + ", d.flops() / 1e9);
      flops += s;
    }
    return count + " GEMMs, " + flops + " GFLOP";
  }

  std::vector<double> serial, parallel;

  static double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  }

 private:
  static double since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::vector<device_gemms> devices_;
  std::vector<std::thread> threads_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> done_{0};
  std::atomic<bool> stop_{false};
};

}  // namespace plait_bench
