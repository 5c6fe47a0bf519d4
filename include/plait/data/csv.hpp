#pragma once
// read_csv<XShape, TargetKind>: a delimited text file of numbers, one sample per row, into an
// in_memory_dataset. Each row holds XShape::size feature columns and the target columns
// (1 class id for class_labels, YShape::size floats for samples<YShape>); the target columns are
// contiguous, start at label_column, and the remaining columns are the features in file order.
// Quoted fields are not supported: numeric data sets have no use for them.

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "dataset.hpp"

namespace plait {

struct csv_options {
  /// label_column's default: the target columns are the last ones of each row.
  static constexpr std::size_t last = std::numeric_limits<std::size_t>::max();

  char delimiter = ',';
  bool header = false;              // true: the first line holds column names and is skipped
  std::size_t label_column = last;  // first target column, 0-based
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
  if (field.size() > 1 && field.front() == '+') field.remove_prefix(1);  // from_chars refuses a leading '+'
  const char* end = field.data() + field.size();
  const auto [ptr, ec] = std::from_chars(field.data(), end, value);
  return ec == std::errc{} && ptr == end && std::isfinite(value);
}

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
  std::string line;
  for (std::size_t line_no = 1; std::getline(in, line); ++line_no) {
    if (!line.empty() && line.back() == '\r') line.pop_back();  // files written on Windows
    if (line_no == 1 && options.header) continue;
    if (line.empty()) continue;
    const auto where = [&](std::size_t column) {
      return "CSV file '" + name + "' line " + std::to_string(line_no) + " column " + std::to_string(column + 1);
    };

    // Split without allocating; one slot beyond `columns` notices a row that is too long.
    std::size_t count = 0;
    for (std::size_t start = 0;;) {
      const std::size_t stop = line.find(options.delimiter, start);
      const std::string_view field(line.data() + start, (stop == std::string::npos ? line.size() : stop) - start);
      if (count <= columns) fields[count] = field;
      ++count;
      if (stop == std::string::npos) break;
      start = stop + 1;
    }
    // `if (...) fail` rather than expect: the message is built only for a bad row, not for every field.
    if (count != columns)
      fail(where(std::min(count, columns)) + ": the row has " + std::to_string(count) + " fields",
           "Each row needs " + std::to_string(x_size) + " features and " + std::to_string(y_size) +
               " target(s), separated by '" + std::string(1, options.delimiter) + "'",
           "fix the row, or check the delimiter, the header option and XShape");

    for (std::size_t c = 0; c < columns; ++c) {
      const std::string_view field = csv_detail::trim(fields[c], options.delimiter);
      double v = 0;
      if (!csv_detail::parse_number(field, v))
        fail(where(c) + ": '" + std::string(field) + "' is not a number",
             "Every field of a numeric data set must be a finite number",
             "fix the field, or set header = true if this line holds column names");
      const bool is_target = c >= first_target && c < first_target + y_size;
      if (!is_target) {
        features.push_back(static_cast<float>(v));
      } else if constexpr (labels) {
        if (!(v >= 0 && v <= std::numeric_limits<std::int32_t>::max() && v == std::floor(v)))
          fail(where(c) + ": the class label '" + std::string(field) + "' is not an integer >= 0",
               "Class ids index the outputs of a classifier",
               "map the labels to 0 .. classes-1, or check label_column");
        targets.push_back(static_cast<target_value>(v));
      } else {
        targets.push_back(static_cast<target_value>(v));
      }
    }
  }
  expect(!in.bad(), "error while reading CSV file '" + name + "'", "The read failed part-way",
         "check the file and the device it is on");
  expect(!features.empty(), "CSV file '" + name + "' has no data rows", "A data set needs at least one sample",
         "check the path, and the header option");
  return dataset(std::move(features), std::move(targets));
}

}  // namespace plait
