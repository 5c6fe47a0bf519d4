// libFuzzer target: read_idx on a gzip file. An input that starts with gzip's magic (1f 8b) is
// written as it is, to damage the compressed stream; any other input is an IDX file that the target
// compresses first, to explore the reader of the data inside. A read either fails with a
// plait::error or returns what the file holds; an allocation over -rss_limit_mb is a finding.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <plait/data/idx.hpp>
#include <vector>

#include "fuzz_file.hpp"
#include "idx_reference.hpp"

namespace {

std::vector<std::uint8_t> gzip(const std::uint8_t* data, std::size_t size) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) std::abort();
  std::vector<std::uint8_t> out(deflateBound(&z, static_cast<uLong>(size)));
  z.next_in = const_cast<Bytef*>(data);
  z.avail_in = static_cast<uInt>(size);
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) std::abort();
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const plait::fuzz::scratch_file scratch("idx_gz");
  const auto& file = scratch.path;
  const bool raw = size >= 2 && data[0] == 0x1f && data[1] == 0x8b;
  if (raw) {
    plait::fuzz::write_file(file, data, size);
  } else {
    const auto z = gzip(data, size);
    plait::fuzz::write_file(file, z.data(), z.size());
  }
  try {
    const plait::idx_array a = plait::read_idx(file);
    if (!raw) plait::fuzz::check_idx(a, data, size);  // the content is known: it must come back exactly
    std::uint64_t elements = 1;
    for (auto d : a.dims) elements *= d;
    if (a.dims.empty() || elements != a.data.size()) plait::fuzz::wrong("read_idx's extents and data disagree");
  } catch (const plait::error&) {}
  return 0;
}
