#pragma once
// cut: an explicit stage boundary for pipeline parallelism.
//   input<784> >> linear<512> >> relu >> cut >> linear<512> >> relu >> cut >> linear<10>
// is three stages. In any other policy a cut does nothing: it is a view (no memory, no work).

#include "../core/concepts.hpp"
#include "../core/shape.hpp"

namespace plait {

struct cut_t {
  static constexpr bool is_layer = true;
  static constexpr bool is_cut = true;

  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr bool is_cut = true;
    static constexpr std::size_t param_count = 0;
    static constexpr std::size_t saved_count = 0;
    static constexpr std::size_t flops = 0;
    static constexpr bool is_view = true;
    static constexpr bool in_place_grad = true;

    template <class T, class Rng>
    static void init(T*, Rng&) {}
    template <class Ctx, class T>
    static void forward(const Ctx&, const forward_args<T>&) {}
    template <class Ctx, class T>
    static void backward(const Ctx&, const backward_args<T>&) {}
  };
};

inline constexpr cut_t cut{};

template <class B>
inline constexpr bool is_cut_v = requires { B::is_cut; };

}  // namespace plait
