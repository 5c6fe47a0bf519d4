#pragma once
// Loss: what train_step and evaluate take as their loss (mse, cross_entropy).
//
// A loss is a type with static members, used through a constexpr object (`cross_entropy`):
//   - `name`: for messages;
//   - `accepts<Out, Y>`: whether it can compare a model output of shape Out with targets of type Y;
//   - `check<Out, Y>()`: a compile error naming what differs where it cannot;
//   - `rows<Out>(ctx, out, targets, d_out, row_loss, norm)`: each sample's loss into row_loss and,
//     unless d_out is null, the gradient of (sum of row losses) / norm into d_out.
//   Optional: `validate(targets, classes)`, a run-time check of the targets (class labels in range).

#include <concepts>

#include "../core/shape.hpp"
#include "../core/tensor.hpp"

namespace plait {

template <class L>
concept Loss = requires {
  { L::name } -> std::convertible_to<const char*>;
  { L::template accepts<shape<2>, samples<shape<2>>> } -> std::convertible_to<bool>;
  { L::template accepts<shape<2>, class_labels> } -> std::convertible_to<bool>;
};

}  // namespace plait
