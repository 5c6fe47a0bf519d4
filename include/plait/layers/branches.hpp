#pragma once
// concat(a, b, ...) and add(a, b, ...): branches at the same depth of the graph, all fed the same
// input, as ONE layer (like residual, which is add(identity, f)).
//
//   concat(conv2d<8, 3, 1, 1> >> relu, conv2d<8, 1>)     [C, H, W] -> [8 + 8, H, W]  (channels)
//   concat(linear<64> >> relu, linear<32>)               [F] -> [96]
//   add(linear<64> >> relu >> linear<64>, linear<64>)    [F] -> [64]
//
// concat joins the branches' outputs along their first dimension (channels of images, features of
// vectors; the other dimensions must agree): per sample, the outputs one after the other. add sums
// outputs of one shape. Backward gives each branch its part of dy (its columns, or all of dy) and
// sums the branches' input gradients.
//
// Memory: params, state and per-sample buffers are each branch's blocks one after another (see
// sub_graph.hpp), then scratch [B, widest out] for a branch's dy and [B, In] for its dx.
//
// Under partition<N>, a concat or add of exactly N branches puts branch r on device r of the group
// (branch_part_t): each device keeps only its branch's parameters, the input is whole on every device,
// and the outputs are combined by one all-reduce (the other branches' columns are zero on a device);
// backward all-reduces the input gradients, which sums them.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "../core/concepts.hpp"
#include "../core/meta.hpp"
#include "../core/shape.hpp"
#include "../graph/tensor_split.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"
#include "residual.hpp"
#include "sub_graph.hpp"

namespace plait {

struct concat_outputs {};  // join along the first dimension
struct sum_outputs {};     // add element by element

/// Named predicates, so that a failed check prints the shapes.
template <Shape A, Shape B>
struct concat_shapes_agree {
  static constexpr bool value = [] {
    if constexpr (A::rank != B::rank || A::rank == 0) return false;
    else {
      for (std::size_t i = 1; i < A::rank; ++i)
        if (A::dims[i] != B::dims[i]) return false;
      return true;
    }
  }();
};
template <Shape A, Shape B>
struct add_shapes_agree {
  static constexpr bool value = std::is_same_v<A, B>;
};

namespace detail {
template <std::size_t First, class S>
struct with_first_dim;
template <std::size_t First, std::size_t D0, std::size_t... Rest>
struct with_first_dim<First, shape<D0, Rest...>> {
  using type = shape<First, Rest...>;
};

template <Shape In, class Combine, class... Bs>
struct branch_set {
  static constexpr std::size_t k = sizeof...(Bs);
  template <std::size_t J>
  using branch = sub_graph<In, type_at_t<J, type_list<Bs...>>>;
  using first_out = typename branch<0>::out_shape;

  static constexpr bool shapes_agree = [] {
    bool ok = true;
    static_for<k>([&]<std::size_t J>() {
      if constexpr (std::is_same_v<Combine, concat_outputs>)
        ok = ok && concat_shapes_agree<first_out, typename branch<J>::out_shape>::value;
      else ok = ok && add_shapes_agree<first_out, typename branch<J>::out_shape>::value;
    });
    return ok;
  }();
  static constexpr auto out_widths = [] {
    std::array<std::size_t, k> w{};
    static_for<k>([&]<std::size_t J>() { w[J] = branch<J>::out_shape::size; });
    return w;
  }();
  /// Where branch J's output starts in a sample of the combined output (concat), or 0 (add).
  static constexpr auto out_at = [] {
    std::array<std::size_t, k + 1> o{};
    for (std::size_t j = 0; j < k; ++j) o[j + 1] = o[j] + (std::is_same_v<Combine, concat_outputs> ? out_widths[j] : 0);
    return o;
  }();
  static constexpr std::size_t widest_out = *std::max_element(out_widths.begin(), out_widths.end());

  template <class F>
  static constexpr auto per_branch(F size, std::size_t align) {
    std::array<std::size_t, k + 1> o{};
    static_for<k>([&]<std::size_t J>() { o[J + 1] = o[J] + round_up(size.template operator()<branch<J>>(), align); });
    return o;
  }
  static constexpr auto param_at = per_branch([]<class S>() { return S::param_count; }, 1);
  static constexpr auto state_at = per_branch([]<class S>() { return S::state_count; }, 16);
  static constexpr auto saved_at = per_branch([]<class S>() { return S::saved_count; }, 16);
  static constexpr auto kept_at = per_branch([]<class S>() { return S::kept_count; }, 1);
  static constexpr bool splits_backward = []<std::size_t... J>(std::index_sequence<J...>) {
    return (branch<J>::splits_backward && ...);
  }(std::make_index_sequence<k>{});
  static constexpr std::size_t flops = [] {
    std::size_t s = 0;
    static_for<k>([&]<std::size_t J>() { s += branch<J>::flops; });
    return s + (std::is_same_v<Combine, sum_outputs> ? k * first_out::size : 0);
  }();
};
}  // namespace detail

/// Combine: concat_outputs or sum_outputs; Bs: sub-graphs without an input (chain<no_input, ...>).
template <class Combine, class... Bs>
struct branches_t {
  static_assert(sizeof...(Bs) >= 2,
                "plait: concat(...) or add(...) is given fewer than two branches. Branches run beside each other on "
                "the same input. Fix: give two or more, e.g. concat(linear<64>, linear<32>), or use the branch alone.");
  static_assert(((Bs::layer_count > 0) && ...),
                "plait: concat(...) or add(...) is given an empty branch. Each branch needs a layer; an identity "
                "branch of add is residual(f). Fix: give every branch a layer.");
  static constexpr bool is_layer = true;
  static constexpr std::size_t branch_count = sizeof...(Bs);
  using combine = Combine;

  template <Shape In>
  struct bound {
    using set = detail::branch_set<In, Combine, Bs...>;
    static_assert(!std::is_same_v<Combine, concat_outputs> || set::shapes_agree,
                  "plait: concat(...) has branches whose outputs differ beyond their first dimension. concat joins "
                  "outputs along the first dimension (channels, features); the others must be equal. Fix: make the "
                  "branches end in shapes that differ in the first dimension only (e.g. same H, W for images).");
    static_assert(!std::is_same_v<Combine, sum_outputs> || set::shapes_agree,
                  "plait: add(...) has branches of different output shapes. add sums the outputs element by element. "
                  "Fix: end every branch in the same shape.");
    static constexpr std::size_t k = set::k;
    static constexpr std::size_t out_size =
        std::is_same_v<Combine, concat_outputs> ? set::out_at[k] : set::first_out::size;
    using in_shape = In;
    using out_shape = std::conditional_t<
        std::is_same_v<Combine, concat_outputs>,
        typename detail::with_first_dim<
            (set::first_out::rank > 0 ? out_size / (set::first_out::size / set::first_out::dims[0]) : 1),
            typename set::first_out>::type,
        typename set::first_out>;
    static constexpr std::size_t param_count = set::param_at[k];
    static constexpr std::size_t state_count = set::state_at[k];
    static constexpr std::size_t scratch_at = set::saved_at[k];  // [B, widest out] dy of a branch, then [B, In] its dx
    static constexpr std::size_t saved_count = scratch_at + round_up(set::widest_out, 16) + round_up(In::size, 16);
    static constexpr std::size_t flops = set::flops;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;
    // Split backward (zero-bubble schedules): the input part keeps every branch's inner output
    // gradients for the weight part (layers/detail/inner_backward.hpp). Predictive coding keeps value
    // nodes at whole layers' outputs and does not train branches.
    static constexpr bool splits_backward = set::splits_backward;
    static constexpr std::size_t split_kept_count = set::kept_at[k];
    static constexpr bool pc_trainable = false;

    template <class T, class Rng>
    static void init(T* params, Rng& rng) {
      static_for<k>([&]<std::size_t J>() { set::template branch<J>::init(params + set::param_at[J], rng); });
    }
    template <class T>
    static void init_state(T* state) {
      for (std::size_t i = 0; i < state_count; ++i) state[i] = T{0};
      static_for<k>([&]<std::size_t J>() { set::template branch<J>::init_state(state + set::state_at[J]); });
    }

    /// Branch J's output [B, w_J] into y [B, out]: its columns (concat) or added (add; J > 0).
    template <std::size_t J, class Ctx, class T>
    static void combine_into(const Ctx& ctx, T* y, const T* o, std::size_t batch) {
      constexpr std::size_t w = set::out_widths[J];
      for_rows(ctx, batch, [=] PLAIT_HD(std::size_t b) {
        T* row = y + b * out_size;
        const T* from = o + b * w;
        if constexpr (std::is_same_v<Combine, concat_outputs>) std::memcpy(row + set::out_at[J], from, w * sizeof(T));
        else if constexpr (J == 0) std::memcpy(row, from, w * sizeof(T));
        else
          for (std::size_t i = 0; i < w; ++i) row[i] += from[i];
      });
    }
    /// Branch J's part of dy [B, out] into g [B, w_J].
    template <std::size_t J, class Ctx, class T>
    static void part_of(const Ctx& ctx, const T* dy, T* g, std::size_t batch) {
      constexpr std::size_t w = set::out_widths[J], at = set::out_at[J];
      for_rows(ctx, batch,
               [=] PLAIT_HD(std::size_t b) { std::memcpy(g + b * w, dy + b * out_size + at, w * sizeof(T)); });
    }

    template <std::size_t J, class T>
    static forward_args<T> args_of(const forward_args<T>& a) {
      forward_args<T> f = a;
      f.params = a.params + set::param_at[J];
      f.state = a.state + set::state_at[J];
      return f;
    }
    template <std::size_t J, class T>
    static backward_args<T> args_of(const backward_args<T>& a) {
      backward_args<T> b = a;
      b.params = a.params + set::param_at[J];
      b.dparams = detail::offset_or_null(a.dparams, set::param_at[J]);
      b.state = a.state + set::state_at[J];
      b.kept = detail::offset_or_null(a.kept, a.batch * set::kept_at[J]);
      return b;
    }

    /// Forward of branch J alone, its output combined into y.
    template <std::size_t J, class Ctx, class T>
    static void forward_branch(const Ctx& ctx, const forward_args<T>& a) {
      const T* o = set::template branch<J>::forward(ctx, args_of<J>(a), a.x, a.saved + a.batch * set::saved_at[J]);
      combine_into<J>(ctx, a.y, o, a.batch);
    }
    /// Backward of branch J alone: its dx goes to dx (or nowhere).
    template <std::size_t J, class Ctx, class T>
    static void backward_branch(const Ctx& ctx, const backward_args<T>& a, T* dx) {
      T* saved = const_cast<T*>(a.saved);
      T* g = saved + a.batch * scratch_at;  // [B, w_J]
      part_of<J>(ctx, a.dy, g, a.batch);
      set::template branch<J>::backward(ctx, args_of<J>(a), a.x, saved + a.batch * set::saved_at[J], g, dx);
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      static_for<k>([&]<std::size_t J>() { forward_branch<J>(ctx, a); });
    }

    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      if (detail::part_of(a) == detail::composite_part::weight) {  // each branch's, from what it kept
        static_for<k>([&]<std::size_t J>() {
          set::template branch<J>::backward(ctx, args_of<J>(a), a.x,
                                            const_cast<T*>(a.saved) + a.batch * set::saved_at[J],
                                            static_cast<T*>(nullptr), static_cast<T*>(nullptr));
        });
        return;
      }
      T* dxj = const_cast<T*>(a.saved) + a.batch * (scratch_at + round_up(set::widest_out, 16));  // [B, In]
      static_for<k>([&]<std::size_t J>() {
        if (!a.dx) return backward_branch<J>(ctx, a, static_cast<T*>(nullptr));
        if constexpr (J == 0) {
          backward_branch<J>(ctx, a, a.dx);
        } else {
          backward_branch<J>(ctx, a, dxj);
          add_to(ctx, a.dx, static_cast<const T*>(dxj), a.batch * In::size);
        }
      });
    }
  };
};

/// Branch r of a concat/add of N branches, on device r of a partition<N> group: the layout holds the
/// largest branch's blocks; forward writes this device's branch into its columns of y and zeros
/// elsewhere (concat), or its output (add), for the group's all-reduce to combine.
template <class Combine, std::size_t N, class... Bs>
struct branch_part_t {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    using whole = typename branches_t<Combine, Bs...>::template bound<In>;
    using set = typename whole::set;
    static constexpr std::size_t k = set::k;
    using in_shape = In;
    using out_shape = typename whole::out_shape;
    static constexpr auto largest(const auto& at) {
      std::size_t m = 0;
      for (std::size_t j = 0; j < k; ++j) m = std::max(m, at[j + 1] - at[j]);
      return m;
    }
    static constexpr std::size_t param_count = largest(set::param_at);
    static constexpr std::size_t state_count = largest(set::state_at);
    static constexpr std::size_t scratch_at = largest(set::saved_at);
    static constexpr std::size_t saved_count = scratch_at + round_up(set::widest_out, 16);
    static constexpr std::size_t flops = set::flops / k;
    static constexpr bool is_view = false;
    static constexpr bool in_place_grad = false;

    template <class T, class Rng>
    static void init(T*, Rng&) {}  // the whole layer's initialisation is split onto the devices
    // Which branch a device runs is known at run time only (its rank), and init_state is not told:
    // branches with state (batchnorm's running statistics) must therefore be alike, so that the
    // first branch's initial state is every branch's.
    static constexpr bool alike = (std::is_same_v<type_at_t<0, type_list<Bs...>>, Bs> && ...);
    static_assert(state_count == 0 || alike,
                  "plait: partition<N> places branches that keep state (batchnorm) on devices of their own only "
                  "when the branches are alike. A device learns which branch it runs when it starts, after its "
                  "state is initialised. Fix: make the branches the same sub-graph, or drop the state from them, "
                  "or run the branches whole (a partition size other than their count).");
    template <class T>
    static void init_state(T* state) {
      for (std::size_t i = 0; i < state_count; ++i) state[i] = T{0};
      set::template branch<0>::init_state(state);
    }

    template <class Ctx, class F>
    static void on_branch(const Ctx& ctx, F f) {
      const std::size_t r = ctx.index % N;
      static_for<k>([&]<std::size_t J>() {
        if (J == r) f.template operator()<J>();
      });
    }

    template <class Ctx, class T>
    static void forward(const Ctx& ctx, const forward_args<T>& a) {
      if constexpr (std::is_same_v<Combine, concat_outputs>) fill(ctx, a.y, a.batch * out_shape::size, T{0});
      on_branch(ctx, [&]<std::size_t J>() {
        forward_args<T> f = a;  // this device's blocks start at 0
        const T* o = set::template branch<J>::forward(ctx, f, a.x, a.saved);
        whole::template combine_into<(std::is_same_v<Combine, concat_outputs> ? J : 0)>(ctx, a.y, o, a.batch);
      });
    }
    template <class Ctx, class T>
    static void backward(const Ctx& ctx, const backward_args<T>& a) {
      on_branch(ctx, [&]<std::size_t J>() {
        T* saved = const_cast<T*>(a.saved);
        T* g = saved + a.batch * scratch_at;  // [B, w_J]
        whole::template part_of<J>(ctx, a.dy, g, a.batch);
        set::template branch<J>::backward(ctx, a, a.x, saved, g, a.dx);
      });
    }
  };
};

template <class Combine, class... Bs>
struct tensor_split<branches_t<Combine, Bs...>> {
  static constexpr bool splittable = false;  // not a column/row linear
  template <std::size_t N>
  static constexpr bool branches_fit = sizeof...(Bs) == N;
  template <std::size_t N>
  using branch = type_list<branch_part_t<Combine, N, Bs...>>;
  /// Device r's block of the whole layer's parameters: its branch's.
  template <Shape In, std::size_t N>
  static constexpr std::array<split_block, 2> branch_blocks(std::size_t r) {
    using set = typename branches_t<Combine, Bs...>::template bound<In>::set;
    const std::size_t size = set::param_at[r + 1] - set::param_at[r];
    return {{{.offset = set::param_at[r], .stride = size, .rows = size ? 1u : 0u, .cols = size, .local = 0, .part = 0},
             {}}};
  }
};

/// concat(a, b, ...): the branches' outputs joined along the first dimension.
template <class... B>
constexpr auto concat(B...) {
  return branches_t<concat_outputs, decltype(detail::as_sub_graph<B>())...>{};
}
/// add(a, b, ...): the branches' outputs summed.
template <class... B>
constexpr auto add(B...) {
  return branches_t<sum_outputs, decltype(detail::as_sub_graph<B>())...>{};
}

}  // namespace plait
