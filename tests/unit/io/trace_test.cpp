#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <locale>
#include <plait/io/chrome_trace.hpp>
#include <plait/io/trace.hpp>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;
using plait::trace_event;
using plait::trace_recorder;
using plait::trace_row;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
    path = fs::temp_directory_path() /
           ("plait_io_test_" + std::to_string(tick) + "_" + std::to_string(std::random_device{}()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
};

std::string read_text(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// Runs `script` with python3 on `json_file`; true when it exits 0. The script parses the file
/// with Python's strict json module, so a syntax error anywhere fails the test.
bool python_accepts(const temp_dir& dir, const std::string& script, const fs::path& json_file) {
  const fs::path py = dir.path / "check.py";
  std::ofstream(py) << script;
  const std::string cmd = "python3 '" + py.string() + "' '" + json_file.string() + "'";
  return std::system(cmd.c_str()) == 0;
}

std::size_t count_of(const std::vector<trace_event>& events, std::uint32_t device, trace_row row) {
  return static_cast<std::size_t>(std::count_if(events.begin(), events.end(), [&](const trace_event& e) {
    return e.device == device && e.row == row;
  }));
}

bool sorted_by_begin(const std::vector<trace_event>& events) {
  return std::is_sorted(events.begin(), events.end(),
                        [](const trace_event& a, const trace_event& b) { return a.begin_us < b.begin_us; });
}

// Groups digits by threes with ',' whatever the number: what a user's global locale may do to ints.
struct grouping_punct : std::numpunct<char> {
  char do_thousands_sep() const override { return ','; }
  std::string do_grouping() const override { return "\3"; }
  char do_decimal_point() const override { return ','; }
};

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
          trace.record({row == trace_row::compute ? "compute" : "send", d, row, t, t + 1.0,
                        static_cast<std::int32_t>(i), 0});
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

TEST_CASE("the written Chrome trace is valid JSON with one track per device and every event") {
  temp_dir dir;
  trace_recorder trace(3, 16);
  trace.record({"forward", 0, trace_row::compute, 12.5, 92.75, 0, 4});
  trace.record({"send activation", 0, trace_row::communication, 92.75, 100.0, 0, 4});
  trace.record({"recv activation", 1, trace_row::communication, 92.75, 100.0, 0, 4});
  trace.record({"forward", 1, trace_row::compute, 100.0, 180.125, 0, 4});
  trace.record({"optimizer", 2, trace_row::compute, 1000.0001, 1000.0001});  // empty span, no args
  const fs::path file = dir.path / "trace.json";
  plait::write_chrome_trace(file, trace.events(), {.process_name = "rank 0", .device_names = {"gpu 0", "", "cpu"},
                                                   .title = "step 4"});

  const std::string text = read_text(file);
  CHECK(text.find(R"("ts":12.500,"dur":80.250)") != std::string::npos);  // microseconds, 3 decimals
  CHECK(text.find(R"("ts":1000.000,"dur":0.000,"args":{})") != std::string::npos);

  const std::string script = R"PY(
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
assert doc["displayTimeUnit"] == "us"
assert doc["metadata"] == {"title": "step 4", "process": "rank 0"}, doc["metadata"]
ev = doc["traceEvents"]
meta = [e for e in ev if e["ph"] == "M"]
spans = [e for e in ev if e["ph"] == "X"]
names = {e["pid"]: e["args"]["name"] for e in meta if e["name"] == "process_name"}
assert names == {0: "gpu 0", 1: "device 1", 2: "cpu"}, names
order = {e["pid"]: e["args"]["sort_index"] for e in meta if e["name"] == "process_sort_index"}
assert order == {0: 0, 1: 1, 2: 2}, order
threads = {(e["pid"], e["tid"]): e["args"]["name"] for e in meta if e["name"] == "thread_name"}
assert threads == {(p, t): n for p in range(3) for t, n in ((0, "compute"), (1, "communication"))}, threads
rows = {(e["pid"], e["tid"]): e["args"]["sort_index"] for e in meta if e["name"] == "thread_sort_index"}
assert all(rows[(p, t)] == t for p in range(3) for t in (0, 1)), rows
assert all(e["args"]["labels"] == "rank 0" for e in meta if e["name"] == "process_labels")
assert len(spans) == 5, spans
got = sorted((e["pid"], e["tid"], e["name"], e["ts"], e["dur"]) for e in spans)
want = sorted([(0, 0, "forward", 12.5, 80.25), (0, 1, "send activation", 92.75, 7.25),
               (1, 1, "recv activation", 92.75, 7.25), (1, 0, "forward", 100.0, 80.125),
               (2, 0, "optimizer", 1000.0, 0.0)])
assert got == want, got
fwd = [e for e in spans if e["pid"] == 1 and e["name"] == "forward"][0]
assert fwd["args"] == {"microbatch": 0, "step": 4}, fwd
assert [e for e in spans if e["name"] == "optimizer"][0]["args"] == {}
)PY";
  CHECK(python_accepts(dir, script, file));
}

TEST_CASE("names with quotes, backslashes and control characters are escaped") {
  temp_dir dir;
  const char* odd = "say \"hi\"\\path\n\ttab\x01\x1f end";
  const std::vector<trace_event> events{{odd, 0, trace_row::compute, 0.0, 1.0}};
  std::ostringstream out;
  plait::write_chrome_trace(out, events, {.process_name = "", .device_names = {"dev \"zero\""}, .title = "back\\slash"});
  const std::string text = out.str();
  CHECK(text.find(R"("name":"say \"hi\"\\path\n\ttab\u0001\u001f end")") != std::string::npos);
  CHECK(text.find(R"("name":"dev \"zero\"")") != std::string::npos);
  CHECK(text.find('\t') == std::string::npos);  // no raw control character left

  const fs::path file = dir.path / "odd.json";
  std::ofstream(file) << text;
  const std::string script = R"PY(
import json, sys
doc = json.load(open(sys.argv[1], encoding="utf-8"))
spans = [e for e in doc["traceEvents"] if e["ph"] == "X"]
assert spans[0]["name"] == "say \"hi\"\\path\n\ttab\x01\x1f end", repr(spans[0]["name"])
assert doc["metadata"]["title"] == "back\\slash"
)PY";
  CHECK(python_accepts(dir, script, file));
}

TEST_CASE("numbers ignore the stream's locale") {
  std::vector<trace_event> events{{"f", 1234, trace_row::compute, 1234567.5, 1234568.0, 1000, 2000}};
  std::ostringstream out;
  out.imbue(std::locale(std::locale::classic(), new grouping_punct));
  plait::write_chrome_trace(out, events);
  const std::string text = out.str();
  CHECK(text.find(R"("pid":1234,"tid":0,"ts":1234567.500,"dur":0.500,"args":{"microbatch":1000,"step":2000})") !=
        std::string::npos);
  CHECK(text.find(R"("name":"process_sort_index","ph":"M","pid":1234,"tid":0,"ts":0,"args":{"sort_index":1234})") !=
        std::string::npos);
}

TEST_CASE("an empty trace is still a valid document") {
  temp_dir dir;
  const fs::path file = dir.path / "empty.json";
  plait::write_chrome_trace(file, {});
  CHECK(python_accepts(dir, "import json,sys\nassert json.load(open(sys.argv[1]))['traceEvents'] == []\n", file));
}

TEST_CASE("writer misuse and I/O failure are plait::errors") {
  temp_dir dir;
  const fs::path missing = dir.path / "no_such_dir" / "trace.json";
  const std::vector<trace_event> events{{"f", 0, trace_row::compute, 0.0, 1.0}};
  CHECK_THROWS_WITH_AS(plait::write_chrome_trace(missing, events),
                       doctest::Contains(("plait: cannot open trace file '" + missing.string() + "' for writing").c_str()),
                       plait::error);
  CHECK_THROWS_WITH_AS(plait::write_chrome_trace(dir.path, events), doctest::Contains(dir.path.string().c_str()),
                       plait::error);  // a directory is not a file

  std::ostringstream out;
  const std::vector<trace_event> nan{{"f", 0, trace_row::compute, 0.0, std::nan("")}};
  CHECK_THROWS_WITH_AS(plait::write_chrome_trace(out, nan), doctest::Contains("not a finite number"), plait::error);
  CHECK(out.str().empty());  // checked before anything is written
  const std::vector<trace_event> unnamed{{nullptr, 0, trace_row::compute, 0.0, 1.0}};
  CHECK_THROWS_AS(plait::write_chrome_trace(out, unnamed), plait::error);

  std::ostringstream bad;
  bad.setstate(std::ios::badbit);
  CHECK_THROWS_WITH_AS(plait::write_chrome_trace(bad, events), doctest::Contains("plait: writing a Chrome trace failed."),
                       plait::error);
}
