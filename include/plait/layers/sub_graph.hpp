#pragma once
// sub_graph<In, Chain>: a chain without an input, bound to In, run as part of a composite layer
// (the branches of concat/add). It lays out its layers' parameters, states and per-sample buffers
// in blocks of the composite's, and runs forward and backward through them:
//   params  [param_count]             its layers' parameters, in order
//   state   [state_count]             its layers' states, each block on 16 floats
//   saved   [B, saved_count]          per layer: out_j [B, out_j] (views: none), saved_j [B, saved_j];
//                                     then g0, g1 [B, width]: backward's ping-pong gradients
//   kept    [B, kept_count]           a split backward's inner output gradients, from its input part to
//                                     its weight part (layers/detail/inner_backward.hpp)

#include <algorithm>
#include <array>
#include <cstddef>

#include "../core/concepts.hpp"
#include "../core/meta.hpp"
#include "../core/shape.hpp"
#include "../graph/bind.hpp"
#include "../graph/chain.hpp"
#include "../kernels/copy.hpp"
#include "detail/inner_backward.hpp"

namespace plait {

template <Shape In, class Chain>
struct sub_graph {
  using list = bound_list<In, typename Chain::layers>;
  using out_shape = typename list::out_shape;
  static constexpr std::size_t n = Chain::layer_count;
  template <std::size_t J>
  using layer = type_at_t<J, typename list::types>;

 private:
  template <class F>
  static constexpr auto offsets(F size, std::size_t align) {
    std::array<std::size_t, n + 1> o{};
    static_for<n>([&]<std::size_t J>() { o[J + 1] = o[J] + round_up(size.template operator()<layer<J>>(), align); });
    return o;
  }

 public:
  static constexpr auto param_at = offsets([]<class B>() { return std::size_t{B::param_count}; }, 1);
  static constexpr auto state_at = offsets([]<class B>() { return state_count_of<B>; }, 16);
  static constexpr auto out_at = offsets(
      []<class B>() {
        return B::is_view ? std::size_t{0} : round_up(B::out_shape::size, 16) + round_up(B::saved_count, 16);
      },
      1);
  static constexpr std::size_t width = [] {
    std::size_t w = In::size;
    static_for<n>([&]<std::size_t J>() { w = std::max(w, layer<J>::out_shape::size); });
    return round_up(w, 16);
  }();
  static constexpr auto kept_at = offsets([]<class B>() { return detail::inner_kept_count<B>; }, 1);
  static constexpr std::size_t param_count = param_at[n];
  static constexpr std::size_t kept_count = kept_at[n];
  /// Whether its backward splits: every layer with parameters splits its own.
  static constexpr bool splits_backward = []<std::size_t... J>(std::index_sequence<J...>) {
    return detail::inner_layers_split<layer<J>...>;
  }(std::make_index_sequence<n>{});
  static constexpr std::size_t state_count = state_at[n];
  static constexpr std::size_t saved_count = out_at[n] + 2 * width;
  static constexpr std::size_t flops = [] {
    std::size_t s = 0;
    static_for<n>([&]<std::size_t J>() { s += layer<J>::flops; });
    return s;
  }();

  template <class T, class Rng>
  static void init(T* params, Rng& rng) {
    static_for<n>([&]<std::size_t J>() { layer<J>::init(params + param_at[J], rng); });
  }
  template <class T>
  static void init_state(T* state) {
    for (std::size_t i = 0; i < state_count; ++i) state[i] = T{0};
    static_for<n>([&]<std::size_t J>() {
      if constexpr (requires(T* s) { layer<J>::init_state(s); }) layer<J>::init_state(state + state_at[J]);
    });
  }

  /// Where layer J reads, writes and saves, for a batch whose blocks start at `saved`.
  template <class T>
  struct places {
    std::array<const T*, n> in{};
    std::array<T*, n> out{}, layer_saved{};
    T* g[2];
    places(const T* x, T* saved, std::size_t batch)
        : g{saved + batch * out_at[n], saved + batch * (out_at[n] + width)} {
      const T* at = x;
      static_for<n>([&]<std::size_t J>() {
        in[J] = at;
        out[J] = layer<J>::is_view ? const_cast<T*>(at) : saved + batch * out_at[J];
        layer_saved[J] = out[J] + (layer<J>::is_view ? 0 : batch * round_up(layer<J>::out_shape::size, 16));
        at = out[J];
      });
    }
  };

  /// Layer J's backward arguments within the composite's call `a`: its blocks (dparams null when a's
  /// is), dy and dx as given.
  template <std::size_t J, class T>
  static backward_args<T> inner_args(const backward_args<T>& a, const places<T>& p, T* dy, T* dx) {
    return {a.params + param_at[J],
            p.in[J],
            p.out[J],
            p.layer_saved[J],
            dy,
            dx,
            detail::offset_or_null(a.dparams, param_at[J]),
            a.batch,
            a.accumulate,
            a.state + state_at[J],
            a.seed,
            a.step,
            a.first_sample,
            a.replicas,
            a.step_at};
  }

  /// Forward of every layer on x; returns the output [B, out] (in the blocks, or x itself for views).
  /// `a` is the composite's call: its params and state already point at this sub-graph's blocks.
  template <class Ctx, class T>
  static const T* forward(const Ctx& ctx, const forward_args<T>& a, const T* x, T* saved) {
    const places<T> p(x, saved, a.batch);
    static_for<n>([&]<std::size_t J>() {
      layer<J>::forward(
          ctx, forward_args<T>{a.params + param_at[J], p.in[J], p.out[J], p.layer_saved[J], a.batch, a.training,
                               a.state + state_at[J], a.seed, a.step, a.first_sample, a.replicas, a.step_at});
    });
    return n ? p.out[n - 1] : x;
  }

  /// Backward of every layer, last first, from dy [B, out] (overwritten); the input's gradient goes
  /// to dx [B, In] when dx is not null. `a`: the composite's call, pointers at this sub-graph's blocks
  /// (its dparams and kept too, or null): in the part detail::part_of(a) names.
  template <class Ctx, class T>
  static void backward(const Ctx& ctx, const backward_args<T>& a, const T* x, T* saved, T* dy, T* dx) {
    const places<T> p(x, saved, a.batch);
    const detail::composite_part part = detail::part_of(a);
    if (part == detail::composite_part::weight) {
      static_for<n>([&]<std::size_t J>() {
        detail::inner_weight_part<layer<J>>(ctx,
                                            inner_args<J>(a, p, static_cast<T*>(nullptr), static_cast<T*>(nullptr)),
                                            a.kept + a.batch * kept_at[J]);
      });
      return;
    }
    T* cur = dy;
    static_for<n>([&]<std::size_t K>() {
      constexpr std::size_t J = n - 1 - K;
      using B = layer<J>;
      T* d;
      if constexpr (J == 0) {
        d = dx;
        if constexpr (B::is_view)
          if (dx) copy(ctx, dx, static_cast<const T*>(cur), a.batch * B::in_shape::size);
      } else {
        d = (B::is_view || B::in_place_grad) ? cur : (cur == p.g[0] ? p.g[1] : p.g[0]);
      }
      detail::inner_backward<B>(ctx, inner_args<J>(a, p, cur, d), part,
                                detail::offset_or_null(a.kept, a.batch * kept_at[J]));
      cur = d;
    });
  }
};

}  // namespace plait
