#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <plait/data/fashion_mnist.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "counting_new.hpp"
#include "temp_files.hpp"

namespace fs = std::filesystem;
namespace fm = plait::fashion_mnist;

namespace {

using namespace plait::test;

void write(const fs::path& p, const bytes& b, bool gz) { gz ? write_gz(p, b) : write_plain(p, b); }

// n images whose pixel k of image i is (i + k) % 256, labels given.
void write_split(const fs::path& dir, const std::string& prefix, const bytes& labels, bool gz,
                 std::array<std::uint32_t, 2> image_dims = {28, 28}) {
  const auto n = static_cast<std::uint32_t>(labels.size());
  bytes pixels(std::size_t{n} * image_dims[0] * image_dims[1]);
  for (std::size_t i = 0; i < n; ++i)
    for (std::size_t k = 0; k < image_dims[0] * image_dims[1]; ++k)
      pixels[i * image_dims[0] * image_dims[1] + k] = static_cast<std::uint8_t>((i + k) % 256);
  const std::string ext = gz ? ".gz" : "";
  write(dir / (prefix + "-images-idx3-ubyte" + ext), idx_bytes(0x08, {n, image_dims[0], image_dims[1]}, pixels), gz);
  write(dir / (prefix + "-labels-idx1-ubyte" + ext), idx_bytes(0x08, {n}, labels), gz);
}

std::string error_of(const std::string& dir, fm::split s = fm::split::train) {
  try {
    fm::load(dir, s);
  } catch (const plait::error& e) {
    return e.what();
  }
  return "no error";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

static_assert(std::is_same_v<fm::dataset::x_shape, plait::shape<1, 28, 28>>);

TEST_CASE("load reads both splits, plain or gzip, scaled to [0, 1]") {
  for (bool gz : {false, true}) {
    CAPTURE(gz);
    temp_dir dir;
    write_split(dir.path, "train", {3, 0, 9}, gz);
    write_split(dir.path, "t10k", {5, 5}, gz);
    const fm::dataset train = fm::load(dir.str(), fm::split::train);
    CHECK(train.size() == 3);
    CHECK(train.targets() == std::vector<std::int32_t>{3, 0, 9});
    CHECK(train.x().sample(1)[0] == doctest::Approx(1.0f / 255.0f));
    CHECK(train.x().sample(0)[255] == 1.0f);
    CHECK(train.x().sample(0)[256] == 0.0f);
    const fm::dataset test = fm::load(dir.str(), fm::split::test);
    CHECK(test.size() == 2);
    CHECK(test.classes() == 6);
  }
}

TEST_CASE("a plain file is preferred, the gzip one used when alone") {
  temp_dir dir;
  write_split(dir.path, "train", {1}, false);
  write_split(dir.path, "train", {2}, true);
  CHECK(fm::load(dir.str()).targets() == std::vector<std::int32_t>{1});
  fs::remove(dir.path / "train-labels-idx1-ubyte");
  CHECK(fm::load(dir.str()).targets() == std::vector<std::int32_t>{2});
}

TEST_CASE("missing files point at the package and the environment variable") {
  temp_dir dir;
  for (const std::string& where : {dir.str(), dir.str() + "/no-such-dir"}) {
    const std::string m = error_of(where);
    CAPTURE(m);
    CHECK(m.rfind("plait: ", 0) == 0);
    CHECK(contains(m, "dataset-fashion-mnist"));
    CHECK(contains(m, "PLAIT_FASHION_MNIST_DIR"));
  }
  write_split(dir.path, "train", {1}, false);
  CHECK(contains(error_of(dir.str(), fm::split::test), "t10k-images-idx3-ubyte"));
}

TEST_CASE("files of the wrong shape or content are refused") {
  temp_dir dir;
  SUBCASE("images not 28x28") {
    write_split(dir.path, "train", {1, 2}, false, {28, 27});
    const std::string m = error_of(dir.str());
    CHECK(m.rfind("plait: ", 0) == 0);
    CHECK(contains(m, "[2, 28, 27]"));
  }
  SUBCASE("labels of rank 2") {
    write_split(dir.path, "train", {1, 2}, false);
    write(dir.path / "train-labels-idx1-ubyte", idx_bytes(0x08, {2, 1}, {1, 2}), false);
    CHECK(contains(error_of(dir.str()), "have dimensions [2, 1]"));
  }
  SUBCASE("counts that differ") {
    write_split(dir.path, "train", {1, 2, 3}, false);
    write(dir.path / "train-labels-idx1-ubyte", idx_bytes(0x08, {2}, {1, 2}), false);
    CHECK(contains(error_of(dir.str()), "plait: Fashion-MNIST has 3 images but 2 labels"));
  }
  SUBCASE("a label outside 0..9") {
    write_split(dir.path, "train", {1, 10}, true);
    CHECK(contains(error_of(dir.str()), "plait: Fashion-MNIST label 10 of sample 1"));
  }
  SUBCASE("a damaged file") {
    write_split(dir.path, "train", {1}, false);
    write(dir.path / "train-images-idx3-ubyte", bytes{0, 0, 8}, false);
    CHECK(contains(error_of(dir.str()), "truncated"));
  }
}

TEST_CASE("load_options::max_bytes caps the loaded data set: n * (784 floats + 1 label)") {
  temp_dir dir;
  write_split(dir.path, "train", {1, 2, 3}, false);
  // [docs:fashion-mnist]
  // 3 images of 28x28 floats and 3 labels: 3 * (784 * 4 + 4) = 9420 bytes, within the cap.
  auto train = fm::load(dir.str(), fm::split::train, {.max_bytes = 9420});
  // [/docs:fashion-mnist]
  CHECK(train.size() == 3);
  const std::string m = [&] {
    try {
      fm::load(dir.str(), fm::split::train, {.max_bytes = 3 * 3140 - 1});
    } catch (const plait::error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  }();
  CHECK(m.rfind("plait: Fashion-MNIST images '", 0) == 0);
  CHECK(contains(m, "train-images-idx3-ubyte' [3, 28, 28]"));
  CHECK(contains(m, "claims 9420 bytes of data, more than the cap of 9419 bytes"));
  CHECK(contains(m, "fashion_mnist::load_options::max_bytes"));
}

// Issue 21: a valid 2 MB gzip whose header says [2739137, 28, 28] of zeros ended in std::bad_alloc when
// load converted it to 8.6 GB of floats. The headers are now checked against the cap first.
TEST_CASE("a valid 2 MB gzip of 2739137 zero images is refused by the cap, before its data is read") {
  temp_dir dir;
  constexpr std::uint32_t n = 2739137;
  write_gz_zeros(dir / "train-images-idx3-ubyte.gz", idx_bytes(0x08, {n, 28, 28}, {}), std::uint64_t{n} * 784);
  write_gz_zeros(dir / "train-labels-idx1-ubyte.gz", idx_bytes(0x08, {n}, {}), n);
  CHECK(fs::file_size(dir / "train-images-idx3-ubyte.gz") < (std::uintmax_t{3} << 20));
  plait::test::largest_new = 0;
  const std::string m = error_of(dir.str());
  CAPTURE(m);
  CHECK(m.rfind("plait: Fashion-MNIST images '", 0) == 0);
  CHECK(contains(m, "train-images-idx3-ubyte.gz' [2739137, 28, 28]"));
  CHECK(contains(m, "claims 8600890180 bytes of data, more than the cap of 4294967296 bytes"));
  CHECK(plait::test::largest_new.load() < 4096);
}

// Issue 21: the same as the 8-byte IDX file, inside a Fashion-MNIST folder: headers claiming more
// than the files hold fail without allocating, also where the cap is raised.
TEST_CASE("a folder of tiny files claiming 2^31 pixels fails without allocating them") {
  temp_dir dir;
  constexpr std::uint32_t n = 2739137;
  write_plain(dir / "train-images-idx3-ubyte", idx_bytes(0x08, {n, 28, 28}, {}));
  write_plain(dir / "train-labels-idx1-ubyte", idx_bytes(0x08, {n}, {}));
  plait::test::largest_new = 0;
  try {
    fm::load(dir.str(), fm::split::train, {.max_bytes = std::uint64_t{16} << 30});
    FAIL("no error");
  } catch (const plait::error& e) {
    CHECK(contains(e.what(), "train-images-idx3-ubyte' is truncated: 0 of 2147483408 data bytes"));
  }
  CHECK(plait::test::largest_new.load() < 4096);
}

TEST_CASE("default_dir honours PLAIT_FASHION_MNIST_DIR") {
  const char* saved = std::getenv("PLAIT_FASHION_MNIST_DIR");
  const std::string restore = saved ? saved : "";
  unsetenv("PLAIT_FASHION_MNIST_DIR");
  CHECK(fm::default_dir() == "/usr/share/datasets/fashion-mnist");
  setenv("PLAIT_FASHION_MNIST_DIR", "/data/fm", 1);
  CHECK(fm::default_dir() == "/data/fm");
  if (saved) setenv("PLAIT_FASHION_MNIST_DIR", restore.c_str(), 1);
  else unsetenv("PLAIT_FASHION_MNIST_DIR");
}

TEST_CASE("the real Fashion-MNIST: 60000 + 10000 images, balanced classes") {
  const std::string dir = fm::default_dir();
  if (!fs::exists(fs::path(dir) / "train-labels-idx1-ubyte.gz") &&
      !fs::exists(fs::path(dir) / "train-labels-idx1-ubyte")) {
    MESSAGE("skipped: Fashion-MNIST is not installed in " << dir << " (install dataset-fashion-mnist)");
    return;
  }
  const auto train = fm::load(dir, fm::split::train);
  const auto test = fm::load(dir, fm::split::test);
  CHECK(train.size() == 60000);
  CHECK(test.size() == 10000);
  CHECK(train.classes() == 10);
  // The published data set holds 6000 training and 1000 test images of each class.
  std::array<std::size_t, 10> per_class{};
  for (auto label : train.targets()) ++per_class[static_cast<std::size_t>(label)];
  for (auto c : per_class) CHECK(c == 6000);
  per_class = {};
  for (auto label : test.targets()) ++per_class[static_cast<std::size_t>(label)];
  for (auto c : per_class) CHECK(c == 1000);
  float lo = 1, hi = 0;
  for (float v : train.features()) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo == 0.0f);
  CHECK(hi == 1.0f);
}
