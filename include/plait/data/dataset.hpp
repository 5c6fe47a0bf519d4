#pragma once
// in_memory_dataset<XShape, TargetKind>: n samples held whole in host memory, and the Dataset
// concept the loader is written against.
//
//   features : [n, XShape::size] float, row-major
//   targets  : [n]                int32 class ids        when TargetKind is class_labels
//              [n, YShape::size] float                  when TargetKind is samples<YShape>

#include <algorithm>
#include <cmath>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"

namespace plait {

template <class T>
struct unsupported_target;  // incomplete on purpose: the compiler prints T

/// How a target kind is stored: the element type, the number of elements per sample, and the
/// view handed to training. The primary template refuses every kind but the two below.
template <class T>
struct target_traits {
  static_assert(sizeof(unsupported_target<T>) == 0,
                "plait: this target kind cannot be stored in a dataset. A dataset holds class ids "
                "(class_labels) or float regression targets (samples<YShape>). Fix: use class_labels "
                "or samples<YShape, float>.");
};

template <>
struct target_traits<class_labels> {
  using value_type = std::int32_t;
  static constexpr std::size_t width = 1;
  static class_labels view(const value_type* data, std::size_t count) { return {data, count}; }
};

template <Shape YShape>
struct target_traits<samples<YShape, float>> {
  using value_type = float;
  static constexpr std::size_t width = YShape::size;
  static samples<YShape> view(const value_type* data, std::size_t count) { return {data, count}; }
};

/// Dataset: n samples addressed by index, of one compile-time feature shape and one target kind.
/// Requirements:
///   D::x_shape       a Shape: the per-sample feature shape
///   D::target_kind   class_labels or samples<YShape>
///   d.size()         the number of samples
///   d.gather(idx, x, y) copies samples idx[0..k) into x ([k, x_shape::size] floats) and
///                    y ([k, width] target values), in that order; thread-safe for concurrent
///                    calls on a const dataset (the loader gathers on a background thread).
template <class D>
concept Dataset = Shape<typename D::x_shape> && Target<typename D::target_kind> &&
                  requires(const D& d, std::span<const std::size_t> idx, float* x,
                           typename target_traits<typename D::target_kind>::value_type* y) {
                    { d.size() } -> std::convertible_to<std::size_t>;
                    d.gather(idx, x, y);
                  };

/// The mean and the standard deviation of a dataset's feature values, all of them pooled
/// (in_memory_dataset::feature_stats), e.g. Fashion-MNIST's training images: 0.2860 and 0.3530.
struct feature_stats {
  float mean = 0.0f;
  float std = 1.0f;
};

template <Shape XShape, Target TargetKind>
class in_memory_dataset {
  using traits = target_traits<TargetKind>;

 public:
  using x_shape = XShape;
  using target_kind = TargetKind;
  using target_value = typename traits::value_type;
  static constexpr std::size_t x_size = XShape::size;
  static constexpr std::size_t y_size = traits::width;

  in_memory_dataset() = default;

  /// Takes ownership of features [n, x_size] and targets [n, y_size]; n is deduced from features.
  in_memory_dataset(std::vector<float> features, std::vector<target_value> targets)
      : features_(std::move(features)), targets_(std::move(targets)) {
    const std::size_t n = features_.size() / x_size;
    expect(features_.size() % x_size == 0,
           "dataset features hold " + std::to_string(features_.size()) + " floats, not a multiple of the sample size " +
               std::to_string(x_size),
           "Features are stored [n, XShape::size] and each sample must be whole",
           "pass n * XShape::size floats, or change XShape to the real sample shape");
    expect(targets_.size() == n * y_size,
           "dataset has " + std::to_string(n) + " samples but " + std::to_string(targets_.size()) +
               " target values (expected " + std::to_string(n * y_size) + ")",
           "Every sample needs exactly one target of the dataset's target kind",
           "pass one target per sample (class_labels) or n * YShape::size floats (samples<YShape>)");
    if constexpr (std::is_same_v<TargetKind, class_labels>) {
      for (std::size_t i = 0; i < n; ++i) {
        if (targets_[i] < 0)  // not expect: its message would be built for every label
          fail("dataset label of sample " + std::to_string(i) + " is " + std::to_string(targets_[i]),
               "Class ids index the outputs of a classifier, so they cannot be negative",
               "map the labels to 0 .. classes-1 before building the dataset");
        classes_ = std::max(classes_, static_cast<std::size_t>(targets_[i]) + 1);
      }
    }
  }

  std::size_t size() const { return features_.size() / x_size; }
  bool empty() const { return features_.empty(); }

  samples<XShape> x() const { return {features_.data(), size()}; }
  TargetKind y() const { return traits::view(targets_.data(), size()); }

  const std::vector<float>& features() const { return features_; }
  const std::vector<target_value>& targets() const { return targets_; }

  /// The mean and the (population) standard deviation of every feature value, pooled; summed in
  /// double. An empty dataset gives {0, 0}.
  feature_stats stats() const {
    if (features_.empty()) return {0.0f, 0.0f};
    double sum = 0, squares = 0;
    for (float v : features_) sum += double(v);
    const double mean = sum / double(features_.size());
    for (float v : features_) squares += (double(v) - mean) * (double(v) - mean);
    return {float(mean), float(std::sqrt(squares / double(features_.size())))};
  }

  /// Standardises every feature value in place, v = (v - s.mean) / s.std: pass the training set's
  /// stats() to the training and the test set alike.
  ///   const auto s = train.stats(); train.standardize(s); test.standardize(s);
  void standardize(feature_stats s) {
    if (!(std::isfinite(s.mean) && std::isfinite(s.std) && s.std > 0))
      fail("standardize is given the mean " + std::to_string(s.mean) + " and the standard deviation " +
               std::to_string(s.std),
           "every feature value is divided by the standard deviation",
           "pass a finite mean and a finite standard deviation > 0 (a constant dataset has none: leave it as it is)");
    const float scale = 1.0f / s.std;
    for (float& v : features_) v = (v - s.mean) * scale;
  }

  /// The number of classes, max label + 1 (0 for an empty dataset).
  std::size_t classes() const
    requires std::is_same_v<TargetKind, class_labels>
  {
    return classes_;
  }

  /// Copies samples indices[0..k) into x_out [k, x_size] and y_out [k, y_size]. Reads only.
  void gather(std::span<const std::size_t> indices, float* x_out, target_value* y_out) const {
    const std::size_t n = size();
    for (std::size_t j = 0; j < indices.size(); ++j) {
      const std::size_t i = indices[j];
      if (i >= n) [[unlikely]]
        fail("dataset index " + std::to_string(i) + " is out of range",
             "The dataset holds " + std::to_string(n) + " samples", "gather indices below size()");
      std::memcpy(x_out + j * x_size, features_.data() + i * x_size, x_size * sizeof(float));
      std::memcpy(y_out + j * y_size, targets_.data() + i * y_size, y_size * sizeof(target_value));
    }
  }

  /// A copy of samples [first, first + count), e.g. to split off a validation set.
  in_memory_dataset subset(std::size_t first, std::size_t count) const {
    expect(first <= size() && count <= size() - first,
           "dataset subset [" + std::to_string(first) + ", " + std::to_string(first) + " + " + std::to_string(count) +
               ") is out of range",
           "The dataset holds " + std::to_string(size()) + " samples", "keep first + count <= size()");
    const auto fx = features_.begin() + static_cast<std::ptrdiff_t>(first * x_size);
    const auto fy = targets_.begin() + static_cast<std::ptrdiff_t>(first * y_size);
    return in_memory_dataset(std::vector<float>(fx, fx + static_cast<std::ptrdiff_t>(count * x_size)),
                             std::vector<target_value>(fy, fy + static_cast<std::ptrdiff_t>(count * y_size)));
  }

 private:
  std::vector<float> features_;        // [n, x_size]
  std::vector<target_value> targets_;  // [n, y_size]
  std::size_t classes_ = 0;            // max label + 1, class_labels only
};

static_assert(Dataset<in_memory_dataset<shape<1, 28, 28>, class_labels>>);
static_assert(Dataset<in_memory_dataset<shape<3>, samples<shape<2>>>>);

}  // namespace plait
