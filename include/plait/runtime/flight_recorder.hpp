#pragma once
// flight_recorder: the last instructions and collectives each of this process's devices started and
// finished, always on, for the moment a job stops: a deadline, an error, SIGTERM (what mpiexec sends
// the other ranks after one calls MPI_Abort) or SIGUSR1 (a look at a job that hangs). Then each rank
// writes one file, and tools/flight_recorder.py reads every rank's and names the rank that is stuck,
// where, and the ranks that wait for it.
//
//   device d, lane compute:        [... forward stage 0 mb 3 | backward stage 0 mb 3 | optimizer_step ]
//   device d, lane communication:  [... all_reduce bucket 1 | all_reduce bucket 0 (running) ]
//
// Each device has two rings of `capacity` records (default 2000), allocated at place(...): one written
// by the thread that runs its program, one by its communication worker (the data-parallel
// collectives), so each ring has one writer and a record costs two clock reads and a few stores (the
// time-stamp counter where it is invariant: detail/flight_clock.hpp). The oldest record is
// overwritten; nothing is allocated per step.
//
// Reading while the writers run (a signal, another thread's error): every field is stored and loaded
// atomically (relaxed, plain moves on x86) and each record carries a sequence number written last, so
// a reader skips a record that is being overwritten instead of reading it half old, half new.
//
// The file: <dir>/plait_flight_rank<R>.json (format "plait-flight-1", described in docs/training.md),
// written through a fixed buffer with write(2), under a temporary name then renamed: what the signal
// handler can do without allocating. <dir> is flight_options::dir, else $PLAIT_FLIGHT_DIR, else the
// current directory. A model placed across processes writes it on an error out of a step and installs
// the SIGTERM/SIGUSR1 handlers; in one process it does so where a directory is named
// (flight_options::dir or $PLAIT_FLIGHT_DIR), and installs the handlers where flight_options::signals.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "../core/error.hpp"
#include "../io/trace.hpp"
#include "../program/instruction.hpp"
#include "detail/flight_clock.hpp"
#include "detail/flight_writer.hpp"

namespace plait {

/// An instruction the device computes, or one that waits on peers (a collective, a send, a receive).
enum class flight_kind : std::uint8_t { instruction = 0, collective = 1 };
enum class flight_state : std::uint8_t { running = 0, finished = 1, failed = 2 };  // failed: it threw

/// One instruction as a device ran it. Plain data, 64 bytes.
struct flight_record {
  const char* what = nullptr;   // its name ("forward stage 0", "all_reduce bucket 2"): lives as long as the model
  std::uint64_t seq = 0;        // 1 + its index among its ring's records; 0: being written
  std::uint64_t step = 0;       // the model's step count
  std::uint64_t bytes = 0;      // sent, received or reduced (0: computes only)
  std::int64_t start = 0;       // ticks of the recorder's clock (flight_recorder::ticks())
  std::int64_t finish = 0;      // 0: not finished
  std::int32_t microbatch = 0;  // the instruction's micro-batch
  std::int16_t stage = 0;       // its stage
  std::int16_t peer = -1;       // send/recv: rank in the inner group; collective: collective_group; -1: none
  opcode op{};
  flight_kind kind = flight_kind::instruction;
  flight_state state = flight_state::running;
};

namespace flight_detail {
template <class T>
void put(T& field, T value, std::memory_order o = std::memory_order_relaxed) {
  std::atomic_ref<T>(field).store(value, o);
}
template <class T>
T get(const T& field, std::memory_order o = std::memory_order_relaxed) {
  return std::atomic_ref<T>(const_cast<T&>(field)).load(o);
}
}  // namespace flight_detail

/// A ring of records with one writer (start, finish) and any readers (read).
class flight_ring {
 public:
  void attach(flight_record* slots, std::size_t capacity) { slots_ = slots, capacity_ = capacity; }
  std::size_t capacity() const { return capacity_; }

  /// Records r as started; returns its sequence number for finish().
  std::uint64_t start(const flight_record& r) {
    using namespace flight_detail;
    const std::uint64_t n = next_.load(std::memory_order_relaxed);  // only this thread writes it
    flight_record& s = slots_[n % capacity_];
    put(s.seq, std::uint64_t(0));
    std::atomic_thread_fence(std::memory_order_release);  // a reader sees the slot invalid before it changes
    put(s.what, r.what), put(s.step, r.step), put(s.bytes, r.bytes), put(s.start, r.start);
    put(s.finish, std::int64_t(0)), put(s.microbatch, r.microbatch), put(s.stage, r.stage), put(s.peer, r.peer);
    put(s.op, r.op), put(s.kind, r.kind), put(s.state, flight_state::running);
    put(s.seq, n + 1, std::memory_order_release);
    next_.store(n + 1, std::memory_order_release);
    return n + 1;
  }
  void finish(std::uint64_t seq, flight_state state, std::int64_t now) {
    using namespace flight_detail;
    flight_record& s = slots_[(seq - 1) % capacity_];
    if (get(s.seq) != seq) return;  // overwritten while it ran
    if (state == flight_state::finished) put(s.finish, now);
    put(s.state, state, std::memory_order_release);
  }

  /// Records started so far; the ring holds the last min(started(), capacity()) of them.
  std::uint64_t started() const { return next_.load(std::memory_order_acquire); }
  /// Record k (0-based) into `out`; false where it was overwritten or is being written.
  bool read(std::uint64_t k, flight_record& out) const {
    using namespace flight_detail;
    const flight_record& s = slots_[k % capacity_];
    const std::uint64_t seq = get(s.seq, std::memory_order_acquire);
    out.seq = seq, out.what = get(s.what), out.step = get(s.step), out.bytes = get(s.bytes);
    out.start = get(s.start), out.microbatch = get(s.microbatch), out.stage = get(s.stage);
    out.peer = get(s.peer), out.op = get(s.op), out.kind = get(s.kind);
    out.state = get(s.state, std::memory_order_acquire), out.finish = get(s.finish);
    std::atomic_thread_fence(std::memory_order_acquire);
    return seq == k + 1 && get(s.seq) == seq;
  }
  /// The first record still held.
  std::uint64_t oldest() const {
    const std::uint64_t n = started();
    return n > capacity_ ? n - capacity_ : 0;
  }

 private:
  flight_record* slots_ = nullptr;  // [capacity] @ host
  std::size_t capacity_ = 0;
  std::atomic<std::uint64_t> next_{0};
};

/// Who is recording: written into the file, so that the tool can put the ranks side by side.
struct flight_identity {
  std::size_t rank = 0;          // this process in the job
  std::size_t ranks = 1;         // processes in the job
  std::size_t first_device = 0;  // the mesh's device that local device 0 is
  const char* policy = "";       // the plan's name, e.g. "replicate<3>" (static)
  std::string dir;               // where dump() writes ("" : "$PLAIT_FLIGHT_DIR", else ".")
  bool dump_on_error = false;    // on_error() writes the file
};

class flight_recorder {
 public:
  static constexpr std::size_t default_capacity = 2000;
  enum lane : std::size_t { compute = 0, communication = 1 };

  /// Disabled: records nothing.
  flight_recorder() = default;
  /// `devices` local devices, `capacity` records per device and lane (0: disabled).
  flight_recorder(std::size_t devices, std::size_t capacity, flight_identity id)
      : devices_(capacity ? devices : 0), capacity_(capacity), id_(std::move(id)) {
    slots_ = std::make_unique<flight_record[]>(devices_ * 2 * capacity_);
    rings_ = std::make_unique<flight_ring[]>(devices_ * 2);
    for (std::size_t r = 0; r < devices_ * 2; ++r) rings_[r].attach(slots_.get() + r * capacity_, capacity_);
    if (id_.dir.empty()) id_.dir = std::getenv("PLAIT_FLIGHT_DIR") ? std::getenv("PLAIT_FLIGHT_DIR") : "";
    if (id_.dir.empty()) id_.dir = ".";
    const std::string file = cat(id_.dir, "/plait_flight_rank", id_.rank, ".json");
    expect(file.size() + 32 < sizeof(path_), cat("the flight recorder's directory '", id_.dir, "' is too long"),
           cat("its file's path must fit in ", sizeof(path_) - 32, " bytes"),
           "set a shorter flight_options::dir or PLAIT_FLIGHT_DIR");
    flight_detail::copy_text(path_, sizeof(path_), file.c_str());
    flight_detail::copy_text(temporary_, sizeof(temporary_), cat(file, ".", ::getpid(), ".tmp").c_str());
    if (::gethostname(host_, sizeof(host_)) != 0) flight_detail::copy_text(host_, sizeof(host_), "unknown");
    host_[sizeof(host_) - 1] = '\0';
  }
  flight_recorder(const flight_recorder&) = delete;
  flight_recorder& operator=(const flight_recorder&) = delete;
  ~flight_recorder();

  bool enabled() const { return devices_ != 0; }
  std::size_t devices() const { return devices_; }
  std::size_t capacity() const { return capacity_; }
  const flight_identity& identity() const { return id_; }
  /// Where dump() writes: <dir>/plait_flight_rank<R>.json.
  const char* path() const { return path_; }
  bool dumps_on_error() const { return enabled() && id_.dump_on_error; }

  flight_ring& ring(std::size_t local, lane l) { return rings_[local * 2 + l]; }
  const flight_ring& ring(std::size_t local, lane l) const { return rings_[local * 2 + l]; }
  /// Now on the clock records are kept in (async-signal-safe).
  std::int64_t ticks() const noexcept { return clock_.ticks(); }
  /// A record's start or finish in CLOCK_MONOTONIC nanoseconds (std::chrono::steady_clock's), as the file has it.
  std::int64_t to_ns(std::int64_t tick) const noexcept {
    return clock_.to_ns(tick, clock_.ticks(), flight_detail::flight_clock::monotonic_ns());
  }

  /// Local device `local`'s records still held, both lanes in the order they started (allocates:
  /// for tests and tools, not for a signal handler).
  std::vector<flight_record> records(std::size_t local) const {
    std::vector<flight_record> out;
    each_record(local, [&](const flight_record& r) { out.push_back(r); });
    return out;
  }

  /// Writes the file at path(), saying why (`reason`, and the error's text when there is one).
  /// Async-signal-safe: allocates nothing, takes no lock but its own (a dump already under way
  /// elsewhere is waited for up to a second). Returns 0 or the errno that stopped it.
  int dump(const char* reason, const char* error_text = nullptr) const noexcept {
    return dump_to(path_, temporary_, reason, error_text);
  }
  /// The same, to another file (allocates its temporary name: not for a signal handler).
  int write(const std::string& path, const char* reason = "requested") const {
    return dump_to(path.c_str(), (path + ".tmp").c_str(), reason, nullptr);
  }

  /// An error out of a step: writes the file when this recorder dumps on errors, and returns the
  /// error's text with the file's name appended (unchanged when it does not dump).
  std::string on_error(std::string_view message) const {
    std::string text(message);
    if (!dumps_on_error()) return text;
    if (const int e = dump("error", text.c_str()); e != 0)
      return cat(text, " The flight recorder could not write ", path_, ": ", std::strerror(e), ".");
    return cat(text, " See the flight recorder: ", path_, " (tools/flight_recorder.py ", id_.dir,
               " reads every rank's).");
  }

  /// SIGTERM and SIGUSR1 write this recorder's file (and every other registered one's); SIGTERM then
  /// goes on to what it did before (by default, ending the process).
  void install_signal_handlers();

 private:
  // fn(record) for device `local`'s held records, both lanes merged by start time.
  template <class Fn>
  void each_record(std::size_t local, Fn&& fn) const {
    const flight_ring& a = ring(local, compute);
    const flight_ring& b = ring(local, communication);
    std::uint64_t ka = a.oldest(), kb = b.oldest();
    const std::uint64_t na = a.started(), nb = b.started();
    flight_record ra{}, rb{};
    auto next = [](const flight_ring& g, std::uint64_t& k, std::uint64_t n, flight_record& r) {
      for (; k < n; ++k)
        if (g.read(k, r)) return true;
      return false;
    };
    bool ha = next(a, ka, na, ra), hb = next(b, kb, nb, rb);
    while (ha || hb) {
      if (ha && (!hb || ra.start <= rb.start)) {
        fn(ra);
        ++ka;
        ha = next(a, ka, na, ra);
      } else {
        fn(rb);
        ++kb;
        hb = next(b, kb, nb, rb);
      }
    }
  }

  int dump_to(const char* path, const char* temporary, const char* reason, const char* error_text) const noexcept;
  void body(flight_detail::fd_writer& out, const char* reason) const noexcept;

  std::size_t devices_ = 0;  // 0: disabled
  std::size_t capacity_ = 0;
  flight_detail::flight_clock clock_;
  flight_identity id_;
  std::unique_ptr<flight_record[]> slots_;  // [devices, lane, capacity] @ host
  std::unique_ptr<flight_ring[]> rings_;    // [devices, lane]
  char path_[4096] = {};
  char temporary_[4096] = {};
  char host_[256] = {};
  mutable char error_[2048] = {};  // the last error's text, kept for later dumps (under busy_)
  mutable std::atomic<int> busy_{0};
  int slot_ = -1;  // in the signal handlers' registry
};

/// Records one instruction for as long as it lives: started at construction, finished at destruction,
/// or failed when an exception leaves its scope. With a null or disabled recorder it reads no clock.
class flight_scope {
 public:
  /// Local device `local` runs `i` (named `what`) in step `step`; bytes() says how many it moves.
  template <class Bytes>
  flight_scope(flight_recorder* r, std::size_t local, const instruction& i, const char* what, std::uint64_t step,
               const Bytes& bytes) {
    if (r == nullptr || !r->enabled()) return;
    // The data-parallel collectives run on the device's communication worker: the other ring.
    const bool worker = is_collective(i.op) && i.peer != std::int16_t(collective_group::inner);
    ring_ = &r->ring(local, worker ? flight_recorder::communication : flight_recorder::compute);
    recorder_ = r;
    flight_record rec;
    rec.what = what, rec.step = step, rec.microbatch = i.microbatch, rec.stage = std::int16_t(i.stage);
    rec.peer = i.peer, rec.op = i.op,
    rec.kind = communicates_op(i.op) ? flight_kind::collective : flight_kind::instruction;
    rec.bytes = bytes();
    rec.start = r->ticks();
    seq_ = ring_->start(rec);
  }
  ~flight_scope() {
    if (ring_ != nullptr)
      ring_->finish(seq_, std::uncaught_exceptions() > 0 ? flight_state::failed : flight_state::finished,
                    recorder_->ticks());
  }
  flight_scope(const flight_scope&) = delete;
  flight_scope& operator=(const flight_scope&) = delete;

 private:
  const flight_recorder* recorder_ = nullptr;
  flight_ring* ring_ = nullptr;
  std::uint64_t seq_ = 0;
};

/// What an executed instruction records: a span of the trace (when enabled) and a flight record of
/// local device `local` (mesh device `device`), both from construction to destruction.
struct flight_traced {
  template <class Bytes>
  flight_traced(trace_recorder& t, flight_recorder* f, std::size_t device, std::size_t local, trace_row row,
                const instruction& i, const char* what, std::uint64_t step, const Bytes& bytes)
      : trace(t, what, std::uint32_t(device), row, i.microbatch, std::int32_t(step)),
        flight(f, local, i, what, step, bytes) {}
  trace_scope trace;
  flight_scope flight;
};

/// The bytes instruction `i` of a device's program moves (0 for one that computes only): a message's
/// rows times their width, an exchange's, a bucket's or the whole gradient's floats. `h`: the
/// executor's handler (runtime/executor.hpp), which knows the micro-batch's rows and the widths.
template <class Plan, class Handler>
std::uint64_t flight_bytes(const Handler& h, const instruction& i) {
  constexpr std::uint64_t f = sizeof(float);
  if (!communicates_op(i.op)) return 0;
  if (i.op == opcode::send || i.op == opcode::recv) {  // [mb, in] or [mb, out]
    const bool in = (message_kind(i.buffer) == message_kind::activation) == (i.op == opcode::recv);
    return f * h.rows(i).size() * (in ? h.in_width() : h.out_width());
  }
  if (i.peer == std::int16_t(collective_group::inner)) {  // partition's exchange at a stage boundary
    const bool gradient = message_kind(i.buffer) == message_kind::gradient;
    const std::size_t b = gradient ? Plan::stages[i.stage].first : Plan::stages[i.stage].last;
    const bool gathers = i.op == opcode::all_gather && !gradient;  // [mb, Out/N] -> [mb, Out]
    return f * h.rows(i).size() * Plan::device_layout::out_sizes[gathers ? b : b - 1];
  }
  if (i.buffer == whole_gradient) return f * h.mem.param_size();  // [Pd]
  if constexpr (Plan::buckets.size() > 0)
    if (i.buffer < Plan::buckets.size()) return f * Plan::buckets[i.buffer].size;  // [bucket]
  return 0;
}

}  // namespace plait

#include "detail/flight_dump.hpp"  // flight_recorder::dump_to, body, the signal handlers
