#pragma once
// trace_recorder: what each logical device did, and when, during training steps, kept in memory
// allocated up front so that recording never allocates and costs a clock read and a store.
// The events are written as a Chrome trace by io/chrome_trace.hpp, where Perfetto or
// chrome://tracing shows one track per device with a compute row and a communication row.
//
//   plait::trace_recorder trace(devices, 4096);             // enabled: all memory taken here
//   { plait::trace_scope s(trace, "forward", d, plait::trace_row::compute, mb, step); ... }
//   plait::write_chrome_trace("step.json", trace.events());
//   trace.clear();                                           // next step, same buffers
//
// A default-constructed recorder is disabled: record() and trace_scope test one flag and return,
// so the runtime records unconditionally and pays nothing when nobody asked for a trace.
//
// Threads: each device has one buffer of capacity_per_device events; record() claims a slot with
// one atomic increment, so any threads may record concurrently, in particular a device's compute
// and communication threads at once. A full buffer drops the event and counts it (dropped())
// instead of growing. events(), clear() and dropped() read the buffers: call them when no record()
// is in flight (between steps, after the workers have synchronised).

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "../core/error.hpp"

namespace plait {

/// The rows of a device's track; the values are the Chrome-trace thread ids.
enum class trace_row : std::uint8_t { compute = 0, communication = 1 };

/// One span of work on one device. `name` is not copied: it must outlive every use of the event
/// (a string literal, or a name table that outlives the trace), and should be UTF-8.
struct trace_event {
  const char* name = nullptr;
  std::uint32_t device = 0;
  trace_row row = trace_row::compute;
  double begin_us = 0;  // microseconds on the recorder's clock (now_us()), or planned time
  double end_us = 0;
  std::int32_t microbatch = -1;  // -1: not tied to a micro-batch
  std::int32_t step = -1;        // -1: not tied to a training step
};

class trace_recorder {
 public:
  /// Disabled: records nothing, allocates nothing.
  trace_recorder() = default;

  /// Enabled, for devices 0 .. devices-1, each holding up to capacity_per_device events per step.
  trace_recorder(std::size_t devices, std::size_t capacity_per_device)
      : devices_(devices),
        capacity_(capacity_per_device),
        counts_(std::make_unique<counter[]>(devices)),
        events_(std::make_unique<trace_event[]>(devices * capacity_per_device)) {
    expect(devices > 0, "trace_recorder over 0 devices", "An enabled recorder keeps one buffer per device",
           "pass the number of logical devices, or default-construct a disabled recorder");
    expect(capacity_per_device > 0, "trace_recorder capacity_per_device is 0", "Every event would be dropped",
           "pass the most events one device records between two clear() calls");
  }

  bool enabled() const { return devices_ != 0; }
  std::size_t devices() const { return devices_; }
  std::size_t capacity_per_device() const { return capacity_; }

  /// Steady clock, microseconds since the recorder was made.
  double now_us() const {
    return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - origin_).count();
  }

  /// Keeps e, or counts it as dropped when its device's buffer is full. Never allocates (it
  /// throws plait::error, which does, only on misuse: a device out of range, no name, end < begin).
  void record(const trace_event& e) {
    if (!enabled()) return;
    check(e);
    store(e);
  }

  /// Forgets the events and the drop counts; keeps the memory and the clock's origin, so that
  /// successive steps lie on one time line.
  void clear() {
    for (std::size_t d = 0; d < devices_; ++d) counts_[d].claimed.store(0, std::memory_order_relaxed);
  }

  /// Events that found their device's buffer full since the last clear().
  std::size_t dropped() const {
    std::size_t total = 0;
    for (std::size_t d = 0; d < devices_; ++d) {
      const std::size_t claimed = counts_[d].claimed.load(std::memory_order_relaxed);
      total += claimed > capacity_ ? claimed - capacity_ : 0;
    }
    return total;
  }

  /// A copy of the kept events, sorted by begin time (ties by device, row, end), so the order
  /// does not depend on how the threads interleaved.
  std::vector<trace_event> events() const {
    std::vector<trace_event> out;
    for (std::size_t d = 0; d < devices_; ++d) {
      const trace_event* first = events_.get() + d * capacity_;
      out.insert(out.end(), first, first + kept(d));
    }
    std::stable_sort(out.begin(), out.end(), [](const trace_event& a, const trace_event& b) {
      return std::tie(a.begin_us, a.device, a.row, a.end_us) < std::tie(b.begin_us, b.device, b.row, b.end_us);
    });
    return out;
  }

 private:
  friend class trace_scope;

  // Own cache line each, so devices recording at once do not contend on one line.
  struct alignas(64) counter {
    std::atomic<std::size_t> claimed{0};  // slots taken since clear(); beyond capacity_ = dropped
  };

  std::size_t kept(std::size_t d) const {
    return std::min(counts_[d].claimed.load(std::memory_order_acquire), capacity_);
  }

  void check(const trace_event& e) const {
    if (e.device >= devices_) [[unlikely]]
      fail("trace event for device " + std::to_string(e.device) + " is out of range",
           "The recorder was made for " + std::to_string(devices_) + " devices",
           "make the trace_recorder with one buffer per logical device");
    if (e.name == nullptr) [[unlikely]]
      fail("trace event without a name", "Every span in the trace is labelled by its name",
           "pass a name that outlives the recorder, such as a string literal");
    if (!(e.end_us >= e.begin_us)) [[unlikely]]
      fail("trace event '" + std::string(e.name) + "' ends before it begins",
           "A span's duration cannot be negative (or NaN)", "record begin_us <= end_us, both from now_us()");
  }

  // Relaxed is enough to make slots unique; the events reach the reader through whatever
  // synchronisation ends the step (a join, a barrier), which events() requires anyway.
  void store(const trace_event& e) {
    const std::size_t slot = counts_[e.device].claimed.fetch_add(1, std::memory_order_relaxed);
    if (slot < capacity_) events_[e.device * capacity_ + slot] = e;
  }

  std::size_t devices_ = 0;  // 0: disabled
  std::size_t capacity_ = 0;
  std::unique_ptr<counter[]> counts_;      // [devices]
  std::unique_ptr<trace_event[]> events_;  // [devices, capacity] @ host
  std::chrono::steady_clock::time_point origin_ = std::chrono::steady_clock::now();
};

/// RAII: records [construction, destruction) as one event of `recorder`. With a disabled
/// recorder it reads no clock. The event is checked at construction, so the destructor cannot throw.
class trace_scope {
 public:
  trace_scope(trace_recorder& recorder, const char* name, std::uint32_t device, trace_row row = trace_row::compute,
              std::int32_t microbatch = -1, std::int32_t step = -1)
      : recorder_(recorder.enabled() ? &recorder : nullptr) {
    if (recorder_ == nullptr) return;
    event_ = {name, device, row, 0, 0, microbatch, step};
    recorder_->check(event_);
    event_.begin_us = recorder_->now_us();
  }

  ~trace_scope() {
    if (recorder_ == nullptr) return;
    event_.end_us = recorder_->now_us();  // steady: never before begin_us
    recorder_->store(event_);
  }

  trace_scope(const trace_scope&) = delete;
  trace_scope& operator=(const trace_scope&) = delete;

 private:
  trace_recorder* recorder_;  // nullptr: disabled
  trace_event event_{};
};

}  // namespace plait
