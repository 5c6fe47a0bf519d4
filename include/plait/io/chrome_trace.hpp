#pragma once
// write_chrome_trace: trace events as a Chrome trace (the JSON "Trace Event Format"), which
// Perfetto (ui.perfetto.dev) and chrome://tracing open. The runtime writes what ran; the pipeline
// planner writes what it planned, with the same function, before anything runs.
//
//   {"traceEvents":[
//     {"name":"process_name","ph":"M","pid":0,"tid":0,"ts":0,"args":{"name":"device 0"}},   per device
//     {"name":"thread_name","ph":"M","pid":0,"tid":1,"ts":0,"args":{"name":"communication"}},   per row
//     ... process_sort_index / thread_sort_index, so tracks appear in device order, compute above
//     {"name":"forward","ph":"X","pid":0,"tid":0,"ts":12.500,"dur":80.250,"args":{"microbatch":3,"step":0}},
//   ], "displayTimeUnit":"us", "metadata":{"title":...,"process":...}}
//
// One pid per device (one track each), tid 0 = compute, 1 = communication. Times are microseconds
// with 3 decimals (nanoseconds), written by std::to_chars, so the output does not depend on the
// stream's locale. args carry microbatch and step only where they are set (>= 0).

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "../core/error.hpp"
#include "trace.hpp"

namespace plait {

struct trace_metadata {
  std::string process_name;               // the run as a whole, e.g. "rank 0" or "planned 1F1B"; a label on each track
  std::vector<std::string> device_names;  // track names by device; missing or empty: "device <d>"
  std::string title;                      // optional, in the file's "metadata"
};

namespace chrome_trace_detail {

/// s as a JSON string literal: quotes, backslashes and control characters escaped (RFC 8259 §7).
/// Other bytes pass through, so UTF-8 names stay readable.
inline void write_string(std::ostream& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  out.put('"');
  for (const char c : s) {
    switch (c) {
      case '"': out << "\\\""; break;
      case '\\': out << "\\\\"; break;
      case '\b': out << "\\b"; break;
      case '\f': out << "\\f"; break;
      case '\n': out << "\\n"; break;
      case '\r': out << "\\r"; break;
      case '\t': out << "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          const auto u = static_cast<unsigned char>(c);
          out << "\\u00" << hex[u >> 4] << hex[u & 0xf];
        } else {
          out.put(c);
        }
    }
  }
  out.put('"');
}

/// An integer without the stream's locale: a user's global locale may group digits ("1,024").
template <class Int>
void write_int(std::ostream& out, Int value) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, value);
  out.write(buf, r.ptr - buf);
}

/// Microseconds with 3 decimals; the caller has checked that us is finite.
inline void write_us(std::ostream& out, double us) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, us, std::chars_format::fixed, 3);
  out.write(buf, r.ptr - buf);  // |us| <= 1e18 (checked): at most 24 characters
}

inline void write_metadata_event(std::ostream& out, const char* name, std::size_t pid, int tid, std::string_view key,
                                 std::string_view value, bool first) {
  out << (first ? "\n" : ",\n") << R"({"name":")" << name << R"(","ph":"M","pid":)";
  write_int(out, pid);
  out << R"(,"tid":)" << tid << R"(,"ts":0,"args":{")" << key << "\":";
  write_string(out, value);
  out << "}}";
}

inline void write_sort_event(std::ostream& out, const char* name, std::size_t pid, int tid, std::size_t index) {
  out << ",\n" << R"({"name":")" << name << R"(","ph":"M","pid":)";
  write_int(out, pid);
  out << R"(,"tid":)" << tid << R"(,"ts":0,"args":{"sort_index":)";
  write_int(out, index);
  out << "}}";
}

/// The whole document; the callers check the stream, each naming its own destination.
inline void write_document(std::ostream& out, std::span<const trace_event> events, const trace_metadata& meta) {
  constexpr double max_us = 1e18;  // ~31,700 years: anything larger is a bug, and would not fit write_us
  std::size_t devices = meta.device_names.size();
  for (const trace_event& e : events) {
    if (e.name == nullptr)
      fail("trace event without a name", "Every span in a Chrome trace is labelled by its name",
           "give every trace_event a name");
    if (!std::isfinite(e.begin_us) || !std::isfinite(e.end_us) || std::fabs(e.begin_us) > max_us ||
        std::fabs(e.end_us) > max_us)
      fail("trace event '" + std::string(e.name) + "' has a time that is not a finite number of microseconds",
           "JSON has no NaN or infinity and the viewers need real times", "record times from now_us() or a plan");
    devices = std::max(devices, std::size_t{e.device} + 1);
  }

  out << "{\"traceEvents\":[";
  bool first = true;
  for (std::size_t d = 0; d < devices; ++d) {
    const bool named = d < meta.device_names.size() && !meta.device_names[d].empty();
    write_metadata_event(out, "process_name", d, 0, "name",
                         named ? meta.device_names[d] : "device " + std::to_string(d), first);
    first = false;
    if (!meta.process_name.empty())
      write_metadata_event(out, "process_labels", d, 0, "labels", meta.process_name, false);
    write_sort_event(out, "process_sort_index", d, 0, d);
    write_metadata_event(out, "thread_name", d, 0, "name", "compute", false);
    write_sort_event(out, "thread_sort_index", d, 0, 0);
    write_metadata_event(out, "thread_name", d, 1, "name", "communication", false);
    write_sort_event(out, "thread_sort_index", d, 1, 1);
  }
  for (const trace_event& e : events) {
    out << (first ? "\n" : ",\n") << "{\"name\":";
    first = false;
    write_string(out, e.name);
    out << R"(,"ph":"X","pid":)";
    write_int(out, e.device);
    out << R"(,"tid":)" << static_cast<int>(e.row) << R"(,"ts":)";
    write_us(out, e.begin_us);
    out << R"(,"dur":)";
    write_us(out, std::max(0.0, e.end_us - e.begin_us));  // a planned span may be empty, never negative
    out << R"(,"args":{)";
    if (e.microbatch >= 0) {
      out << "\"microbatch\":";
      write_int(out, e.microbatch);
    }
    if (e.step >= 0) {
      out << (e.microbatch >= 0 ? "," : "") << "\"step\":";
      write_int(out, e.step);
    }
    out << "}}";
  }
  out << "\n],\"displayTimeUnit\":\"us\"";
  if (!meta.title.empty() || !meta.process_name.empty()) {
    out << ",\"metadata\":{";
    if (!meta.title.empty()) {
      out << "\"title\":";
      write_string(out, meta.title);
    }
    if (!meta.process_name.empty()) {
      out << (meta.title.empty() ? "" : ",") << "\"process\":";
      write_string(out, meta.process_name);
    }
    out << "}";
  }
  out << "}\n";
}

}  // namespace chrome_trace_detail

/// Writes the events (in the given order) as one Chrome-trace JSON object. plait::error when an
/// event has no name or a time that is not finite (before anything is written), or when the stream fails.
inline void write_chrome_trace(std::ostream& out, std::span<const trace_event> events,
                               const trace_metadata& meta = {}) {
  chrome_trace_detail::write_document(out, events, meta);
  if (!out)
    fail("writing a Chrome trace failed", "The output stream reported an error", "check the stream's destination");
}

/// Writes the trace to `path`, replacing the file. plait::error naming the path when it cannot be
/// written (missing directory, no permission, full disk).
inline void write_chrome_trace(const std::filesystem::path& path, std::span<const trace_event> events,
                               const trace_metadata& meta = {}) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out.is_open()) {
    std::error_code ec;
    const auto dir = path.parent_path();
    const bool dir_missing = !dir.empty() && !std::filesystem::is_directory(dir, ec);
    fail("cannot open trace file '" + path.string() + "' for writing",
         dir_missing ? "Its directory '" + dir.string() + "' does not exist"
                     : std::string("The file cannot be created there (permissions, or the path is a directory)"),
         dir_missing ? "create the directory first, or write the trace elsewhere" : "choose a writable path");
  }
  chrome_trace_detail::write_document(out, events, meta);
  out.close();
  if (!out)
    fail("writing trace file '" + path.string() + "' failed", "The file could not be written completely (disk full?)",
         "free space or write the trace elsewhere");
}

}  // namespace plait
