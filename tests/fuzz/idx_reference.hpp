#pragma once
// An independent reading of an IDX byte string, to compare read_idx's results with: the header's
// extents and the bytes after it, with no checks beyond what the comparison needs.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <plait/data/idx.hpp>
#include <vector>

#include "fuzz_file.hpp"

namespace plait::fuzz {

/// Aborts unless `a` is exactly what the bytes `data[0, size)` hold as an IDX file of unsigned bytes.
inline void check_idx(const idx_array& a, const std::uint8_t* data, std::size_t size) {
  if (size < 4 || data[0] != 0 || data[1] != 0 || data[2] != 0x08) wrong("read_idx accepted a bad magic number");
  const std::size_t rank = data[3];
  if (a.dims.size() != rank || size < 4 + 4 * rank) wrong("read_idx returned another rank");
  std::uint64_t elements = 1;
  for (std::size_t d = 0; d < rank; ++d) {
    const std::uint8_t* b = data + 4 + 4 * d;
    const std::uint32_t extent =
        (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | b[3];
    if (a.dims[d] != extent || extent == 0) wrong("read_idx returned other extents");
    elements *= extent;  // the data is in the input, so the product is below the input's size
  }
  const std::size_t start = 4 + 4 * rank;
  if (elements != size - start || a.data.size() != elements) wrong("read_idx returned another number of elements");
  if (!std::equal(a.data.begin(), a.data.end(), data + start)) wrong("read_idx returned other bytes");
}

}  // namespace plait::fuzz
