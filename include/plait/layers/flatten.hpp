#pragma once
// flatten: [C, H, W] -> [C*H*W]. The output is the input reinterpreted: no memory, no work.

#include "../core/concepts.hpp"
#include "../core/shape.hpp"
#include "../graph/view.hpp"

namespace plait {

struct flatten_t {
  static constexpr bool is_layer = true;

  template <Shape In>
  using bound = view_layer<In, shape<In::size>>;
};

inline constexpr flatten_t flatten{};

}  // namespace plait
