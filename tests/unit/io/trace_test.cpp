// io/trace.hpp: the trace recorder (bounded per-device buffers, concurrent recording, drops, clear,
// trace_scope) and its misuse messages. Writing Chrome traces is in chrome_trace_test.cpp.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <plait/io/trace.hpp>
#include <string>
#include <thread>
#include <vector>

using plait::trace_event;
using plait::trace_recorder;
using plait::trace_row;

namespace {

std::size_t count_of(const std::vector<trace_event>& events, std::uint32_t device, trace_row row) {
  return static_cast<std::size_t>(std::count_if(
      events.begin(), events.end(), [&](const trace_event& e) { return e.device == device && e.row == row; }));
}

bool sorted_by_begin(const std::vector<trace_event>& events) {
  return std::is_sorted(events.begin(), events.end(),
                        [](const trace_event& a, const trace_event& b) { return a.begin_us < b.begin_us; });
}

}  // namespace

TEST_CASE("a default-constructed recorder is disabled and records nothing") {
  trace_recorder trace;
  CHECK_FALSE(trace.enabled());
  trace.record({"forward", 0, trace_row::compute, 1.0, 2.0});
  trace.record({"forward", 99, trace_row::compute, 2.0, 1.0});  // not even checked: nothing is kept
  { plait::trace_scope s(trace, "backward", 7); }
  CHECK(trace.events().empty());
  CHECK(trace.dropped() == 0);
}

TEST_CASE("devices and both rows of one device record concurrently without losing an event") {
  constexpr std::size_t devices = 4, per_thread = 2000;
  trace_recorder trace(devices, 2 * per_thread);
  REQUIRE(trace.enabled());
  std::vector<std::thread> threads;
  for (std::uint32_t d = 0; d < devices; ++d)
    for (trace_row row : {trace_row::compute, trace_row::communication})
      threads.emplace_back([&trace, d, row] {
        for (std::size_t i = 0; i < per_thread; ++i) {
          const double t = trace.now_us();
          trace.record(
              {row == trace_row::compute ? "compute" : "send", d, row, t, t + 1.0, static_cast<std::int32_t>(i), 0});
        }
      });
  for (auto& t : threads) t.join();

  const auto events = trace.events();
  CHECK(trace.dropped() == 0);
  CHECK(events.size() == devices * 2 * per_thread);
  CHECK(sorted_by_begin(events));
  for (std::uint32_t d = 0; d < devices; ++d) {
    CHECK(count_of(events, d, trace_row::compute) == per_thread);
    CHECK(count_of(events, d, trace_row::communication) == per_thread);
    // Each thread's micro-batch numbers 0 .. per_thread-1 all arrived, none twice.
    std::vector<std::int32_t> seen;
    for (const auto& e : events)
      if (e.device == d && e.row == trace_row::communication) seen.push_back(e.microbatch);
    std::sort(seen.begin(), seen.end());
    CHECK(std::adjacent_find(seen.begin(), seen.end()) == seen.end());
    CHECK(seen.front() == 0);
    CHECK(seen.back() == static_cast<std::int32_t>(per_thread - 1));
  }
}

TEST_CASE("a full buffer counts drops instead of growing, also under concurrent recording") {
  SUBCASE("one thread") {
    trace_recorder trace(2, 3);
    for (int i = 0; i < 5; ++i) trace.record({"f", 1, trace_row::compute, double(i), double(i) + 0.5});
    trace.record({"g", 0, trace_row::compute, 0.0, 1.0});
    const auto events = trace.events();
    CHECK(events.size() == 4);  // three of device 1, one of device 0
    CHECK(trace.dropped() == 2);
    CHECK(count_of(events, 1, trace_row::compute) == 3);
    // The first three were kept: recording never overwrites.
    CHECK(std::none_of(events.begin(), events.end(), [](const trace_event& e) { return e.begin_us > 2.5; }));
  }
  SUBCASE("two threads on one device") {
    trace_recorder trace(1, 50);
    auto work = [&trace](trace_row row) {
      for (int i = 0; i < 100; ++i) trace.record({"x", 0, row, double(i), double(i)});
    };
    std::thread a(work, trace_row::compute), b(work, trace_row::communication);
    a.join();
    b.join();
    CHECK(trace.events().size() == 50);
    CHECK(trace.dropped() == 150);
  }
}

TEST_CASE("clear forgets events and drops and keeps recording into the same buffers") {
  trace_recorder trace(1, 2);
  for (int i = 0; i < 4; ++i) trace.record({"f", 0, trace_row::compute, 0.0, 1.0});
  REQUIRE(trace.dropped() == 2);
  trace.clear();
  CHECK(trace.events().empty());
  CHECK(trace.dropped() == 0);
  trace.record({"after", 0, trace_row::communication, 5.0, 6.0, 1, 2});
  const auto events = trace.events();
  REQUIRE(events.size() == 1);
  CHECK(std::string(events[0].name) == "after");
  CHECK(events[0].row == trace_row::communication);
  CHECK(events[0].microbatch == 1);
  CHECK(events[0].step == 2);
}

TEST_CASE("trace_scope records its lifetime as one event on the recorder's clock") {
  trace_recorder trace(2, 4);
  const double before = trace.now_us();
  {
    plait::trace_scope s(trace, "all_reduce", 1, trace_row::communication, 3, 7);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const double after = trace.now_us();
  const auto events = trace.events();
  REQUIRE(events.size() == 1);
  const trace_event& e = events[0];
  CHECK(std::string(e.name) == "all_reduce");
  CHECK(e.device == 1);
  CHECK(e.row == trace_row::communication);
  CHECK(e.microbatch == 3);
  CHECK(e.step == 7);
  CHECK(e.begin_us >= before);
  CHECK(e.end_us <= after);
  CHECK(e.end_us - e.begin_us >= 2000.0);
}

TEST_CASE("misuse of the recorder is a plait::error in the library's format") {
  CHECK_THROWS_WITH_AS(trace_recorder(0, 8), doctest::Contains("plait: trace_recorder over 0 devices."), plait::error);
  CHECK_THROWS_WITH_AS(trace_recorder(2, 0), doctest::Contains("Fix: "), plait::error);
  trace_recorder trace(2, 8);
  CHECK_THROWS_WITH_AS(trace.record({"f", 2, trace_row::compute, 0.0, 1.0}),
                       doctest::Contains("plait: trace event for device 2 is out of range."), plait::error);
  CHECK_THROWS_AS(trace.record({nullptr, 0, trace_row::compute, 0.0, 1.0}), plait::error);
  CHECK_THROWS_WITH_AS(trace.record({"late", 0, trace_row::compute, 2.0, 1.0}),
                       doctest::Contains("'late' ends before it begins"), plait::error);
  CHECK_THROWS_AS(plait::trace_scope(trace, "f", 5), plait::error);
  CHECK(trace.events().empty());
}
