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
