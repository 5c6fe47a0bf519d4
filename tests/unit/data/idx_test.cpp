#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <plait/data/idx.hpp>
#include <string>
#include <vector>

#include "counting_new.hpp"
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
    CHECK(contains(m, "claims 281474976710656 bytes of data, more than the cap of 4294967296 bytes"));
    CHECK(contains(m, "idx_options::max_bytes"));
    const std::vector<std::uint32_t> widest(255, 0xFFFFFFFFu);  // a product far beyond 64 bits
    write_plain(dir / "widest", idx_bytes(0x08, widest, {}));
    CHECK(contains(error_of(dir / "widest"), "claims more than 2^64 bytes of data"));
  }
  SUBCASE("bytes beyond the data") {
    bytes longer = good;
    longer.push_back(1);
    write_plain(dir / "long", longer);
    CHECK(contains(error_of(dir / "long"), "bytes after its data"));
  }
}

TEST_CASE("idx_options::max_bytes caps the array; the default is 4 GiB") {
  temp_dir dir;
  write_plain(dir / "six", idx_bytes(0x08, {2, 3}, counting(6)));
  CHECK(plait::idx_options{}.max_bytes == std::uint64_t{4} << 30);
  CHECK(plait::read_idx(dir / "six", {.max_bytes = 6}).elements() == 6);
  try {
    plait::read_idx(dir / "six", {.max_bytes = 5});
    FAIL("no error");
  } catch (const plait::error& e) {
    const std::string m = e.what();
    CHECK(starts_with(m, "plait: IDX file '"));
    CHECK(contains(m, "six' claims 6 bytes of data, more than the cap of 5 bytes"));
  }
}

// Issue 21: an 8-byte file whose header claims 2^31 elements made read_idx allocate 2 GiB before it
// noticed the truncation; the same inside a gzip. Now the plain file's size, and the gzip's data as it
// arrives, size the buffer.
TEST_CASE("a tiny file claiming 2^31 elements fails without allocating them, plain or gzip") {
  temp_dir dir;
  const bytes eight = idx_bytes(0x08, {0x80000000u}, {});
  REQUIRE(eight.size() == 8);
  write_plain(dir / "claims-2g", eight);
  write_gz(dir / "claims-2g.gz", eight);
  for (const char* name : {"claims-2g", "claims-2g.gz"}) {
    CAPTURE(name);
    plait::test::largest_new = 0;
    const std::string m = error_of(dir / name);
    CHECK(starts_with(m, "plait: "));
    CHECK(contains(m, "truncated: 0 of 2147483648 data bytes"));
    CHECK(plait::test::largest_new.load() <= std::size_t{2} << 20);  // the first gzip chunk is 1 MiB
  }
  plait::test::largest_new = 0;
  CHECK(plait::read_idx_dims(dir / "claims-2g.gz") == std::vector<std::uint32_t>{0x80000000u});
  CHECK(plait::test::largest_new.load() < 4096);
}

TEST_CASE("a gzip file is read in growing chunks and returned exactly") {
  temp_dir dir;
  const bytes data = counting((std::size_t{5} << 20) + 12345);  // past the 1, 2 and 4 MiB chunks
  write_gz(dir / "big.gz", idx_bytes(0x08, {static_cast<std::uint32_t>(data.size())}, data));
  plait::test::largest_new = 0;
  const auto a = plait::read_idx(dir / "big.gz");
  CHECK(a.data == data);
  CHECK(plait::test::largest_new.load() == data.size());  // the last chunk stops at the claimed size

  bytes cut = idx_bytes(0x08, {static_cast<std::uint32_t>(data.size()) + 1}, data);  // one byte short
  write_gz(dir / "short.gz", cut);
  CHECK(contains(error_of(dir / "short.gz"), "truncated: 5255225 of 5255226 data bytes"));
}

TEST_CASE("a gzip bomb over the cap is refused before its data is read") {
  temp_dir dir;
  const std::uint32_t n = 64u << 20;  // 64 MiB of zeros in about 64 KB
  write_gz_zeros(dir / "zeros.gz", idx_bytes(0x08, {n}, {}), n);
  plait::test::largest_new = 0;
  try {
    plait::read_idx(dir / "zeros.gz", {.max_bytes = 1 << 20});
    FAIL("no error");
  } catch (const plait::error& e) {
    CHECK(contains(e.what(), "gzip IDX file"));
    CHECK(contains(e.what(), "claims 67108864 bytes of data, more than the cap of 1048576 bytes"));
  }
  CHECK(plait::test::largest_new.load() < 4096);
}

TEST_CASE("docs/data.md: read_idx_dims reads the header only, read_idx checks it against the cap") {
  temp_dir dir;
  write_gz(dir / "train-labels-idx1-ubyte.gz", idx_bytes(0x08, {300}, counting(300)));
  const fs::path path = dir / "train-labels-idx1-ubyte.gz";
  // [docs:idx]
  std::vector<std::uint32_t> dims = plait::read_idx_dims(path);             // [300]: a few bytes read
  plait::idx_array labels = plait::read_idx(path, {.max_bytes = 1 << 20});  // refused if it claims over 1 MiB
  // [/docs:idx]
  CHECK(dims == std::vector<std::uint32_t>{300});
  CHECK(labels.dims == dims);
  CHECK(labels.data == counting(300));
}
