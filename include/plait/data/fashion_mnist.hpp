#pragma once
// Fashion-MNIST (Xiao, Rasul & Vollgraf, 2017): 28x28 grey images of clothing in 10 classes,
// 60,000 for training and 10,000 for testing, stored as IDX files. The examples and tests use
// the copy from Debian's dataset-fashion-mnist package (scripts/setup.sh installs it).

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "dataset.hpp"
#include "idx.hpp"
#include "read_limits.hpp"

namespace plait::fashion_mnist {

enum class split { train, test };

using image_shape = shape<1, 28, 28>;                          // channels, rows, columns
using dataset = in_memory_dataset<image_shape, class_labels>;  // pixels in [0, 1], labels 0..9

inline constexpr std::size_t classes = 10;
inline constexpr std::array<std::string_view, classes> class_names{
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};

/// $PLAIT_FASHION_MNIST_DIR when set, otherwise where dataset-fashion-mnist installs the files.
inline std::string default_dir() {
  const char* env = std::getenv("PLAIT_FASHION_MNIST_DIR");
  return env && *env ? std::string(env) : std::string("/usr/share/datasets/fashion-mnist");
}

namespace detail {

inline constexpr std::string_view setup_fix =
    "install Debian's dataset-fashion-mnist package (scripts/setup.sh does it), or set PLAIT_FASHION_MNIST_DIR "
    "to a directory holding the four IDX files";

/// `dir/stem`, or `dir/stem.gz` when only the compressed file is there.
inline std::filesystem::path find_file(const std::filesystem::path& dir, const std::string& stem) {
  std::error_code ec;
  const auto plain = dir / stem;
  if (std::filesystem::is_regular_file(plain, ec)) return plain;
  const auto gz = dir / (stem + ".gz");
  if (std::filesystem::is_regular_file(gz, ec)) return gz;
  fail("Fashion-MNIST file '" + stem + "' (or '" + stem + ".gz') is not in '" + dir.string() + "'",
       "The loader reads the IDX files of the chosen split from that directory", setup_fix);
}

inline std::string dims_text(const std::vector<std::uint32_t>& dims) {
  std::string s = "[";
  for (std::size_t i = 0; i < dims.size(); ++i) s += (i ? ", " : "") + std::to_string(dims[i]);
  return s + "]";
}

}  // namespace detail

/// What load may return: `max_bytes` caps the data set as loaded, n * (784 floats + 1 int32 label).
struct load_options {
  std::uint64_t max_bytes = default_max_dataset_bytes;
};

/// Loads one split from `dir` (plain or .gz files): train-* for split::train, t10k-* for split::test.
/// The headers are checked (shapes, counts, options.max_bytes) before any data is read.
inline dataset load(std::string_view dir, split which = split::train, load_options options = {}) {
  const std::string prefix = which == split::train ? "train" : "t10k";
  const std::filesystem::path root{dir};
  std::error_code ec;
  expect(std::filesystem::is_directory(root, ec), "Fashion-MNIST directory '" + root.string() + "' does not exist",
         "The loader reads the IDX files from there", detail::setup_fix);

  const auto image_path = detail::find_file(root, prefix + "-images-idx3-ubyte");
  const auto label_path = detail::find_file(root, prefix + "-labels-idx1-ubyte");
  const std::vector<std::uint32_t> image_dims = read_idx_dims(image_path);
  const std::vector<std::uint32_t> label_dims = read_idx_dims(label_path);

  expect(image_dims.size() == 3 && image_dims[1] == 28 && image_dims[2] == 28,
         "Fashion-MNIST images '" + image_path.string() + "' have dimensions " + detail::dims_text(image_dims),
         "The images must be [n, 28, 28]", "check that the file is a Fashion-MNIST (or MNIST) image file");
  expect(label_dims.size() == 1,
         "Fashion-MNIST labels '" + label_path.string() + "' have dimensions " + detail::dims_text(label_dims),
         "The labels must be [n]", "check that the file is a Fashion-MNIST (or MNIST) label file");
  const std::size_t n = image_dims[0];
  expect(label_dims[0] == n,
         "Fashion-MNIST has " + std::to_string(n) + " images but " + std::to_string(label_dims[0]) + " labels",
         "The files '" + image_path.string() + "' and '" + label_path.string() + "' must describe the same samples",
         "take both files from the same split and the same download");
  constexpr std::size_t pixels = image_shape::size;
  read_limits::check_cap("Fashion-MNIST images '" + image_path.string() + "' " + detail::dims_text(image_dims) +
                             " with their labels (as floats and int32)",
                         std::uint64_t{n} * (pixels * sizeof(float) + sizeof(std::int32_t)), options.max_bytes,
                         "fashion_mnist::load_options");

  // Capped at what the headers said: a file replaced in between fails instead of growing.
  const idx_array images = read_idx(image_path, {.max_bytes = std::uint64_t{n} * pixels});
  const idx_array labels = read_idx(label_path, {.max_bytes = n});
  expect(images.dims == image_dims && labels.dims == label_dims,
         "Fashion-MNIST files in '" + root.string() + "' changed while they were read",
         "The loader reads each header twice: once to check it, once with the data",
         "load again once the files are complete");

  std::vector<std::int32_t> y;  // [n]
  read_limits::resize(y, n, "the labels of '" + label_path.string() + "'");
  for (std::size_t i = 0; i < n; ++i) {
    if (labels.data[i] >= classes)  // not expect: its message would be built for every label
      fail("Fashion-MNIST label " + std::to_string(labels.data[i]) + " of sample " + std::to_string(i) + " in '" +
               label_path.string() + "' is out of range",
           "The data set has 10 classes, 0..9", "the file is damaged or not a Fashion-MNIST label file");
    y[i] = labels.data[i];
  }
  std::vector<float> x;  // [n, 1, 28, 28]
  read_limits::resize(x, images.data.size(), "the images of '" + image_path.string() + "' as floats");
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(images.data[i]) / 255.0f;
  return dataset(std::move(x), std::move(y));
}

}  // namespace plait::fashion_mnist
