#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <plait/data/idx.hpp>
#include <string>
#include <vector>

#include "temp_files.hpp"

namespace fs = std::filesystem;

namespace {

using namespace plait::test;

bytes counting(std::size_t n) {
  bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = static_cast<std::uint8_t>(i * 7);
  return b;
}

std::string error_of(const fs::path& p) {
  try {
    plait::read_idx(p);
  } catch (const plait::error& e) {
    return e.what();
  }
  return "no error";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }
bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("read_idx reads plain and gzip files alike") {
  temp_dir dir;
  const bytes data = counting(3 * 4 * 5);
  const bytes file = idx_bytes(0x08, {3, 4, 5}, data);
  write_plain(dir / "a-idx3-ubyte", file);
  write_gz(dir / "a-idx3-ubyte.gz", file);
  for (const char* name : {"a-idx3-ubyte", "a-idx3-ubyte.gz"}) {
    CAPTURE(name);
    const plait::idx_array a = plait::read_idx(dir / name);
    CHECK(a.dims == std::vector<std::uint32_t>{3, 4, 5});
    CHECK(a.data == data);
    CHECK(a.elements() == 60);
  }
}

TEST_CASE("read_idx reads big-endian extents above one byte") {
  temp_dir dir;
  const bytes data = counting(300);
  write_plain(dir / "labels", idx_bytes(0x08, {300}, data));
  const auto a = plait::read_idx(dir / "labels");
  CHECK(a.dims == std::vector<std::uint32_t>{300});
  CHECK(a.data == data);
}

TEST_CASE("read_idx refuses every malformed file with a plait::error naming it") {
  temp_dir dir;
  const bytes good = idx_bytes(0x08, {2, 3}, counting(6));

  SUBCASE("missing file") {
    const std::string m = error_of(dir / "nothing-here");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "nothing-here"));
    CHECK(contains(m, "does not exist"));
  }
  SUBCASE("a directory") {
    const std::string m = error_of(dir.path);
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "directory"));
  }
  SUBCASE("empty file") {
    write_plain(dir / "empty", {});
    const std::string m = error_of(dir / "empty");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "truncated"));
  }
  SUBCASE("truncated data, plain and gzip") {
    const bytes cut(good.begin(), good.end() - 2);
    write_plain(dir / "cut", cut);
    write_gz(dir / "cut.gz", cut);
    for (const char* name : {"cut", "cut.gz"}) {
      CAPTURE(name);
      const std::string m = error_of(dir / name);
      CHECK(starts_with(m, "plait: "));
      CHECK(contains(m, name));
      CHECK(contains(m, "truncated: 4 of 6 data bytes"));
    }
  }
  SUBCASE("truncated dimensions") {
    write_plain(dir / "cutdims", bytes{0, 0, 8, 3, 0, 0, 0, 2});
    const std::string m = error_of(dir / "cutdims");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "truncated in its header"));
  }
  SUBCASE("a gzip stream cut short") {
    write_gz(dir / "full.gz", idx_bytes(0x08, {1000}, counting(1000)));
    const bytes z = read_all(dir / "full.gz");
    write_plain(dir / "short.gz", bytes(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(z.size() / 2)));
    const std::string m = error_of(dir / "short.gz");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "gzip IDX file"));
    CHECK(contains(m, "truncated"));
  }
  SUBCASE("a damaged gzip stream") {
    write_gz(dir / "full.gz", idx_bytes(0x08, {1000}, counting(1000)));
    bytes z = read_all(dir / "full.gz");
    for (std::size_t i = 12; i < z.size() - 8; ++i) z[i] = 0xA5;  // keep the gzip header and trailer
    write_plain(dir / "bad.gz", z);
    const std::string m = error_of(dir / "bad.gz");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "bad.gz"));
  }
  SUBCASE("wrong magic") {
    write_plain(dir / "image.png", bytes{0x89, 'P', 'N', 'G', 0, 0, 0, 0});
    const std::string m = error_of(dir / "image.png");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "wrong magic number"));
  }
  SUBCASE("element types other than unsigned byte") {
    write_plain(dir / "floats", idx_bytes(0x0D, {1}, bytes{0, 0, 0, 0}));
    const std::string m = error_of(dir / "floats");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "floats"));
    CHECK(contains(m, "float32 (0x0D)"));
    write_plain(dir / "odd", idx_bytes(0x42, {1}, bytes{0}));
    CHECK(contains(error_of(dir / "odd"), "unknown"));
  }
  SUBCASE("zero dimensions, or a zero extent") {
    write_plain(dir / "rank0", bytes{0, 0, 8, 0});
    CHECK(contains(error_of(dir / "rank0"), "zero dimensions"));
    write_plain(dir / "empty-extent", idx_bytes(0x08, {4, 0}, {}));
    const std::string m = error_of(dir / "empty-extent");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "zero extent in dimension 1"));
  }
  SUBCASE("absurd sizes are refused before allocating") {
    write_plain(dir / "huge", idx_bytes(0x08, {65536, 65536, 65536}, {}));
    const std::string m = error_of(dir / "huge");
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "more than 2^31 elements"));
    write_plain(dir / "edge", idx_bytes(0x08, {0x80000000u, 2}, {}));
    CHECK(contains(error_of(dir / "edge"), "more than 2^31 elements"));
  }
  SUBCASE("bytes beyond the data") {
    bytes longer = good;
    longer.push_back(1);
    write_plain(dir / "long", longer);
    CHECK(contains(error_of(dir / "long"), "bytes after its data"));
  }
}
