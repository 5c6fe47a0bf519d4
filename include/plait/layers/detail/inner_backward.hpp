#pragma once
// How a composite layer (residual, and concat/add through sub_graph) runs its inner layers' backward
// in the part it is asked for (core/concepts.hpp: splits_backward, backward_args::kept):
//   whole    dparams given, and dx or not: every inner layer's whole backward, as before;
//   input    dparams null: every inner layer's input part; an inner layer with parameters first has
//            its output gradient copied into its block of the composite's `kept` (when given), and
//            keeps its own after it (a composite inside a composite);
//   weight   dx null and `kept` given: each inner layer with parameters runs its weight part alone,
//            from the output gradient its input part kept; nothing else runs.
// The weight part without `kept` (dx null) is the whole backward without dx: it computes the inner
// gradients again from dy, as predictive coding and a layer's own tests call it.
//
// The composite keeps, per sample, for each inner layer with parameters, a block of
// inner_kept_count<B> floats; blocks are cut by the batch like `saved` (block j at kept + batch * at[j]).

#include <cstddef>

#include "../../core/concepts.hpp"
#include "../../core/meta.hpp"
#include "../../kernels/copy.hpp"

namespace plait::detail {

/// Floats per sample a composite keeps for inner layer B between its parts: B's output gradient and
/// what B keeps itself; none for a layer without parameters (its input part is its whole backward).
template <class B>
inline constexpr std::size_t inner_kept_count =
    B::param_count > 0 ? round_up(B::out_shape::size, 16) + round_up(split_kept_count_of<B>, 16) : 0;

/// Whether a composite of these inner layers splits its backward: every inner layer with parameters does.
template <class... B>
inline constexpr bool inner_layers_split = ((B::param_count == 0 || splits_backward_v<B>) && ...);

enum class composite_part { whole, input, weight };

/// The part a composite's backward is asked for (see the header comment).
template <class T>
constexpr composite_part part_of(const backward_args<T>& a) {
  if (!a.dparams) return composite_part::input;
  if (a.kept && !a.dx) return composite_part::weight;
  return composite_part::whole;
}

/// `base + offset`, or null for a null base (no arithmetic on a null pointer).
template <class T>
constexpr T* offset_or_null(T* base, std::size_t offset) {
  return base ? base + offset : nullptr;
}

/// Inner layer B's backward (arguments `b`, dparams at B's block or null) in its composite's input or
/// whole part; `kept`: B's block of the composite's kept floats, or null (nothing is kept).
template <class B, class Ctx, class T>
void inner_backward(const Ctx& ctx, backward_args<T> b, composite_part part, T* kept) {
  b.kept = nullptr;
  if constexpr (B::param_count > 0) {
    if (part == composite_part::input) {
      if (kept) {  // before the input part, which may overwrite dy
        copy(ctx, kept, static_cast<const T*>(b.dy), b.batch * B::out_shape::size);
        b.kept = kept + b.batch * round_up(B::out_shape::size, 16);
      }
      b.dparams = nullptr;
    }
  }
  B::backward(ctx, b);
}

/// Inner layer B's weight part from what its input part kept (`kept`: B's block); `b` carries B's
/// params, x, y, saved, dparams and state; dy and dx are set here.
template <class B, class Ctx, class T>
void inner_weight_part(const Ctx& ctx, backward_args<T> b, T* kept) {
  if constexpr (B::param_count > 0) {
    b.dy = kept;
    b.dx = nullptr;
    b.kept = kept + b.batch * round_up(B::out_shape::size, 16);
    B::backward(ctx, b);
  }
}

}  // namespace plait::detail
