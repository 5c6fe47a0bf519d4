#pragma once
// The memory rule of plait's readers (read_idx, read_csv, fashion_mnist::load) and the cap on one data set.
//
// A reader never allocates what a header claims: its buffers are sized from the file's size (plain
// files) or grow with the bytes actually read (gzip streams, pipes, CSV), so that while reading it
// holds at most 3 times the data it has read so far, plus a fixed amount (zlib's buffers; one CSV
// line). What it returns is capped by max_bytes (default_max_dataset_bytes unless the options say
// otherwise); a file that claims more is refused before its data is read, with the file, the claimed
// size and the cap in the message. An allocation that fails within the cap (a machine with less
// memory, or ulimit -v) is a plait::error too, never std::bad_alloc.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <new>
#include <string>
#include <string_view>

#include "../core/error.hpp"

namespace plait {

/// The largest data set a reader returns unless its options say otherwise: 4 GiB.
inline constexpr std::uint64_t default_max_dataset_bytes = std::uint64_t{4} << 30;

namespace read_limits {

/// `a * b`, or the largest uint64 when the product does not fit.
inline std::uint64_t saturating_product(std::uint64_t a, std::uint64_t b) {
  if (a != 0 && b > std::numeric_limits<std::uint64_t>::max() / a) return std::numeric_limits<std::uint64_t>::max();
  return a * b;
}

/// Fails when `what` (e.g. "IDX file 'x'") claims more bytes than `cap`; `options` names the options
/// struct whose max_bytes raises the cap.
inline void check_cap(std::string_view what, std::uint64_t claimed, std::uint64_t cap, std::string_view options) {
  if (claimed <= cap) return;
  const std::string size = claimed == std::numeric_limits<std::uint64_t>::max() ? std::string("more than 2^64 bytes")
                                                                                : cat(claimed, " bytes");
  fail(cat(what, " claims ", size, " of data, more than the cap of ", cap, " bytes"),
       "A reader returns at most max_bytes per data set, so that a damaged header cannot exhaust memory",
       cat("check the file; if the data set is really that large, raise ", options, "::max_bytes"));
}

/// v.resize(n) to exactly n elements (resize alone may double the capacity), with a plait::error
/// naming `what` where the memory is not there.
template <class Vector>
void resize(Vector& v, std::size_t n, std::string_view what) {
  try {
    v.reserve(n);
    v.resize(n);
  } catch (const std::bad_alloc&) {
    fail(cat("cannot allocate ", n * sizeof(typename Vector::value_type), " bytes for ", what),
         "The memory left to this process (free memory, or its ulimit -v) is smaller than the data set",
         "free memory, raise the process's limit, or read a smaller data set");
  }
}

}  // namespace read_limits
}  // namespace plait
