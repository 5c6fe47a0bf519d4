#pragma once
// The flight recorder's file and its signal handlers (runtime/flight_recorder.hpp): everything here
// runs inside a signal handler too, so it allocates nothing and calls only async-signal-safe
// functions (open, write, rename, close, clock_gettime, nanosleep, sigaction, raise).

#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>

#include "../flight_recorder.hpp"
#include "flight_writer.hpp"

namespace plait {
namespace flight_detail {

inline const char* kind_name(flight_kind k) { return k == flight_kind::collective ? "collective" : "instruction"; }
inline const char* state_name(flight_state s) {
  return s == flight_state::finished ? "finished" : s == flight_state::failed ? "failed" : "running";
}

// The recorders that SIGTERM and SIGUSR1 write, and what those signals did before plait's handler.
inline constexpr std::size_t max_registered = 16;
inline std::atomic<const flight_recorder*> registered[max_registered];
inline std::atomic<bool> handlers_installed{false};
inline struct sigaction previous_term, previous_usr1;

inline void call_previous(const struct sigaction& previous, int sig) {
  if ((previous.sa_flags & SA_SIGINFO) != 0 && previous.sa_sigaction != nullptr) {
    siginfo_t info{};
    info.si_signo = sig;
    previous.sa_sigaction(sig, &info, nullptr);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN && previous.sa_handler != nullptr) {
    previous.sa_handler(sig);
  }
}

inline void on_signal(int sig) {
  const int saved = errno;
  for (auto& slot : registered)
    if (const flight_recorder* r = slot.load(std::memory_order_acquire))
      r->dump(sig == SIGTERM ? "SIGTERM" : "SIGUSR1");
  if (sig == SIGTERM) {
    if ((previous_term.sa_flags & SA_SIGINFO) == 0 && previous_term.sa_handler == SIG_DFL) {
      sigaction(SIGTERM, &previous_term, nullptr);  // the default again: the raise ends the process once we return
      raise(SIGTERM);
    } else {
      call_previous(previous_term, sig);
    }
  } else {
    call_previous(previous_usr1, sig);  // SIGUSR1's default (ending the process) is not called: a dump is asked
  }
  errno = saved;
}

}  // namespace flight_detail

inline int flight_recorder::dump_to(const char* path, const char* temporary, const char* reason,
                                    const char* error_text) const noexcept {
  if (!enabled()) return 0;
  int expected = 0;
  for (int tries = 0; !busy_.compare_exchange_strong(expected, 1, std::memory_order_acquire); ++tries) {
    expected = 0;
    if (tries == 200) return EBUSY;  // a dump this thread interrupted, or one that hangs: leave it
    timespec pause{0, 5000000};
    nanosleep(&pause, nullptr);
  }
  if (error_text != nullptr) flight_detail::copy_text(error_, sizeof(error_), error_text);
  const int e = flight_detail::write_whole(path, temporary, [&](flight_detail::fd_writer& out) { body(out, reason); });
  busy_.store(0, std::memory_order_release);
  return e;
}

// {"format": "plait-flight-1", "rank": R, ..., "devices": [{"device": d, "started": n, "records": [...]}]}
inline void flight_recorder::body(flight_detail::fd_writer& out, const char* reason) const noexcept {
  using flight_detail::clock_ns;
  out.raw("{").key("format", true).string("plait-flight-1");
  out.key("rank").number(std::uint64_t(id_.rank)).key("ranks").number(std::uint64_t(id_.ranks));
  out.key("host").string(host_).key("pid").number(std::int64_t(::getpid()));
  out.key("policy").string(id_.policy).key("reason").string(reason).key("error").string(error_);
  const std::int64_t tick = clock_.ticks(), now = clock_ns(CLOCK_MONOTONIC);  // records' ticks -> now's nanoseconds
  out.key("steady_now_ns").number(now).key("wall_now_ns").number(clock_ns(CLOCK_REALTIME));
  out.key("capacity").number(std::uint64_t(capacity_)).key("devices").raw("[");
  for (std::size_t l = 0; l < devices_; ++l) {
    const std::uint64_t started = ring(l, compute).started() + ring(l, communication).started();
    out.raw(l ? ",\n{" : "\n{").key("device", true).number(std::uint64_t(id_.first_device + l));
    out.key("started").number(started).key("records").raw("[");
    bool first = true;
    each_record(l, [&](const flight_record& r) {
      out.raw(first ? "\n{" : ",\n{").key("kind", true).string(flight_detail::kind_name(r.kind));
      out.key("what").string(r.what ? r.what : to_string(r.op)).key("op").string(to_string(r.op));
      out.key("step").number(r.step).key("microbatch").number(std::int64_t(r.microbatch));
      out.key("stage").number(std::int64_t(r.stage)).key("peer").number(std::int64_t(r.peer));
      out.key("bytes").number(r.bytes).key("start_ns").number(clock_.to_ns(r.start, tick, now));
      out.key("finish_ns").number(clock_.to_ns(r.finish, tick, now));
      out.key("state").string(flight_detail::state_name(r.state)).raw("}");
      first = false;
    });
    out.raw("]}");
  }
  out.raw("\n]}\n");
}

inline void flight_recorder::install_signal_handlers() {
  if (!enabled() || slot_ >= 0) return;
  for (std::size_t k = 0; k < flight_detail::max_registered && slot_ < 0; ++k) {
    const flight_recorder* none = nullptr;
    if (flight_detail::registered[k].compare_exchange_strong(none, this, std::memory_order_release)) slot_ = int(k);
  }
  if (slot_ < 0)
    fail(cat("more than ", flight_detail::max_registered, " flight recorders ask for the signal handlers"),
         "the handlers write a fixed table of recorders", "place fewer models across processes in one process");
  if (flight_detail::handlers_installed.exchange(true)) return;
  struct sigaction action{};
  action.sa_handler = &flight_detail::on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, &flight_detail::previous_term);
  sigaction(SIGUSR1, &action, &flight_detail::previous_usr1);
}

inline flight_recorder::~flight_recorder() {
  if (slot_ < 0) return;
  flight_detail::registered[slot_].store(nullptr, std::memory_order_release);
  while (busy_.load(std::memory_order_acquire) != 0) {  // a handler writing this recorder right now
    timespec pause{0, 1000000};
    nanosleep(&pause, nullptr);
  }
}

}  // namespace plait
