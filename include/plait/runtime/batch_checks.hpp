#pragma once
// What a step checks of the batch it is given, and what evaluate counts. Messages are built only on
// failure: a step must not allocate.

#include <cstddef>
#include <cstdint>
#include <string>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace plait {

/// n samples with `targets` targets, for `call`, against the max_batch planned at place(...).
inline void check_batch(std::size_t n, std::size_t targets, std::size_t max_batch, const char* call) {
  if (n == 0)
    fail(std::string(call) + " is given an empty batch", "a step needs at least one sample", "skip empty batches");
  if (n > max_batch)
    fail(std::string(call) + " is given a batch of " + std::to_string(n) +
             " samples, more than max_batch = " + std::to_string(max_batch),
         "activations were planned at place(...) for max_batch samples", "raise place_options.max_batch");
  if (n != targets)
    fail(std::string(call) + " is given " + std::to_string(n) + " samples but " + std::to_string(targets) + " targets",
         "every sample needs its target", "pass views of equal count");
}

/// A view of count > 0 elements has memory behind it: x's samples and, where Y is a view, y's targets
/// (a filled view at a null pointer, e.g. an empty std::vector's data() with the count of another).
template <class X, class Y>
void check_views(const X& x, const Y& y, const char* call) {
  if (x.count > 0 && x.data == nullptr)
    fail(cat(call, " is given ", x.count, " samples at a null pointer"),
         "a view reads its count of samples from its data pointer",
         "pass the data() of the buffer that holds the samples, filled before the call");
  if constexpr (requires {
                  y.data == nullptr;
                  y.count > 0;
                })
    if (y.count > 0 && y.data == nullptr)
      fail(cat(call, " is given ", y.count, " targets at a null pointer"),
           "a view reads its count of targets from its data pointer",
           "pass the data() of the buffer that holds the targets, filled before the call");
}

/// Rows of `out` ([y.count, C] @ host) whose arg-max is the label.
template <std::size_t C>
std::size_t count_correct(const float* out, class_labels y) {
  std::size_t correct = 0;
  for (std::size_t r = 0; r < y.count; ++r) {
    const float* row = out + r * C;
    std::size_t best = 0;
    for (std::size_t c = 1; c < C; ++c) best = row[c] > row[best] ? c : best;
    correct += static_cast<std::int32_t>(best) == y.data[r];
  }
  return correct;
}

}  // namespace plait
