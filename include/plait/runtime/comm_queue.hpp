#pragma once
// comm_queue: a device's communication worker. The compute thread posts collectives and goes on
// with backward; the worker runs them in posting order (the same order on every device, as the
// program says), so communication overlaps computation. wait() blocks until all posted ones are
// done. A fixed ring: posting allocates nothing.

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <mutex>
#include <thread>
#include <utility>

#include "../core/error.hpp"

namespace plait {

/// One collective to run: what the worker calls, with its argument.
struct comm_task {
  void (*run)(void* arg, std::size_t index) = nullptr;
  void* arg = nullptr;
  std::size_t index = 0;
};

class comm_queue {
 public:
  static constexpr std::size_t capacity = 256;

  /// threaded == false: tasks run at once on the posting thread (a device without peers).
  template <class Enter>
  comm_queue(bool threaded, Enter enter) {
    if (threaded)
      thread_ = std::thread([this, enter] {
        enter();
        loop();
      });
  }
  comm_queue(const comm_queue&) = delete;
  comm_queue& operator=(const comm_queue&) = delete;
  ~comm_queue() {
    if (!thread_.joinable()) return;
    stop_.store(true, std::memory_order_release);
    posted_.fetch_add(1, std::memory_order_release);  // wake the worker
    posted_.notify_one();
    thread_.join();
  }

  /// Posts a task; returns its ticket, which wait_for(ticket) waits on. With `handoff`, the caller
  /// lends its core to the worker until the task has started (see below).
  std::size_t post(comm_task t, bool handoff = false) {
    if (!thread_.joinable()) {
      t.run(t.arg, t.index);
      return 0;
    }
    const std::size_t p = posted_.load(std::memory_order_relaxed);
    if (p - completed_.load(std::memory_order_acquire) >= capacity)
      fail("a device posted more than 256 collectives without waiting", "its communication queue is a fixed ring",
           "report this as a plait bug");
    ring_[p % capacity] = t;
    posted_.store(p + 1, std::memory_order_release);
    posted_.notify_one();
    // Hand the core to the worker until it has taken the task (at most a couple of milliseconds):
    // where devices outnumber free cores (host devices on a small machine), the woken worker would
    // otherwise wait for the compute thread's time slice to end, and the collective would start only
    // after backward, not beside it. The caller sleeps rather than yields: a core left idle pulls the
    // woken worker at once, even when the kernel queued it behind another device's busy thread.
    // A collective gains from starting at once (its peers wait in it); a send does not: the
    // receiver takes it when it gets there, and the compute thread has better things to do.
    if (handoff) {
      std::unique_lock lock(handoff_mutex_);
      handoff_waiting_.store(true, std::memory_order_seq_cst);
      handoff_cv_.wait_for(lock, std::chrono::milliseconds(2),
                           [&] { return started_.load(std::memory_order_seq_cst) > p; });
      handoff_waiting_.store(false, std::memory_order_relaxed);
    }
    return p + 1;
  }

  /// Returns when the task with this ticket (and every one before it) has run.
  void wait_for(std::size_t ticket) {
    if (!thread_.joinable()) return;
    std::size_t c = completed_.load(std::memory_order_acquire);
    while (c < ticket) {
      completed_.wait(c, std::memory_order_acquire);
      c = completed_.load(std::memory_order_acquire);
    }
    // A task's error is rethrown by wait(), when no task runs: later tasks may still be running here.
  }

  /// Returns when every posted task has run; rethrows a task's exception.
  void wait() {
    if (!thread_.joinable()) return;
    const std::size_t target = posted_.load(std::memory_order_relaxed);
    std::size_t c = completed_.load(std::memory_order_acquire);
    while (c < target) {
      completed_.wait(c, std::memory_order_acquire);
      c = completed_.load(std::memory_order_acquire);
    }
    if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
  }

 private:
  void loop() {
    std::size_t next = 0;
    for (;;) {
      std::size_t p = posted_.load(std::memory_order_acquire);
      while (p == next) {
        posted_.wait(p, std::memory_order_acquire);
        p = posted_.load(std::memory_order_acquire);
      }
      if (stop_.load(std::memory_order_acquire)) return;
      const comm_task t = ring_[next % capacity];
      started_.store(next + 1, std::memory_order_seq_cst);
      if (handoff_waiting_.load(std::memory_order_seq_cst)) {
        std::lock_guard lock(handoff_mutex_);  // the poster tests started_ under the lock: no lost wake-up
        handoff_cv_.notify_one();
      }
      if (!error_) {
        try {
          t.run(t.arg, t.index);
        } catch (...) {
          error_ = std::current_exception();  // read by wait() after completed_ is released
        }
      }
      ++next;
      completed_.store(next, std::memory_order_release);
      completed_.notify_one();
    }
  }

  std::array<comm_task, capacity> ring_{};
  std::atomic<std::size_t> posted_{0};
  std::atomic<std::size_t> started_{0};
  std::atomic<std::size_t> completed_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> handoff_waiting_{false};
  std::mutex handoff_mutex_;
  std::condition_variable handoff_cv_;
  std::exception_ptr error_;
  std::thread thread_;
};

}  // namespace plait
