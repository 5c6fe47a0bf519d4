// libFuzzer target: read_csv. The first byte of an input chooses the options (bit 0: header, bit 1:
// ';' as delimiter, bit 2: regression targets instead of class labels, bit 3: max_line_bytes of 16,
// bit 4: targets in the first columns); the rest is the file. A read either fails with a
// plait::error or returns one sample per non-empty line, every value finite and every label >= 0.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <plait/data/csv.hpp>
#include <string_view>
#include <type_traits>

#include "fuzz_file.hpp"

namespace {

/// The rows read_csv must return: lines (split at '\n', one '\r' dropped) that are not empty and
/// not the header.
std::size_t data_lines(std::string_view text, bool header) {
  std::size_t rows = 0;
  for (std::size_t line = 1; !text.empty(); ++line) {
    const std::size_t stop = text.find('\n');
    std::string_view l = text.substr(0, stop);
    text.remove_prefix(stop == std::string_view::npos ? text.size() : stop + 1);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    if (!(line == 1 && header) && !l.empty()) ++rows;
  }
  return rows;
}

template <class TargetKind>
void read(const std::filesystem::path& file, std::string_view text, plait::csv_options options) {
  using x_shape = std::conditional_t<std::is_same_v<TargetKind, plait::class_labels>, plait::shape<3>, plait::shape<2>>;
  try {
    const auto d = plait::read_csv<x_shape, TargetKind>(file, options);
    if (d.size() != data_lines(text, options.header)) plait::fuzz::wrong("read_csv returned another number of rows");
    for (float v : d.features())
      if (!std::isfinite(v)) plait::fuzz::wrong("read_csv returned a feature that is not finite");
    for (auto t : d.targets()) {
      if constexpr (std::is_same_v<TargetKind, plait::class_labels>) {
        if (t < 0) plait::fuzz::wrong("read_csv returned a negative label");
      } else if (!std::isfinite(t)) {
        plait::fuzz::wrong("read_csv returned a target that is not finite");
      }
    }
  } catch (const plait::error&) {}
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const plait::fuzz::scratch_file scratch("csv");
  const auto& file = scratch.path;
  const std::uint8_t config = data[0];
  plait::fuzz::write_file(file, data + 1, size - 1);
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  plait::csv_options options{.delimiter = (config & 2) ? ';' : ',', .header = (config & 1) != 0};
  if (config & 8) options.max_line_bytes = 16;
  if (config & 16) options.label_column = 0;
  if (config & 4) read<plait::samples<plait::shape<2>>>(file, text, options);
  else read<plait::class_labels>(file, text, options);
  return 0;
}
