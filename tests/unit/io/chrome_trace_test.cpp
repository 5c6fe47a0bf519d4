// io/chrome_trace.hpp: write_chrome_trace's document is valid JSON (Python's strict parser reads it)
// with one track per device and every event; names are escaped; numbers ignore the locale; an
// unwritable path, a failed stream and bad events are plait::errors.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

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

// Groups digits by threes with ',' whatever the number: what a user's global locale may do to ints.
struct grouping_punct : std::numpunct<char> {
  char do_thousands_sep() const override { return ','; }
  std::string do_grouping() const override { return "\3"; }
  char do_decimal_point() const override { return ','; }
};

}  // namespace

TEST_CASE("the written Chrome trace is valid JSON with one track per device and every event") {
  temp_dir dir;
  trace_recorder trace(3, 16);
  trace.record({"forward", 0, trace_row::compute, 12.5, 92.75, 0, 4});
  trace.record({"send activation", 0, trace_row::communication, 92.75, 100.0, 0, 4});
  trace.record({"recv activation", 1, trace_row::communication, 92.75, 100.0, 0, 4});
  trace.record({"forward", 1, trace_row::compute, 100.0, 180.125, 0, 4});
  trace.record({"optimizer", 2, trace_row::compute, 1000.0001, 1000.0001});  // empty span, no args
  const fs::path file = dir.path / "trace.json";
  plait::write_chrome_trace(file, trace.events(),
                            {.process_name = "rank 0", .device_names = {"gpu 0", "", "cpu"}, .title = "step 4"});

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
  plait::write_chrome_trace(out, events,
                            {.process_name = "", .device_names = {"dev \"zero\""}, .title = "back\\slash"});
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
  CHECK_THROWS_WITH_AS(
      plait::write_chrome_trace(missing, events),
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
  CHECK_THROWS_WITH_AS(plait::write_chrome_trace(bad, events),
                       doctest::Contains("plait: writing a Chrome trace failed."), plait::error);
}
