#pragma once
// residual(f) and residual(f, projection): y = f(x) + shortcut(x), as ONE layer of the graph.
//
//   residual(conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<16, 3, 1, 1> >> batchnorm2d)
//       y = f(x) + x                  f must keep the sample shape (checked at compile time)
//   residual(conv2d<16, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<16, 3, 1, 1> >> batchnorm2d,
//            conv2d<16, 1>)           y = f(x) + p(x), a projection shortcut when f changes the shape
//
// f and the projection are sub-graphs without an input (or single layers); the projection is any
// such sub-graph, usually conv2d<Out, 1, Stride> (>> batchnorm2d) for images or linear<N> for
// vectors. `residual(f) >> relu` is fused: the activation is applied in the pass that adds the two
// branches (activations whose derivative reads their output: relu, tanh, sigmoid).
//
// The composite is a BoundLayer like any other, so policies, layouts and the runtime see one layer:
//   params  [P]  the inner layers' parameters, concatenated in order (f's, then the projection's)
//   state   [S]  the inner layers' states, each block on 16 floats (conv2d's scratch, running stats)
//   saved   [B, saved_count] cut by the batch into, each block on 16 floats per sample:
//             out_j [B, out_j] and saved_j [B, saved_j] of every inner layer j (views: none),
//             g0, g1 [B, width]   backward's ping-pong gradients of the inner edges
// Forward runs f's layers in order, then the projection's, then y = act(f(x) + p(x)).
// Backward runs f's layers last first on a copy of dy, then the projection's on dy itself, and
// dx = dx_f + dx_p (dx_p = dy for the identity). Nothing is allocated: every buffer is above.
//
// A split backward (zero-bubble schedules) runs the same passes with every inner layer's input part,
// keeping the output gradients of the inner layers with parameters in `kept`; the weight part runs
// their weight parts from there (layers/detail/inner_backward.hpp).
//
// Why every inner output is kept (f's last one too, though y could hold it): an inner layer's
// backward may read its own output (fused linear >> relu), and y is f(x) + p(x), not f(x).

#include <algorithm>
#include <array>
#include <cstddef>
#include <type_traits>

#include "../core/concepts.hpp"
#include "../core/config.hpp"
#include "../core/meta.hpp"
#include "../core/shape.hpp"
#include "../graph/bind.hpp"
#include "../graph/chain.hpp"
#include "../graph/fusion.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"
#include "activation.hpp"
#include "detail/inner_backward.hpp"

namespace plait {

/// Named predicates, so that a failed check prints both shapes:
/// `'plait::residual_keeps_shape<plait::shape<3, 8, 8>, plait::shape<16, 8, 8> >::value' evaluates to false`.
template <Shape In, Shape Out>
struct residual_keeps_shape {
  static constexpr bool value = std::is_same_v<In, Out>;
};
template <Shape FOut, Shape ProjectionOut>
struct residual_branches_agree {
  static constexpr bool value = std::is_same_v<FOut, ProjectionOut>;
};

namespace detail {

/// The bound inner layers of a residual: f's (indices [0, nf)) then the projection's.
template <class In, class F, class P>
struct residual_parts {
  using f_list = bound_list<In, typename F::layers>;
  using p_list = bound_list<In, typename P::layers>;
  using f_out = typename f_list::out_shape;
  using p_out = typename p_list::out_shape;  // In for the identity
  static constexpr std::size_t nf = F::layer_count, np = P::layer_count, n = nf + np;
  template <std::size_t J>
  using layer = typename std::conditional_t<(J < nf), type_at<J, typename f_list::types>,
                                            type_at<J - nf, typename p_list::types>>::type;

  template <class G>
  static constexpr auto per_layer(G g) {
    std::array<std::size_t, n> a{};
    static_for<n>([&]<std::size_t J>() { a[J] = g.template operator()<layer<J>>(); });
    return a;
  }
  /// Offsets of consecutive blocks of the given sizes, each rounded up to `align`; the last entry is the total.
  static constexpr auto offsets(const std::array<std::size_t, n>& sizes, std::size_t align) {
    std::array<std::size_t, n + 1> o{};
    for (std::size_t j = 0; j < n; ++j) o[j + 1] = o[j] + round_up(sizes[j], align);
    return o;
  }

  static constexpr auto param_at = offsets(per_layer([]<class B>() { return std::size_t{B::param_count}; }), 1);
  static constexpr auto state_at = offsets(per_layer([]<class B>() { return state_count_of<B>; }), 16);
  static constexpr auto is_view = per_layer([]<class B>() { return std::size_t{B::is_view}; });
  // Per sample: out_j (unless a view) then saved_j, for each inner layer.
  static constexpr auto out_at =
      offsets(per_layer([]<class B>() {
                return std::size_t{B::is_view ? 0 : round_up(B::out_shape::size, 16) + round_up(B::saved_count, 16)};
              }),
              1);
  static constexpr auto inner_saved_at = [] {
    std::array<std::size_t, n> o{};
    static_for<n>(
        [&]<std::size_t J>() { o[J] = out_at[J] + (layer<J>::is_view ? 0 : round_up(layer<J>::out_shape::size, 16)); });
    return o;
  }();
  /// The widest gradient backward passes between inner layers, or copies, or hands back.
  static constexpr std::size_t width = [] {
    std::size_t w = std::max(In::size, f_out::size);
    static_for<n>([&]<std::size_t J>() { w = std::max(w, layer<J>::out_shape::size); });
    return round_up(w, 16);
  }();
  /// Per sample, a split backward's kept inner output gradients (layers/detail/inner_backward.hpp).
  static constexpr auto kept_at = offsets(per_layer([]<class B>() { return detail::inner_kept_count<B>; }), 1);
  static constexpr bool splits = []<std::size_t... J>(std::index_sequence<J...>) {
    return detail::inner_layers_split<layer<J>...>;
  }(std::make_index_sequence<n>{});
  static constexpr std::size_t scratch_at = out_at[n];
  static constexpr std::size_t saved_count = scratch_at + 2 * width;
  static constexpr std::size_t flops = [] {
    std::size_t s = 0;
    static_for<n>([&]<std::size_t J>() { s += layer<J>::flops; });
    return s;
  }();
};

template <class G>
inline constexpr bool is_sub_graph = false;
template <class... L>
inline constexpr bool is_sub_graph<chain<no_input, L...>> = true;

/// A layer spec or a sub-graph, as a sub-graph.
template <class X>
constexpr auto as_sub_graph() {
  if constexpr (LayerSpec<X>) {
    return chain<no_input, X>{};
  } else if constexpr (is_sub_graph<X>) {
    return X{};
  } else {
    static_assert(!Graph<X>,
                  "plait: residual(...) is given a graph with an input. A residual branch takes the input of the "
                  "residual layer, it cannot start from input<...>. Fix: drop the input<...> from the branch, e.g. "
                  "residual(conv2d<16, 3, 1, 1> >> relu).");
    static_assert(Graph<X>,
                  "plait: residual(...) is given something that is neither a layer nor a sub-graph. A residual "
                  "branch is a layer (conv2d<16, 3, 1, 1>) or layers composed with >>. Fix: pass a layer value or "
                  "a `layer >> layer` expression.");
    return chain<no_input>{};
  }
}

}  // namespace detail

/// F, Projection: sub-graphs without an input (`chain<no_input, ...>`); an empty Projection is the
/// identity. Act: an activation applied after the add (identity_fn unless `>> relu` fused it).
template <class F, class Projection = chain<no_input>, class Act = identity_fn>
struct residual_t {
  static_assert(F::layer_count > 0,
                "plait: residual(f) is given an empty sub-graph f. y = f(x) + x needs at least one layer in f. Fix: "
                "give f a layer, e.g. residual(linear<N> >> relu >> linear<N>).");
  static_assert(
      Act::grad_from_output,
      "plait: residual_t's activation must have grad_from_output. Its backward reads y only. Fix: apply it as a layer of its own after the residual.");
  static constexpr bool is_layer = true;
  static constexpr bool has_projection = Projection::layer_count > 0;
  using function = F;
  using projection = Projection;
  using activation = Act;

  template <Shape In>
  struct bound {
    using parts = detail::residual_parts<In, F, Projection>;
    static_assert(has_projection || residual_keeps_shape<In, typename parts::f_out>::value,
                  "plait: residual(f) is given an f that changes the sample shape. The identity shortcut adds x "
                  "unchanged, so y = f(x) + x needs f's output shape to equal its input shape. Fix: add a "
                  "projection shortcut that maps x to f's output shape, residual(f, conv2d<Out, 1, Stride>) for "
                  "images or residual(f, linear<N>) for vectors.");
    static_assert(!has_projection || residual_branches_agree<typename parts::f_out, typename parts::p_out>::value,
                  "plait: residual(f, projection) has branches of different output shapes. y = f(x) + projection(x) "
                  "adds them element by element. Fix: make the projection end in f's output shape, e.g. "
                  "conv2d<Out, 1, Stride> with f's channels and stride.");
    static constexpr std::size_t nf = parts::nf, n = parts::n;
    template <std::size_t J>
    using layer = typename parts::template layer<J>;

    using in_shape = In;
    using out_shape = typename parts::f_out;
    static constexpr std::size_t param_count = parts::param_at[n];
    static constexpr std::size_t state_count = parts::state_at[n];
    static constexpr std::size_t saved_count = parts::saved_count;
    static constexpr std::size_t flops = parts::flops + out_shape::size * (1 + Act::flops);
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
    // Split backward (zero-bubble schedules): the input part keeps the inner output gradients of the
    // layers with parameters for the weight part (layers/detail/inner_backward.hpp). Predictive coding
    // keeps value nodes at whole layers' outputs and does not train a residual.
    static constexpr bool splits_backward = parts::splits;
    static constexpr std::size_t split_kept_count = parts::kept_at[n];
    static constexpr bool pc_trainable = false;

    template <class T, class Rng>
    static void init(T* params, Rng& rng) {
      static_for<n>([&]<std::size_t J>() { layer<J>::init(params + parts::param_at[J], rng); });
    }

    template <class T>
    static void init_state(T* state) {
      for (std::size_t i = 0; i < state_count; ++i) state[i] = T{0};
      static_for<n>([&]<std::size_t J>() {
        if constexpr (requires(T* s) { layer<J>::init_state(s); }) layer<J>::init_state(state + parts::state_at[J]);
      });
    }

    /// Where inner layer J reads its input, writes its output and keeps what it saves, for a batch.
    template <class T>
    struct places {
      std::array<const T*, n> in{};
      std::array<T*, n> out{}, saved{};
      places(const T* x, T* saved_base, std::size_t batch) {
        const T* at = x;
        static_for<n>([&]<std::size_t J>() {
          if constexpr (J == nf) at = x;  // the projection starts again from x
          in[J] = at;
          out[J] = layer<J>::is_view ? const_cast<T*>(at) : saved_base + batch * parts::out_at[J];
          saved[J] = saved_base + batch * parts::inner_saved_at[J];
          at = out[J];
        });
      }
    };

    /// Inner layer J's backward arguments within the composite's call `a`: its blocks (dparams null when
    /// a's is), dy and dx as given.
    template <std::size_t J, class T>
    static backward_args<T> inner_args(const backward_args<T>& a, const places<T>& p, T* dy, T* dx) {
      return {a.params + parts::param_at[J],
              p.in[J],
              p.out[J],
              p.saved[J],
              dy,
              dx,
              detail::offset_or_null(a.dparams, parts::param_at[J]),
              a.batch,
              a.accumulate,
              a.state + parts::state_at[J],
              a.seed,
              a.step,
              a.first_sample,
              {},
              a.step_at};
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      const places<T> p(a.x, a.saved, a.batch);
      static_for<n>([&]<std::size_t J>() {
        layer<J>::forward(ctx, forward_args<T>{a.params + parts::param_at[J],
                                               p.in[J],
                                               p.out[J],
                                               p.saved[J],
                                               a.batch,
                                               a.training,
                                               a.state + parts::state_at[J],
                                               a.seed,
                                               a.step,
                                               a.first_sample,
                                               {},
                                               a.step_at});
      });
      const T* fx = p.out[nf - 1];                        // [B, out] f(x)
      const T* px = has_projection ? p.out[n - 1] : a.x;  // [B, out] projection(x), or x
      T* y = a.y;                                         // [B, out]
      for_blocks(ctx, a.batch * out_shape::size, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
        for (std::size_t i = b; i < e; ++i) y[i] = Act::apply(fx[i] + px[i]);
      });
    }

    /// Backward of inner layers [Lo, Hi), last first, from dy; inner gradients ping-pong between
    /// g[0] and g[1]. Layer Lo writes its dx to `dx` when given, else (when `to_scratch`) to
    /// whichever of g[0], g[1] is free, else nowhere. Returns where layer Lo's dx went.
    template <std::size_t Lo, std::size_t Hi, class Ctx, class T>
    static T* backward_range(const Ctx& ctx, const backward_args<T>& a, const places<T>& p, T* dy, T* dx_out,
                             bool to_scratch, T* const (&g)[2]) {
      const detail::composite_part part = detail::part_of(a);
      T* cur = dy;
      static_for<Hi - Lo>([&]<std::size_t K>() {
        constexpr std::size_t J = Hi - 1 - K;
        using B = layer<J>;
        const auto other = [&] { return cur == g[0] ? g[1] : g[0]; };
        T* dx;
        if constexpr (J == Lo) {
          if (dx_out) {
            dx = dx_out;
            if constexpr (B::is_view) copy(ctx, dx, static_cast<const T*>(cur), a.batch * B::in_shape::size);
          } else {
            dx = !to_scratch ? nullptr : (B::is_view || B::in_place_grad) ? cur : other();
          }
        } else {
          dx = (B::is_view || B::in_place_grad) ? cur : other();
        }
        detail::inner_backward<B>(ctx, inner_args<J>(a, p, cur, dx), part,
                                  detail::offset_or_null(a.kept, a.batch * parts::kept_at[J]));
        cur = dx;
      });
      return cur;
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      constexpr std::size_t out = out_shape::size;
      const std::size_t count = a.batch * out;
      const places<T> p(a.x, const_cast<T*>(a.saved), a.batch);
      if (detail::part_of(a) == detail::composite_part::weight) {  // each inner layer's, from what it kept
        static_for<n>([&]<std::size_t J>() {
          detail::inner_weight_part<layer<J>>(ctx,
                                              inner_args<J>(a, p, static_cast<T*>(nullptr), static_cast<T*>(nullptr)),
                                              a.kept + a.batch * parts::kept_at[J]);
        });
        return;
      }
      T* const g[2] = {const_cast<T*>(a.saved) + a.batch * parts::scratch_at,
                       const_cast<T*>(a.saved) + a.batch * (parts::scratch_at + parts::width)};  // [B, width] x 2
      T* dy = a.dy;  // [B, out]: d(sum), after the activation's derivative
      // f needs dy for itself (its layers may overwrite it) unless no one reads dy after f.
      const bool keep_dy = has_projection || a.dx;
      T* df = keep_dy ? g[0] : dy;  // [B, out] f's incoming gradient
      const T* y = a.y;
      if constexpr (!std::is_same_v<Act, identity_fn>) {
        for_blocks(ctx, count, 4096, [=] PLAIT_HD(std::size_t b, std::size_t e) {
          for (std::size_t i = b; i < e; ++i) df[i] = dy[i] = chain_grad<Act>(dy[i], y[i]);
        });
      } else if (keep_dy) {
        copy(ctx, df, static_cast<const T*>(dy), count);
      }
      backward_range<0, nf>(ctx, a, p, df, a.dx, false, g);
      const T* dp = dy;  // [B, in] the shortcut's dx: dy itself for the identity
      if constexpr (has_projection)
        dp = backward_range<nf, n>(ctx, a, p, dy, static_cast<T*>(nullptr), a.dx != nullptr, g);
      if (!a.dx) return;
      add_to(ctx, a.dx, dp, a.batch * In::size);  // [B, in] dx = dx_f + dx_shortcut
    }
  };
};

/// residual(f): y = f(x) + x. f: a layer or a sub-graph without an input that keeps the sample shape.
template <class F>
constexpr auto residual(F) {
  return residual_t<decltype(detail::as_sub_graph<F>())>{};
}

/// residual(f, projection): y = f(x) + projection(x), e.g. residual(f, conv2d<16, 1>).
template <class F, class Projection>
constexpr auto residual(F, Projection) {
  return residual_t<decltype(detail::as_sub_graph<F>()), decltype(detail::as_sub_graph<Projection>())>{};
}

/// `residual(f) >> relu`: the activation runs in the pass that adds the branches.
template <class F, class P, class A>
  requires A::grad_from_output
struct fusion<residual_t<F, P, identity_fn>, activation_t<A>> {
  using type = residual_t<F, P, A>;
};

static_assert(LayerSpec<residual_t<chain<no_input, relu_t>>>);
static_assert(BoundLayer<residual_t<chain<no_input, relu_t>>::bound<shape<4>>>);

}  // namespace plait
