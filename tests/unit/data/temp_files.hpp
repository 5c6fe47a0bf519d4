#pragma once
// Test helpers shared by the data tests: a scratch directory removed at scope exit, and writers of
// plain, gzip and IDX files, so every test makes the exact bytes it reads.

#include <zlib.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace plait::test {

using bytes = std::vector<std::uint8_t>;

struct temp_dir {
  std::filesystem::path path;

  temp_dir() {
    // Clock and random device together keep names apart between tests and concurrent test processes.
    const auto tick = std::chrono::steady_clock::now().time_since_epoch().count();
    path = std::filesystem::temp_directory_path() /
           ("plait_data_test_" + std::to_string(tick) + "_" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  std::filesystem::path operator/(const std::string& name) const { return path / name; }
  std::string str() const { return path.string(); }
};

inline void write_plain(const std::filesystem::path& p, const bytes& b) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  if (!out) throw std::runtime_error("test setup: cannot write " + p.string());
}

inline void write_gz(const std::filesystem::path& p, const bytes& b) {
  gzFile f = gzopen(p.string().c_str(), "wb");
  if (f == nullptr) throw std::runtime_error("test setup: cannot open " + p.string());
  const int written = gzwrite(f, b.data(), static_cast<unsigned>(b.size()));
  gzclose(f);
  if (written != static_cast<int>(b.size())) throw std::runtime_error("test setup: cannot write " + p.string());
}

/// `b` as one gzip member in memory. Members written one after another are one valid gzip file, so
/// a large file of repeated content (e.g. zeros) is cheap to make from one compressed member.
inline bytes gz_member(const bytes& b) {
  z_stream z{};
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY) != Z_OK)
    throw std::runtime_error("test setup: deflateInit2 failed");
  bytes out(deflateBound(&z, static_cast<uLong>(b.size())));
  z.next_in = const_cast<Bytef*>(b.data());
  z.avail_in = static_cast<uInt>(b.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (rc != Z_STREAM_END) throw std::runtime_error("test setup: deflate failed");
  return out;
}

/// A gzip file of `header`, then `zeros` zero bytes, written as members of at most 1 MiB of zeros each:
/// about 1 KB of file per MiB of data.
inline void write_gz_zeros(const std::filesystem::path& p, const bytes& header, std::uint64_t zeros) {
  constexpr std::uint64_t mib = std::uint64_t{1} << 20;
  std::ofstream out(p, std::ios::binary);
  const auto put = [&](const bytes& b) {
    out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
  };
  put(gz_member(header));
  const bytes full = gz_member(bytes(mib, 0));
  for (std::uint64_t i = 0; i < zeros / mib; ++i) put(full);
  if (zeros % mib) put(gz_member(bytes(zeros % mib, 0)));
  if (!out) throw std::runtime_error("test setup: cannot write " + p.string());
}

inline bytes read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// An IDX file: magic (0, 0, type, rank), big-endian extents, then `data` as given.
inline bytes idx_bytes(std::uint8_t type, const std::vector<std::uint32_t>& dims, const bytes& data) {
  bytes b{0, 0, type, static_cast<std::uint8_t>(dims.size())};
  for (auto d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) b.push_back(static_cast<std::uint8_t>(d >> shift));
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

}  // namespace plait::test
