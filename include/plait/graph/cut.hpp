#pragma once
// cut: an explicit stage boundary for pipeline parallelism.
//   input<784> >> linear<512> >> relu >> cut >> linear<512> >> relu >> cut >> linear<10>
// is three stages. In any other policy a cut does nothing: it is a view (no memory, no work).

#include "../core/concepts.hpp"
#include "../core/shape.hpp"
#include "view.hpp"

namespace plait {

struct cut_t {
  static constexpr bool is_layer = true;
  static constexpr bool is_cut = true;

  template <Shape In>
  struct bound : view_layer<In, In> {
    static constexpr bool is_cut = true;
  };
};

inline constexpr cut_t cut{};

template <class B>
inline constexpr bool is_cut_v = requires { B::is_cut; };

}  // namespace plait
