#pragma once
// The graph as a type. `input<784> >> linear<256> >> relu >> linear<10>` is a value of type
//   chain<shape<784>, linear_t<256, relu_fn>, linear_t<10, identity_fn>>
// (the relu was fused into the linear before it, see fusion.hpp). A chain without an input
// (`linear<10> >> relu`) is a sub-graph: it can be composed, not trained.

#include <type_traits>

#include "../core/concepts.hpp"
#include "../core/meta.hpp"
#include "../core/shape.hpp"
#include "bind.hpp"
#include "fusion.hpp"

namespace plait {

/// Marks a chain that has no input yet.
struct no_input {};

template <class In, LayerSpec... L>
struct chain {
  using input_shape = In;
  using layers = type_list<L...>;
  static constexpr bool has_input = !std::is_same_v<In, no_input>;
  static constexpr std::size_t layer_count = sizeof...(L);
};

template <class T>
struct is_chain : std::false_type {};
template <class In, class... L>
struct is_chain<chain<In, L...>> : std::true_type {};

template <class T>
concept Graph = is_chain<std::remove_cvref_t<T>>::value;

/// A graph that starts from an input and can therefore be placed and trained.
template <class T>
concept RootedGraph = Graph<T> && std::remove_cvref_t<T>::has_input;

/// `input<1, 28, 28>`: the per-sample shape of the data; the batch is a run-time number.
template <std::size_t... D>
inline constexpr chain<shape<D...>> input{};

/// The per-sample shape at the end of a rooted chain.
template <RootedGraph G>
using output_shape_t = typename bound_list<typename G::input_shape, typename G::layers>::out_shape;

namespace detail {

// Appends L, or fuses it into the last layer when fusion.hpp has a rule for the pair.
template <class In, class... Ls, class L, std::size_t... I>
constexpr auto append_to(chain<In, Ls...>, L, std::index_sequence<I...>) {
  using front = type_list<Ls...>;
  if constexpr (sizeof...(Ls) > 0) {
    using last = type_at_t<sizeof...(Ls) - 1, front>;
    if constexpr (has_fusion<last, L>) return chain<In, type_at_t<I, front>..., fused_t<last, L>>{};
    else return chain<In, Ls..., L>{};
  } else {
    return chain<In, L>{};
  }
}

template <class G, class L>
constexpr auto append_layer() {
  using next = decltype(append_to(G{}, L{}, std::make_index_sequence<(G::layer_count > 0 ? G::layer_count - 1 : 0)>{}));
  if constexpr (G::has_input) {
    // Binding the chain checks the new edge here, at the user's `>>`; a layer that cannot take
    // its input shape fails with its own plait message.
    [[maybe_unused]] output_shape_t<next>* check = nullptr;
  }
  return next{};
}

template <class G, class... L>
constexpr auto append_all(G g, type_list<L...>) {
  if constexpr (sizeof...(L) == 0) {
    return g;
  } else {
    return [&]<class H, class... T>(type_list<H, T...>) {
      return append_all(append_layer<G, H>(), type_list<T...>{});
    }(type_list<L...>{});
  }
}

}  // namespace detail

/// `graph >> layer` and `graph >> graph`.
template <Graph G, class R>
constexpr auto operator>>(G g, R) {
  if constexpr (Graph<R>) {
    if constexpr (R::has_input) {
      static_assert(G::has_input,
                    "plait: a graph with an input is composed after a graph without one. An input can "
                    "only start a graph. Fix: put the input<...> graph on the left of >>.");
      if constexpr (G::has_input) {
        static_assert(same_shape<output_shape_t<G>, typename R::input_shape>::value,
                      "plait: shape mismatch at >>: the left graph's output shape differs from the right "
                      "graph's input shape. Both sides of >> must agree on the sample shape. Fix: change "
                      "the last layer on the left or the input<...> on the right so the shapes match.");
      }
    }
    return detail::append_all(g, typename R::layers{});
  } else if constexpr (LayerSpec<R>) {
    return detail::append_layer<G, R>();
  } else {
    static_assert(dependent_false<R>,
                  "plait: the right side of >> is not a layer. Only layers (linear<N>, relu, flatten...) "
                  "and graphs compose with >>. Fix: compose a layer value, e.g. `>> linear<10>`, or wrap "
                  "your type as a layer.");
    return g;
  }
}

/// `layer >> layer`: a sub-graph without an input.
template <LayerSpec A, class R>
constexpr auto operator>>(A, R r) {
  return chain<no_input, A>{} >> r;
}

}  // namespace plait
