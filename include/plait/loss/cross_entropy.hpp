#pragma once
// Softmax cross-entropy on integer class labels: for logits z [B, C] and labels y [B],
//   loss = (1/N) sum_r (log sum_c exp z[r,c] - z[r, y_r]),   dz[r,c] = (softmax(z[r])_c - [c == y_r]) / N
// with N the number of samples of the whole (global) batch. One pass per row computes both.

#include <cmath>
#include <string>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "../kernels/detail/softmax_exp.hpp"
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

  /// e^x, x <= 0: float through detail::softmax_exp (vectorisable), double through std::exp.
  template <class T>
  PLAIT_HD static T exp_of(T x) {
    if constexpr (std::is_same_v<T, float>) return detail::softmax_exp(x);
    else return std::exp(x);
  }

  /// Writes each row's loss to row_loss [B] and, when dz is not null, the gradient [B, C].
  /// With dz, a block of rows at a time, in flat passes (shift by the row's max, exponentiate the
  /// whole block, normalise), so the exponentials run as one vector loop on the host; each row's sum
  /// is added in class order, as one row at a time would.
  template <Shape Out, class Ctx, class T>
  static void rows(const Ctx& ctx, const T* z, class_labels y, T* dz, T* row_loss, T norm) {
    constexpr std::size_t C = Out::size;
    const std::int32_t* labels = y.data;
    const T scale = T{1} / norm;
    if (dz == nullptr) {
      for_rows(ctx, y.count, [=] PLAIT_HD(std::size_t r) {
        const T* PLAIT_RESTRICT zr = z + r * C;
        const T m = row_max<C>(zr);
        T s = 0;
        for (std::size_t c = 0; c < C; ++c) s += exp_of(zr[c] - m);
        row_loss[r] = std::log(s) + m - zr[labels[r]];
      });
      return;
    }
    constexpr std::size_t block = C >= 1024 ? 1 : 1024 / C;  // rows per task on the host
    for_blocks(ctx, y.count, block, [=] PLAIT_HD(std::size_t r0, std::size_t r1) {
      T* PLAIT_RESTRICT d = dz + r0 * C;
      const T* PLAIT_RESTRICT zb = z + r0 * C;
      T* PLAIT_RESTRICT loss = row_loss;
      for (std::size_t r = r0; r < r1; ++r) {  // each row's max, kept in its loss slot meanwhile
        const T* zr = zb + (r - r0) * C;
        const T m = row_max<C>(zr);
        loss[r] = m;
        for (std::size_t c = 0; c < C; ++c) d[(r - r0) * C + c] = zr[c] - m;
      }
      const std::size_t n = (r1 - r0) * C;
      for (std::size_t i = 0; i < n; ++i) d[i] = exp_of(d[i]);
      for (std::size_t r = r0; r < r1; ++r) {
        T* dr = d + (r - r0) * C;
        const T* zr = zb + (r - r0) * C;
        T s = 0;
        for (std::size_t c = 0; c < C; ++c) s += dr[c];
        const T inv = scale / s;
        for (std::size_t c = 0; c < C; ++c) dr[c] *= inv;
        dr[labels[r]] -= scale;
        loss[r] = std::log(s) + loss[r] - zr[labels[r]];
      }
    });
  }

 private:
  template <std::size_t C, class T>
  PLAIT_HD static T row_max(const T* zr) {
    T m = zr[0];
    for (std::size_t c = 1; c < C; ++c) m = zr[c] > m ? zr[c] : m;
    return m;
  }
};

inline constexpr cross_entropy_loss cross_entropy{};

static_assert(Loss<cross_entropy_loss>);

}  // namespace plait
