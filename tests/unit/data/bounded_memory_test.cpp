// The readers' memory rule (include/plait/data/read_limits.hpp), tested where it matters: CTest runs
// this program under `ulimit -v` (PLAIT_ULIMIT_KB), so a reader that allocated what a header claims
// would fail with an allocation error instead of the error checked here. Built without OpenBLAS and
// OpenMP, whose threads reserve more address space than the limit allows.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <sys/resource.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <new>
#include <plait/data/csv.hpp>
#include <plait/data/fashion_mnist.hpp>
#include <plait/data/idx.hpp>
#include <string>
#include <vector>

#include "temp_files.hpp"

namespace fs = std::filesystem;
namespace fm = plait::fashion_mnist;
using namespace plait::test;

namespace {

template <class Read>
std::string error_of(Read read) {
  try {
    read();
  } catch (const plait::error& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

/// The address-space limit of this process in bytes, 0 when there is none.
std::uint64_t address_limit() {
  rlimit r{};
  getrlimit(RLIMIT_AS, &r);
  return r.rlim_cur == RLIM_INFINITY ? 0 : r.rlim_cur;
}

/// Allocates n bytes and reads one through a volatile, so that the allocation cannot be optimised away.
char touch_bytes(std::size_t n) {
  std::vector<char> v(n);
  volatile char* p = v.data() + n / 2;
  return *p;
}

constexpr std::uint32_t fm_n = 2739137;  // [2739137, 28, 28]: 2147483408 pixels, just under 2^31

}  // namespace

TEST_CASE("the limit CTest sets is in force, and a 1 GiB allocation fails under it") {
  const char* kb = std::getenv("PLAIT_ULIMIT_KB");
  if (kb == nullptr) {
    MESSAGE("PLAIT_ULIMIT_KB is not set: run by hand, without the limit CTest sets");
    return;
  }
  REQUIRE(address_limit() == std::strtoull(kb, nullptr, 10) * 1024);
  CHECK_THROWS_AS(touch_bytes(std::size_t{1} << 30), std::bad_alloc);
}

TEST_CASE("memory rule: an 8-byte IDX file claiming 2^31 elements, plain and gzip") {
  temp_dir dir;
  const bytes eight = idx_bytes(0x08, {0x80000000u}, {});
  write_plain(dir / "claims-2g", eight);
  write_gz(dir / "claims-2g.gz", eight);
  for (const char* name : {"claims-2g", "claims-2g.gz"}) {
    CAPTURE(name);
    const std::string m = error_of([&] { plait::read_idx(dir / name, {.max_bytes = std::uint64_t{16} << 30}); });
    CHECK(contains(m, "truncated: 0 of 2147483648 data bytes"));
  }
}

TEST_CASE("memory rule: a Fashion-MNIST folder of 16-byte files claiming 2739137 images") {
  temp_dir dir;
  write_plain(dir / "train-images-idx3-ubyte", idx_bytes(0x08, {fm_n, 28, 28}, {}));
  write_plain(dir / "train-labels-idx1-ubyte", idx_bytes(0x08, {fm_n}, {}));
  CHECK(contains(error_of([&] { fm::load(dir.str()); }), "more than the cap of 4294967296 bytes"));
  const std::string raised =
      error_of([&] { fm::load(dir.str(), fm::split::train, {.max_bytes = std::uint64_t{16} << 30}); });
  CHECK(contains(raised, "is truncated: 0 of 2147483408 data bytes"));
}

TEST_CASE("memory rule: a valid 2 MB gzip of 2739137 zero images") {
  temp_dir dir;
  write_gz_zeros(dir / "train-images-idx3-ubyte.gz", idx_bytes(0x08, {fm_n, 28, 28}, {}), std::uint64_t{fm_n} * 784);
  write_gz_zeros(dir / "train-labels-idx1-ubyte.gz", idx_bytes(0x08, {fm_n}, {}), fm_n);
  const std::string m = error_of([&] { fm::load(dir.str()); });
  CHECK(contains(m, "claims 8600890180 bytes of data, more than the cap of 4294967296 bytes"));

  // With the cap raised the data is real and is read, in chunks, until memory runs out: a plait::error.
  const std::uint64_t limit = address_limit();
  if (limit == 0 || limit > (std::uint64_t{1} << 30)) {
    MESSAGE("skipped the raised cap: no address-space limit under 1 GiB (CTest sets one)");
    return;
  }
  const std::string raised =
      error_of([&] { fm::load(dir.str(), fm::split::train, {.max_bytes = std::uint64_t{16} << 30}); });
  CHECK(raised.rfind("plait: cannot allocate ", 0) == 0);
  CHECK(contains(raised, "train-images-idx3-ubyte.gz"));
}

TEST_CASE("memory rule: /dev/zero as a CSV file") {
  if (!fs::exists("/dev/zero")) return;
  const std::string m = error_of([] { plait::read_csv<plait::shape<4>, plait::class_labels>("/dev/zero"); });
  CHECK(contains(m, "line 1 is longer than 1048576 bytes"));
}
