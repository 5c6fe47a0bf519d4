#pragma once
// Layer specs for the graph headers' static tests, so that they need no real layer: `resize<Out>`
// maps any input to shape<Out> with In * Out parameters; `same<K>` keeps its input's shape (K only
// tells instances apart).

#include <cstddef>
#include <plait/core/concepts.hpp>
#include <plait/core/shape.hpp>

namespace plait::test {

template <std::size_t Out>
struct resize {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = shape<Out>;
    static constexpr std::size_t param_count = In::size * Out;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = 2 * In::size * Out;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
  };
};

template <int K>
struct same {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = In::size;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = true;
  };
};

}  // namespace plait::test
