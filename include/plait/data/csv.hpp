#pragma once
// read_csv<XShape, TargetKind>: a delimited text file of numbers, one sample per row, into an
// in_memory_dataset. Each row holds XShape::size feature columns and the target columns
// (1 class id for class_labels, YShape::size floats for samples<YShape>); the target columns are
// contiguous, start at label_column, and the remaining columns are the features in file order.
// Quoted fields are not supported: numeric data sets have no use for them. Lines are read one at a
// time into a buffer bounded by csv_options::max_line_bytes; read_limits.hpp has the memory rule.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <new>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "dataset.hpp"
#include "read_limits.hpp"

namespace plait {

struct csv_options {
  /// label_column's default: the target columns are the last ones of each row.
  static constexpr std::size_t last = std::numeric_limits<std::size_t>::max();

  char delimiter = ',';
  bool header = false;                                  // true: the first line holds column names and is skipped
  std::size_t label_column = last;                      // first target column, 0-based
  std::size_t max_line_bytes = std::size_t{1} << 20;    // a longer line is an error naming it (1 MiB)
  std::uint64_t max_bytes = default_max_dataset_bytes;  // the largest data set returned, features and targets
};

namespace csv_detail {

inline std::string_view trim(std::string_view s, char delimiter) {
  auto blank = [&](char c) { return (c == ' ' || c == '\t') && c != delimiter; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}

/// Parses the whole field as a finite number; false when it is not one.
inline bool parse_number(std::string_view field, double& value) {
  if (field.size() > 1 && field.front() == '+') {  // from_chars refuses a leading '+'
    field.remove_prefix(1);
    if (field.front() == '-' || field.front() == '+') return false;  // "+-1" is not a number
  }
  const char* end = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(field.data(), end, value);
  return ec == std::errc{} && ptr == end && std::isfinite(value);
}

/// One line at a time from a stream, read in chunks into a buffer that never holds more than the
/// longest line allowed plus one chunk: a file without line breaks fails at `max` bytes.
class line_reader {
 public:
  enum class status { line, end, too_long };

  line_reader(std::istream& in, std::size_t max) : in_(in), max_(max) {}

  /// The next line, without its '\n', in `line` (valid until the next call).
  status next(std::string_view& line) {
    for (;;) {
      const std::size_t stop = buffer_.find('\n', scanned_);
      if (stop != std::string::npos) {
        if (stop - begin_ > max_) return status::too_long;
        line = std::string_view(buffer_).substr(begin_, stop - begin_);
        begin_ = scanned_ = stop + 1;
        return status::line;
      }
      if (buffer_.size() - begin_ > max_) return status::too_long;
      if (!fill()) {
        if (begin_ == buffer_.size()) return status::end;
        line = std::string_view(buffer_).substr(begin_);  // the last line, without a line break
        begin_ = scanned_ = buffer_.size();
        return status::line;
      }
    }
  }

 private:
  static constexpr std::size_t chunk = std::size_t{1} << 16;

  /// Drops the lines already returned and appends up to one chunk; false at the end of the stream.
  bool fill() {
    buffer_.erase(0, begin_);
    scanned_ = buffer_.size();
    begin_ = 0;
    const std::size_t old = buffer_.size();
    buffer_.resize(old + chunk);
    in_.read(buffer_.data() + old, static_cast<std::streamsize>(chunk));
    buffer_.resize(old + static_cast<std::size_t>(in_.gcount()));
    return buffer_.size() > old;
  }

  std::istream& in_;
  std::size_t max_;
  std::string buffer_;
  std::size_t begin_ = 0;    // first byte of the next line
  std::size_t scanned_ = 0;  // bytes before this hold no '\n' of the next line
};

}  // namespace csv_detail

template <Shape XShape, Target TargetKind>
in_memory_dataset<XShape, TargetKind> read_csv(const std::filesystem::path& path, csv_options options = {}) {
  using dataset = in_memory_dataset<XShape, TargetKind>;
  using target_value = typename dataset::target_value;
  constexpr std::size_t x_size = dataset::x_size;
  constexpr std::size_t y_size = dataset::y_size;
  constexpr std::size_t columns = x_size + y_size;
  constexpr bool labels = std::is_same_v<TargetKind, class_labels>;
  const std::string name = path.string();

  const std::size_t first_target = options.label_column == csv_options::last ? x_size : options.label_column;
  expect(first_target <= x_size,
         "csv label_column " + std::to_string(options.label_column) + " leaves no room for the " +
             std::to_string(y_size) + " target column(s) of '" + name + "'",
         "Each row has " + std::to_string(columns) + " columns: " + std::to_string(x_size) + " features and " +
             std::to_string(y_size) + " targets",
         "set label_column to at most " + std::to_string(x_size) + ", or leave it out for the last column(s)");

  std::ifstream in(path, std::ios::binary);
  expect(in.is_open(), "cannot open CSV file '" + name + "'", "It does not exist or is not readable",
         "check the path and the file's permissions");

  std::vector<float> features;        // [n, x_size]
  std::vector<target_value> targets;  // [n, y_size]
  std::vector<std::string_view> fields(columns + 1);
  constexpr std::uint64_t row_bytes = x_size * sizeof(float) + y_size * sizeof(target_value);
  csv_detail::line_reader reader(in, options.max_line_bytes);
  std::string_view line;
  std::size_t line_no = 1;
  try {
    for (;; ++line_no) {
      const auto status = reader.next(line);
      if (status == csv_detail::line_reader::status::end) break;
      if (status == csv_detail::line_reader::status::too_long)
        fail("CSV file '" + name + "' line " + std::to_string(line_no) + " is longer than " +
                 std::to_string(options.max_line_bytes) + " bytes",
             "The reader holds one line at a time and bounds it, so that a file without line breaks (a binary "
             "file, /dev/zero) fails instead of filling memory",
             "check that the file is a text CSV file; for longer rows, raise csv_options::max_line_bytes");
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // files written on Windows
      if (line_no == 1 && options.header) continue;
      if (line.empty()) continue;
      const auto where = [&](std::size_t column) {
        return "CSV file '" + name + "' line " + std::to_string(line_no) + " column " + std::to_string(column + 1);
      };

      // Split without allocating; one slot beyond `columns` notices a row that is too long.
      std::size_t count = 0;
      for (std::size_t start = 0;;) {
        const std::size_t stop = line.find(options.delimiter, start);
        const std::size_t end = stop == std::string_view::npos ? line.size() : stop;
        const std::string_view field = line.substr(start, end - start);
        if (count <= columns) fields[count] = field;
        ++count;
        if (stop == std::string_view::npos) break;
        start = stop + 1;
      }
      // `if (...) fail` rather than expect: the message is built only for a bad row, not for every field.
      if (count != columns)
        fail(where(std::min(count, columns)) + ": the row has " + std::to_string(count) + " fields",
             "Each row needs " + std::to_string(x_size) + " features and " + std::to_string(y_size) +
                 " target(s), separated by '" + std::string(1, options.delimiter) + "'",
             "fix the row, or check the delimiter, the header option and XShape");
      const std::uint64_t rows = features.size() / x_size;
      if (rows >= options.max_bytes / row_bytes)  // one more row would pass the cap
        read_limits::check_cap("CSV file '" + name + "' up to line " + std::to_string(line_no), (rows + 1) * row_bytes,
                               options.max_bytes, "csv_options");

      for (std::size_t c = 0; c < columns; ++c) {
        const std::string_view field = csv_detail::trim(fields[c], options.delimiter);
        double v = 0;
        if (!csv_detail::parse_number(field, v))
          fail(where(c) + ": '" + std::string(field) + "' is not a number",
               "Every field of a numeric data set must be a finite number",
               "fix the field, or set header = true if this line holds column names");
        const bool is_target = c >= first_target && c < first_target + y_size;
        if (is_target && labels) {
          if (!(v >= 0 && v <= std::numeric_limits<std::int32_t>::max() && v == std::floor(v)))
            fail(where(c) + ": the class label '" + std::string(field) + "' is not an integer >= 0",
                 "Class ids index the outputs of a classifier",
                 "map the labels to 0 .. classes-1, or check label_column");
          targets.push_back(static_cast<target_value>(v));
          continue;
        }
        const auto f = static_cast<float>(v);  // checked after the conversion: 1e39 is finite as a double only
        if (!std::isfinite(f))
          fail(where(c) + ": '" + std::string(field) + "' is beyond float's range",
               "Features and regression targets are stored as float, whose largest magnitude is about 3.4028235e38",
               "rescale the column, or fix the field");
        if (is_target) targets.push_back(static_cast<target_value>(f));
        else features.push_back(f);
      }
    }
  } catch (const std::bad_alloc&) {
    const std::size_t rows = features.size() / x_size;
    std::vector<float>().swap(features);  // the message needs a little memory: give back the rows
    std::vector<target_value>().swap(targets);
    fail("cannot allocate memory for CSV file '" + name + "' at line " + std::to_string(line_no) + " (" +
             std::to_string(rows) + " rows read)",
         "The memory left to this process (free memory, or its ulimit -v) is smaller than the data set",
         "free memory, raise the process's limit, or read a smaller file (csv_options::max_bytes caps it)");
  }
  expect(!in.bad(), "error while reading CSV file '" + name + "'", "The read failed part-way",
         "check the file and the device it is on");
  expect(!features.empty(), "CSV file '" + name + "' has no data rows", "A data set needs at least one sample",
         "check the path, and the header option");
  return dataset(std::move(features), std::move(targets));
}

}  // namespace plait
