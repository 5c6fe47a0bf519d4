// libFuzzer target: read_idx on a plain file. A read either fails with a plait::error or returns
// exactly the input's extents and data; any other exception, a crash or an allocation over
// -rss_limit_mb (what a header claims, not what the file holds) is a finding.
#include <cstddef>
#include <cstdint>
#include <plait/data/idx.hpp>

#include "fuzz_file.hpp"
#include "idx_reference.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const plait::fuzz::scratch_file scratch("idx");
  const auto& file = scratch.path;
  plait::fuzz::write_file(file, data, size);
  try {
    const plait::idx_array a = plait::read_idx(file);
    plait::fuzz::check_idx(a, data, size);
    if (plait::read_idx_dims(file) != a.dims) plait::fuzz::wrong("read_idx_dims differs from read_idx");
  } catch (const plait::error&) {}
  return 0;
}
