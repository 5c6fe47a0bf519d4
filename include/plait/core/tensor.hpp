#pragma once
// Views of a batch: what training and inference calls take. A view owns nothing.
//   samples<S>   : `count` samples of per-sample shape S, row-major, [count, S::size]
//   class_labels : `count` integer class ids in [0, classes)

#include <cstddef>
#include <cstdint>
#include <span>

#include "shape.hpp"

namespace plait {

template <Shape S, class T = float>
struct samples {
  using shape_type = S;
  using value_type = T;
  const T* data = nullptr;  // [count, S::size]
  std::size_t count = 0;

  std::span<const T> values() const { return {data, count * S::size}; }
  const T* sample(std::size_t i) const { return data + i * S::size; }
  samples slice(std::size_t at, std::size_t n) const { return {data + at * S::size, n}; }  // samples [at, at + n)
};

/// A mutable view, for outputs the caller provides.
template <Shape S, class T = float>
struct samples_out {
  using shape_type = S;
  T* data = nullptr;  // [count, S::size]
  std::size_t count = 0;
};

struct class_labels {
  const std::int32_t* data = nullptr;  // [count]
  std::size_t count = 0;
  class_labels slice(std::size_t at, std::size_t n) const { return {data + at, n}; }  // labels [at, at + n)
};

template <class T>
struct is_samples : std::false_type {};
template <Shape S, class T>
struct is_samples<samples<S, T>> : std::true_type {};

template <class T>
concept Samples = is_samples<T>::value;

template <class T>
concept Target = Samples<T> || std::is_same_v<T, class_labels>;

}  // namespace plait
