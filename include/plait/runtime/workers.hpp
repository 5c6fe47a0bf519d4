#pragma once
// device_workers: one thread per logical device beyond the first; the calling thread is device 0.
// run(job) executes job(d) on every device d at once and returns when all are done. Threads are
// made at place(...) and reused by every step: a step starts no thread and allocates nothing.

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

namespace plait {

class device_workers {
 public:
  using job_fn = void (*)(void* arg, std::size_t device);

  /// `devices` logical devices; `enter(d)` runs once on device d's thread before any job.
  template <class Enter>
  device_workers(std::size_t devices, Enter enter) : errors_(devices) {
    threads_.reserve(devices > 0 ? devices - 1 : 0);
    for (std::size_t d = 1; d < devices; ++d)
      threads_.emplace_back([this, d, enter] {
        enter(d);
        loop(d);
      });
  }
  device_workers(const device_workers&) = delete;
  device_workers& operator=(const device_workers&) = delete;
  ~device_workers() {
    stop_.store(true, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    for (auto& t : threads_) t.join();
  }

  std::size_t size() const { return threads_.size() + 1; }

  /// Runs fn(arg, d) for every device d, device 0 on the calling thread. Rethrows the first
  /// device's exception (by device order) after every device has finished.
  void run(job_fn fn, void* arg) {
    fn_ = fn;
    arg_ = arg;
    done_.store(0, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    work(0);
    std::size_t done = done_.load(std::memory_order_acquire);
    while (done != threads_.size()) {
      done_.wait(done, std::memory_order_acquire);
      done = done_.load(std::memory_order_acquire);
    }
    for (auto& e : errors_)
      if (e) {
        std::exception_ptr first = std::exchange(e, nullptr);
        for (auto& rest : errors_) rest = nullptr;
        std::rethrow_exception(first);
      }
  }

 private:
  void work(std::size_t d) {
    try {
      fn_(arg_, d);
    } catch (...) {
      errors_[d] = std::current_exception();
    }
  }

  void loop(std::size_t d) {
    std::uint64_t seen = 0;
    for (;;) {
      std::uint64_t g = generation_.load(std::memory_order_acquire);
      while (g == seen) {
        generation_.wait(g, std::memory_order_acquire);
        g = generation_.load(std::memory_order_acquire);
      }
      seen = g;
      if (stop_.load(std::memory_order_relaxed)) return;
      work(d);
      done_.fetch_add(1, std::memory_order_acq_rel);
      done_.notify_one();
    }
  }

  std::vector<std::thread> threads_;
  std::vector<std::exception_ptr> errors_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::size_t> done_{0};
  std::atomic<bool> stop_{false};
  job_fn fn_ = nullptr;
  void* arg_ = nullptr;
};

}  // namespace plait
