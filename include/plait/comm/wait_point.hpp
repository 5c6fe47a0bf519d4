#pragma once
// wait_point: where threads of one process wait for a condition on shared atomics and are woken
// when another thread changes it. A wait spins briefly (pause, then yield: the cores are usually
// shared with compute threads), then sleeps on a condition variable until the condition holds,
// the caller's `stop` condition holds, or the deadline passes.
//
// No lost wake-up: a waiter registers in sleepers_, then tests its condition; a waker changes the
// state, then reads sleepers_. A seq-cst fence between the two steps on both sides means one of them
// sees the other. (State changes are often release stores, which a later load may otherwise pass: a
// message posted while its receiver went to sleep would then wake no one, and the receiver would
// sleep until its deadline.)

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace plait {

class wait_point {
 public:
  using clock = std::chrono::steady_clock;

  /// Call after every change of state a waiter may be waiting for.
  void wake() {
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) == 0) return;
    { std::lock_guard<std::mutex> lock(mutex_); }
    cv_.notify_all();
  }

  /// Waits until done() holds (true), or until stop() holds or the deadline passes (false, unless
  /// done() holds by then). Spins for about `spin` first.
  template <class Done, class Stop>
  bool await(const Done& done, const Stop& stop, clock::time_point deadline, clock::duration spin) {
    const clock::time_point spin_end = clock::now() + spin;
    for (unsigned i = 0;; ++i) {
      if (done()) return true;
      if (stop()) return false;
      if (i % 16 == 15 && clock::now() >= spin_end) break;
      if (i < 64) cpu_relax();
      else std::this_thread::yield();
    }
    std::unique_lock<std::mutex> lock(mutex_);
    sleepers_.fetch_add(1);
    std::atomic_thread_fence(std::memory_order_seq_cst);  // pairs with wake()'s fence
    bool ok = false;
    while (!(ok = done()) && !stop())
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
        ok = done();
        break;
      }
    sleepers_.fetch_sub(1);
    return ok;
  }

 private:
  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<unsigned> sleepers_{0};
  std::mutex mutex_;
  std::condition_variable cv_;
};

}  // namespace plait
