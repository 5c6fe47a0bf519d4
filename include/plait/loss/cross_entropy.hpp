#pragma once
// Softmax cross-entropy on integer class labels: for logits z [B, C] and labels y [B],
//   loss = (1/N) sum_r (log sum_c exp z[r,c] - z[r, y_r]),   dz[r,c] = (softmax(z[r])_c - [c == y_r]) / N
// with N the number of samples of the whole (global) batch. One pass per row computes both.

#include <cmath>
#include <string>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "../kernels/elementwise.hpp"
#include "loss.hpp"

namespace plait {

struct cross_entropy_loss {
  static constexpr const char* name = "cross_entropy";
  using target_type = class_labels;

  template <Shape Out, class Y>
  static constexpr bool accepts = std::is_same_v<Y, class_labels> && Out::rank == 1 && Out::size >= 2;

  template <Shape Out, class Y>
  static constexpr void check() {
    static_assert(std::is_same_v<Y, class_labels>,
                  "plait: cross_entropy is given targets that are not class labels. Softmax cross-entropy "
                  "compares logits with integer class ids. Fix: pass class_labels, or use mse for float targets.");
    static_assert(has_rank<Out, 1>::value && Out::size >= 2,
                  "plait: cross_entropy needs a model output of shape<C> with C >= 2 classes. The loss reads "
                  "one logit per class. Fix: end the graph with linear<C>, C the number of classes.");
  }

  /// Throws before any work when a label is outside [0, C): a bad label never indexes memory.
  static void validate(class_labels y, std::size_t classes) {
    for (std::size_t r = 0; r < y.count; ++r)
      if (y.data[r] < 0 || static_cast<std::size_t>(y.data[r]) >= classes)
        fail("label " + std::to_string(y.data[r]) + " of sample " + std::to_string(r) + " is outside [0, " +
                 std::to_string(classes) + ")",
             "cross_entropy needs one class id per sample below the number of logits",
             "check the labels, or widen the last linear<C>");
  }

  /// Writes each row's loss to row_loss [B] and, when dz is not null, the gradient [B, C].
  template <Shape Out, class Ctx, class T>
  static void rows(const Ctx& ctx, const T* z, class_labels y, T* dz, T* row_loss, T norm) {
    constexpr std::size_t C = Out::size;
    const std::int32_t* labels = y.data;
    const T scale = T{1} / norm;
    for_rows(ctx, y.count, [=] PLAIT_HD(std::size_t r) {
      const T* PLAIT_RESTRICT zr = z + r * C;
      T m = zr[0];
      for (std::size_t c = 1; c < C; ++c) m = zr[c] > m ? zr[c] : m;
      T s = 0;
      if (dz) {
        T* PLAIT_RESTRICT d = dz + r * C;
        for (std::size_t c = 0; c < C; ++c) s += (d[c] = std::exp(zr[c] - m));
        const T inv = scale / s;
        for (std::size_t c = 0; c < C; ++c) d[c] *= inv;
        d[labels[r]] -= scale;
      } else {
        for (std::size_t c = 0; c < C; ++c) s += std::exp(zr[c] - m);
      }
      row_loss[r] = std::log(s) + m - zr[labels[r]];
    });
  }
};

inline constexpr cross_entropy_loss cross_entropy{};

static_assert(Loss<cross_entropy_loss>);

}  // namespace plait
