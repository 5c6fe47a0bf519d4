#pragma once
// read_idx: the IDX format of MNIST and Fashion-MNIST, plain or gzip-compressed.
//
//   bytes 0-1  0x00 0x00
//   byte  2    element type (only 0x08, unsigned byte, is read here)
//   byte  3    number of dimensions d
//   then d big-endian uint32 extents, then the elements row-major.
//
// zlib's gzread reads plain files transparently, so one path serves both; gzip is recognised by
// its 0x1f 0x8b magic only to say which kind of file an error is about.

#include <zlib.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "../core/error.hpp"

namespace plait {

struct idx_array {
  std::vector<std::uint32_t> dims;  // outermost first, e.g. [n, 28, 28]
  std::vector<std::uint8_t> data;   // [dims[0], dims[1], ...] row-major

  std::size_t elements() const { return data.size(); }
};

namespace idx_detail {

// 2^31 elements is far beyond any IDX data set and keeps every product below size_t overflow.
inline constexpr std::uint64_t max_elements = std::uint64_t{1} << 31;

struct gz_closer {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using gz_file = std::unique_ptr<gzFile_s, gz_closer>;

inline const char* type_name(std::uint8_t type) {
  switch (type) {
    case 0x08:
      return "unsigned byte (0x08)";
    case 0x09:
      return "signed byte (0x09)";
    case 0x0B:
      return "int16 (0x0B)";
    case 0x0C:
      return "int32 (0x0C)";
    case 0x0D:
      return "float32 (0x0D)";
    case 0x0E:
      return "float64 (0x0E)";
    default:
      return "unknown";
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

/// Reads an IDX file of unsigned bytes. Every malformed file is a plait::error naming the path.
inline idx_array read_idx(const std::filesystem::path& path) {
  using namespace idx_detail;
  namespace fs = std::filesystem;
  const std::string name = path.string();

  std::error_code ec;
  const auto status = fs::status(path, ec);
  expect(fs::exists(status), "IDX file '" + name + "' does not exist", "The IDX reader needs the file to read",
         "check the path (Fashion-MNIST: install dataset-fashion-mnist or download the files)");
  expect(!fs::is_directory(status), "IDX path '" + name + "' is a directory", "The IDX reader reads one file",
         "name the file inside it, e.g. train-images-idx3-ubyte.gz");

  gz_file f(gzopen(name.c_str(), "rb"));
  expect(f != nullptr, "cannot open IDX file '" + name + "'", "The file exists but could not be opened for reading",
         "check its permissions");
  gzbuffer(f.get(), 1u << 17);  // larger than the 8 KiB default: fewer system calls on 47 MB files

  unsigned char header[4];
  const std::size_t got = read_some(f.get(), header, 4, "IDX file '" + name + "'");
  const std::string kind = gzdirect(f.get()) ? "IDX file '" + name + "'" : "gzip IDX file '" + name + "'";
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

  idx_array out;
  out.dims.resize(ndims);
  std::vector<unsigned char> raw(4 * std::size_t{ndims});
  const std::size_t got_dims = read_some(f.get(), raw.data(), raw.size(), kind);
  expect(got_dims == raw.size(), kind + " is truncated in its header",
         "The header announces " + std::to_string(ndims) + " dimensions but the file ends before them",
         "the file is incomplete; download or install it again");
  std::uint64_t elements = 1;
  for (unsigned d = 0; d < ndims; ++d) {
    out.dims[d] = big_endian_u32(raw.data() + 4 * d);
    expect(out.dims[d] > 0, kind + " has a zero extent in dimension " + std::to_string(d),
           "An IDX array with no elements is a damaged header, not a data set", "download or install the file again");
    elements *= out.dims[d];  // cannot overflow: checked below 2^31 after each factor < 2^32
    expect(elements <= max_elements, kind + " announces more than 2^31 elements",
           "That is far larger than any IDX data set and would not fit in memory",
           "check that the file is an IDX file");
  }

  out.data.resize(static_cast<std::size_t>(elements));
  const std::size_t got_data = read_some(f.get(), out.data.data(), out.data.size(), kind);
  expect(got_data == out.data.size(),
         kind + " is truncated: " + std::to_string(got_data) + " of " + std::to_string(out.data.size()) + " data bytes",
         "The dimensions in its header need more bytes than the file holds",
         "the file is incomplete; download or install it again");
  unsigned char extra = 0;
  expect(read_some(f.get(), &extra, 1, kind) == 0, kind + " has bytes after its data",
         "The dimensions in its header account for fewer bytes than the file holds",
         "check that the header matches the data (the file may be damaged or of another format)");
  return out;
}

}  // namespace plait
