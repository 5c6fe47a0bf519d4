#pragma once
// read_idx: the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.
//
//   bytes 0-1  0x00 0x00
//   byte  2    element type (only 0x08, unsigned byte, is read here)
//   byte  3    number of dimensions d
//   then d big-endian uint32 extents, then the elements row-major.
//
// zlib's gzread reads plain files transparently, so one path serves both; gzip is recognised by
// its 0x1f 0x8b magic to say which kind of file an error is about, and to read its data in growing
// chunks (a plain file's size is known in advance). read_limits.hpp has the memory rule.

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "read_limits.hpp"

namespace plait {

struct idx_array {
  std::vector<std::uint32_t> dims;  // outermost first, e.g. [n, 28, 28]
  std::vector<std::uint8_t> data;   // [dims[0], dims[1], ...] row-major

  std::size_t elements() const { return data.size(); }
};

namespace idx_detail {

struct gz_closer {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using gz_file = std::unique_ptr<gzFile_s, gz_closer>;

inline const char* type_name(std::uint8_t type) {
  switch (type) {
    case 0x08: return "unsigned byte (0x08)";
    case 0x09: return "signed byte (0x09)";
    case 0x0B: return "int16 (0x0B)";
    case 0x0C: return "int32 (0x0C)";
    case 0x0D: return "float32 (0x0D)";
    case 0x0E: return "float64 (0x0E)";
    default: return "unknown";
  }
}

/// Reads up to `size` bytes, looping because gzread takes an unsigned count. Returns the bytes read;
/// a corrupt stream is an exception; a short read (end of file, or a
/// gzip stream cut short) is left to the caller, which knows how many bytes it needed.
inline std::size_t read_some(gzFile_s* f, void* out, std::size_t size, const std::string& where) {
  auto* p = static_cast<unsigned char*>(out);
  std::size_t done = 0;
  while (done < size) {
    const auto chunk = static_cast<unsigned>(std::min<std::size_t>(size - done, std::size_t{1} << 30));
    const int got = gzread(f, p + done, chunk);
    if (got < 0) {
      int code = 0;
      const char* why = gzerror(f, &code);
      if (code == Z_BUF_ERROR) break;  // a gzip stream cut short: the caller reports the truncation
      fail("cannot read " + where, std::string("The zlib library reports: ") + (why ? why : "unknown error"),
           "the file is damaged; download or install it again");
    }
    if (got == 0) break;
    done += static_cast<std::size_t>(got);
  }
  return done;
}

inline std::uint32_t big_endian_u32(const unsigned char* b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) | std::uint32_t{b[3]};
}

}  // namespace idx_detail

/// What read_idx may return: `max_bytes` caps the array (unsigned bytes, so its element count).
struct idx_options {
  std::uint64_t max_bytes = default_max_dataset_bytes;
};

namespace idx_detail {

/// An IDX file opened and its header read and checked: the stream stands at the first data byte.
struct opened {
  gz_file file;
  std::string kind;                 // "IDX file '<path>'" or "gzip IDX file '<path>'", for messages
  std::vector<std::uint32_t> dims;  // outermost first
  std::uint64_t elements = 1;       // the product of dims, saturated at 2^64 - 1
  std::uint64_t header_bytes = 0;   // 4 + 4 * rank
};

inline opened open(const std::filesystem::path& path) {
  namespace fs = std::filesystem;
  const std::string name = path.string();

  std::error_code ec;
  const auto status = fs::status(path, ec);
  expect(fs::exists(status), "IDX file '" + name + "' does not exist", "The IDX reader needs the file to read",
         "check the path (Fashion-MNIST: install dataset-fashion-mnist or download the files)");
  expect(!fs::is_directory(status), "IDX path '" + name + "' is a directory", "The IDX reader reads one file",
         "name the file inside it, e.g. train-images-idx3-ubyte.gz");

  opened o;
  o.file.reset(gzopen(name.c_str(), "rb"));
  expect(o.file != nullptr, "cannot open IDX file '" + name + "'",
         "The file exists but could not be opened for reading", "check its permissions");
  gzbuffer(o.file.get(), 1u << 17);  // larger than the 8 KiB default: fewer system calls on 47 MB files

  unsigned char header[4];
  const std::size_t got = read_some(o.file.get(), header, 4, "IDX file '" + name + "'");
  o.kind = gzdirect(o.file.get()) ? "IDX file '" + name + "'" : "gzip IDX file '" + name + "'";
  const std::string& kind = o.kind;
  expect(got == 4, kind + " is truncated: " + std::to_string(got) + " bytes",
         "An IDX file starts with a 4-byte magic number", "the file is incomplete; download or install it again");
  expect(header[0] == 0 && header[1] == 0, kind + " has a wrong magic number",
         "An IDX file starts with two zero bytes, then the element type and the number of dimensions",
         "pass an IDX file (e.g. train-images-idx3-ubyte), not an image, CSV or archive");
  expect(header[2] == 0x08, kind + " holds elements of type " + type_name(header[2]),
         "The IDX reader reads only unsigned bytes (type 0x08), the type of MNIST and Fashion-MNIST",
         "convert the file to unsigned bytes, or load it with another reader");
  const unsigned ndims = header[3];
  expect(ndims > 0, kind + " has zero dimensions", "An IDX array needs at least one dimension",
         "the header is damaged; download or install the file again");

  o.dims.resize(ndims);
  unsigned char raw[4 * 255];
  const std::size_t got_dims = read_some(o.file.get(), raw, 4 * std::size_t{ndims}, kind);
  expect(got_dims == 4 * std::size_t{ndims}, kind + " is truncated in its header",
         "The header announces " + std::to_string(ndims) + " dimensions but the file ends before them",
         "the file is incomplete; download or install it again");
  for (unsigned d = 0; d < ndims; ++d) {
    o.dims[d] = big_endian_u32(raw + 4 * d);
    expect(o.dims[d] > 0, kind + " has a zero extent in dimension " + std::to_string(d),
           "An IDX array with no elements is a damaged header, not a data set", "download or install the file again");
    o.elements = read_limits::saturating_product(o.elements, o.dims[d]);
  }
  o.header_bytes = 4 + 4 * std::uint64_t{ndims};
  return o;
}

/// Reads the data of a stream whose size is not known (gzip, a pipe) in chunks that grow with what
/// arrives: never more than 3 times the bytes read so far, whatever the header claims.
inline std::size_t read_growing(gzFile_s* f, std::vector<std::uint8_t>& data, std::size_t want,
                                const std::string& kind) {
  constexpr std::size_t first_chunk = std::size_t{1} << 20;
  std::size_t have = 0;
  read_limits::resize(data, std::min(want, first_chunk), "the data of " + kind);
  while (have < want) {
    if (have == data.size())  // full: double it, so that old + new buffer hold at most 3 * have
      read_limits::resize(data, std::min(want, 2 * data.size()), "the data of " + kind);
    const std::size_t asked = data.size() - have;
    const std::size_t got = read_some(f, data.data() + have, asked, kind);
    have += got;
    if (got < asked) break;  // end of the stream
  }
  return have;
}

}  // namespace idx_detail

/// Reads only the header of an IDX file: its extents, outermost first, checked as read_idx checks
/// them (but neither against the data nor against a cap). Reads a few bytes, allocates nothing large.
inline std::vector<std::uint32_t> read_idx_dims(const std::filesystem::path& path) {
  return idx_detail::open(path).dims;
}

/// Reads an IDX file of unsigned bytes. Every malformed file is a plait::error naming the path. The
/// header's claim is checked against options.max_bytes and, for a plain file, against the file's
/// size before anything is allocated; a gzip file is read in chunks that grow with its data.
inline idx_array read_idx(const std::filesystem::path& path, idx_options options = {}) {
  using namespace idx_detail;
  opened o = open(path);
  const std::string& kind = o.kind;
  read_limits::check_cap(kind, o.elements, options.max_bytes, "idx_options");
  const auto want = static_cast<std::size_t>(o.elements);  // <= max_bytes: fits memory's addresses
  const auto truncated = [&](std::uint64_t got) {
    fail(kind + " is truncated: " + std::to_string(got) + " of " + std::to_string(want) + " data bytes",
         "The dimensions in its header need more bytes than the file holds",
         "the file is incomplete; download or install it again");
  };
  const auto too_long = [&] {
    fail(kind + " has bytes after its data", "The dimensions in its header account for fewer bytes than the file holds",
         "check that the header matches the data (the file may be damaged or of another format)");
  };

  idx_array out;
  out.dims = std::move(o.dims);
  std::error_code ec;
  const bool plain = gzdirect(o.file.get()) && std::filesystem::is_regular_file(path, ec);
  const std::uintmax_t file_size = plain ? std::filesystem::file_size(path, ec) : 0;
  std::size_t got = 0;
  if (plain && !ec) {  // the file's size says how many data bytes there are: check before allocating
    const std::uint64_t there = file_size > o.header_bytes ? file_size - o.header_bytes : 0;
    if (there < want) truncated(there);
    if (there > want) too_long();
    read_limits::resize(out.data, want, "the data of " + kind);
    got = read_some(o.file.get(), out.data.data(), want, kind);
  } else {
    got = read_growing(o.file.get(), out.data, want, kind);
  }
  if (got != want) truncated(got);
  unsigned char extra = 0;
  if (read_some(o.file.get(), &extra, 1, kind) != 0) too_long();
  return out;
}

}  // namespace plait
