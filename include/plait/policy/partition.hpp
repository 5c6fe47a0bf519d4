#pragma once
// partition<N>: tensor parallelism, as Megatron-LM. Each linear layer's weights are split over N
// devices; every device sees the whole batch.
//
// What it represents: from the graph's type, every layer gets a role (graph/tensor_split.hpp):
//   - consecutive linears pair up column-then-row: the first splits its outputs (each device
//     computes Out/N of them from the whole input), the second its inputs (each device multiplies
//     its slice of the activations by its slice of the weights, and the partial sums are
//     all-reduced before the bias and activation). One all-reduce forward; backward, one all-reduce
//     of the column layer's input gradient. Element-wise layers between the two (activations that
//     were not fused) run on the slices;
//   - a linear without a partner is column-split and its slices all-gathered;
//   - a concat or add of exactly N branches runs branch r on device r (layers/branches.hpp); the
//     outputs are combined by one all-reduce forward, the input gradients summed by one backward;
//   - every other layer runs whole on every device (the same work on the same data).
// A linear of sequences (shape<T, F>) runs whole. A linear that must be column-split and whose
// outputs do not divide by N is a compile error naming the layer, its outputs and N.
//
// From the roles: the graph each device runs (`device_graph<G>`: the split layers' parts, see
// layers/linear_shards.hpp), cut into stages at every collective, and the program
//   scatter, forward(0), [collective], forward(1), ..., loss, backward(K-1), [collective], ...,
//   optimizer_step
// alike on every device. Each device holds 1/N of every split weight (row biases whole).
//
// Requirements: N >= 1. A graph's parameters are initialised as on one device and then split, so
// training under partition<N> equals training on one device up to float reassociation.

#include <array>
#include <cstddef>
#include <type_traits>

#include "../core/meta.hpp"
#include "../graph/chain.hpp"
#include "../graph/layout.hpp"
#include "../graph/tensor_split.hpp"
#include "../program/instruction.hpp"
#include "policy.hpp"

namespace plait {

/// partition<N> cannot split layer `Layer` (its `Outputs` outputs do not divide by N): the
/// instantiation that fails names all three.
template <std::size_t Layer, std::size_t Outputs, std::size_t N>
struct partition_split_check {
  static_assert(Outputs % N == 0,
                "plait: partition<N> cannot split a linear layer over N devices: its outputs do not divide by N "
                "(partition_split_check<layer index, outputs, N> names them). A column split gives each device "
                "outputs/N of them. Fix: make that layer's outputs a multiple of N, or choose an N that divides them.");
  static constexpr bool ok = true;
};

namespace detail {

template <class... Lists>
struct concat_lists;
template <>
struct concat_lists<> {
  using type = type_list<>;
};
template <class... A>
struct concat_lists<type_list<A...>> {
  using type = type_list<A...>;
};
template <class... A, class... B, class... Rest>
struct concat_lists<type_list<A...>, type_list<B...>, Rest...> : concat_lists<type_list<A..., B...>, Rest...> {};

template <class In, class List>
struct chain_of;
template <class In, class... L>
struct chain_of<In, type_list<L...>> {
  using type = chain<In, L...>;
};

/// The layers one device runs for a layer of role R.
template <class S, split_role R, std::size_t N>
struct parts_of {
  using type = type_list<S>;
};
template <class S, std::size_t N>
struct parts_of<S, split_role::column, N> {
  using type = typename tensor_split<S>::template column<N>;
};
template <class S, std::size_t N>
struct parts_of<S, split_role::row, N> {
  using type = typename tensor_split<S>::template row<N>;
};
template <class S, std::size_t N>
struct parts_of<S, split_role::gathered, N> {
  using type = typename tensor_split<S>::template gathered<N>;
};
template <class S, std::size_t N>
struct parts_of<S, split_role::branch, N> {
  using type = typename tensor_split<S>::template branch<N>;
};

template <class S, std::size_t N>
constexpr bool branches_fit() {
  if constexpr (requires { tensor_split<S>::template branches_fit<N>; })
    return tensor_split<S>::template branches_fit<N>;
  else return false;
}

/// Where a pipeline around the partition starts its stages: a row split cannot start a stage (its
/// column partner would be in the stage before), so a column before a stage start is gathered.
struct no_cuts {
  static constexpr bool starts(std::size_t) { return false; }
};

constexpr std::size_t part_count(split_role r) { return r == split_role::row || r == split_role::gathered ? 2 : 1; }

template <class S>
constexpr bool runs_on_shards() {
  if constexpr (requires { tensor_split<S>::on_shards; }) return tensor_split<S>::on_shards;
  else return false;
}

template <RootedGraph G, std::size_t N, class Cuts = no_cuts>
constexpr auto split_roles() {
  using L = graph_layout<G>;
  constexpr std::size_t none = ~std::size_t{0};
  std::array<split_role, L::layer_count> roles{};
  std::size_t open = none;  // a column whose row partner may still come
  const auto close = [&] {  // the open column has no partner: its slices are gathered
    if (open != none) roles[open] = split_role::gathered;
    open = none;
  };
  static_for<L::layer_count>([&]<std::size_t I>() {
    using S = type_at_t<I, typename G::layers>;
    using In = typename L::template layer<I>::in_shape;
    roles[I] = split_role::whole;
    if constexpr (N > 1 && tensor_split<S>::splittable) {
      if (open != none && !Cuts::starts(I) && tensor_split<S>::template row_fits<In, N>) {
        roles[I] = split_role::row;
        open = none;
      } else {
        close();
        if (tensor_split<S>::template column_fits<In, N>) {
          roles[I] = split_role::column;
          open = I;
        }
      }
    } else if constexpr (N > 1 && runs_on_shards<S>()) {
      if (Cuts::starts(I)) close();  // element-wise: between a pair it runs on the column's slices
    } else {
      close();
      if constexpr (N > 1 && branches_fit<S, N>()) roles[I] = split_role::branch;
    }
  });
  close();
  return roles;
}

/// Every vector linear that is not the row of a pair is column-split, and must divide.
template <RootedGraph G, std::size_t N, class Cuts = no_cuts>
constexpr bool check_splits() {
  using L = graph_layout<G>;
  static_for<L::layer_count>([]<std::size_t I>() {
    using S = type_at_t<I, typename G::layers>;
    if constexpr (tensor_split<S>::splittable && N > 1) {
      using In = typename L::template layer<I>::in_shape;
      if constexpr (In::rank == 1 && split_roles<G, N, Cuts>()[I] != split_role::row)
        static_assert(partition_split_check<I, tensor_split<S>::outputs, N>::ok);
    }
  });
  return true;
}

template <RootedGraph G, std::size_t N, class Cuts, std::size_t... I>
auto device_graph_of(std::index_sequence<I...>) {
  constexpr auto roles = split_roles<G, N, Cuts>();
  using parts = typename concat_lists<typename parts_of<type_at_t<I, typename G::layers>, roles[I], N>::type...>::type;
  return typename chain_of<typename G::input_shape, parts>::type{};
}

/// Where a stage of the device graph starts, and what is exchanged there.
enum class boundary_kind : unsigned char {
  sum_forward,     // the partial sums of a row split, all-reduced before its bias
  gather_forward,  // the slices of a column split, all-gathered
  sum_backward,    // the input gradient of a column split, all-reduced before the layer below
};
struct boundary {
  std::size_t layer = 0;  // the device graph's layer that starts the stage
  boundary_kind kind{};
};

template <RootedGraph G, std::size_t N, class Cuts = no_cuts>
struct partition_plan {
  static constexpr auto roles = split_roles<G, N, Cuts>();
  static constexpr std::size_t layer_count = roles.size();

  /// The device graph's first layer for each layer of G.
  static constexpr auto first_part = [] {
    std::array<std::size_t, layer_count + 1> f{};
    for (std::size_t i = 0; i < layer_count; ++i) f[i + 1] = f[i] + part_count(roles[i]);
    return f;
  }();

  static constexpr std::size_t boundary_count = [] {
    std::size_t n = 0;
    for (std::size_t i = 0; i < layer_count; ++i)
      n += (roles[i] == split_role::row || roles[i] == split_role::gathered || roles[i] == split_role::branch) +
           ((roles[i] == split_role::column || roles[i] == split_role::gathered || roles[i] == split_role::branch) &&
            i > 0);
    return n;
  }();

  static constexpr auto boundaries = [] {
    std::array<boundary, boundary_count> b{};
    std::size_t n = 0;
    for (std::size_t i = 0; i < layer_count; ++i) {
      if ((roles[i] == split_role::column || roles[i] == split_role::gathered || roles[i] == split_role::branch) &&
          i > 0)
        b[n++] = {first_part[i], boundary_kind::sum_backward};
      if (roles[i] == split_role::row || roles[i] == split_role::branch)
        b[n++] = {first_part[i] + 1, boundary_kind::sum_forward};
      if (roles[i] == split_role::gathered) b[n++] = {first_part[i] + 1, boundary_kind::gather_forward};
    }
    return b;
  }();

  /// Stage s runs the device graph's layers [stages[s].first, stages[s].last).
  static constexpr auto stages = [] {
    std::array<stage_range, boundary_count + 1> s{};
    std::size_t first = 0;
    for (std::size_t k = 0; k < boundary_count; ++k) {
      s[k] = {first, boundaries[k].layer};
      first = boundaries[k].layer;
    }
    s[boundary_count] = {first, first_part[layer_count]};
    return s;
  }();
};

}  // namespace detail

/// One block of a device's parameters: `rows` x `cols` floats at `global` (row stride `stride`)
/// in the whole model's flat parameters, packed at `local` in the device graph's flat parameters.
struct param_block {
  std::size_t global = 0, stride = 0, rows = 0, cols = 0, local = 0;
};

namespace detail {
/// Every rank's parameter blocks, at most two per layer of G.
template <RootedGraph G, std::size_t N, class Cuts>
constexpr auto partition_param_blocks() {
  using L = graph_layout<G>;
  using D = graph_layout<decltype(device_graph_of<G, N, Cuts>(std::make_index_sequence<G::layer_count>{}))>;
  using plan = partition_plan<G, N, Cuts>;
  struct blocks {
    std::array<param_block, 2 * L::layer_count> b{};
    std::size_t count = 0;
  };
  std::array<blocks, N> all{};
  for (std::size_t r = 0; r < N; ++r)
    static_for<L::layer_count>([&]<std::size_t I>() {
      using S = type_at_t<I, typename G::layers>;
      using In = typename L::template layer<I>::in_shape;
      std::array<split_block, 2> parts{};
      std::size_t n = 0;
      const split_role role = plan::roles[I];
      if constexpr (branches_fit<S, N>()) {
        if (role == split_role::branch) {
          parts = tensor_split<S>::template branch_blocks<In, N>(r);
          n = 2;
        }
      }
      if constexpr (tensor_split<S>::splittable) {
        if (role == split_role::column || role == split_role::gathered) {
          parts = tensor_split<S>::template column_blocks<In, N>(r);
          n = 2;
        } else if (role == split_role::row) {
          parts = tensor_split<S>::template row_blocks<In, N>(r);
          n = 2;
        }
      }
      if (n == 0 && L::param_sizes[I] > 0) {
        parts[0] = {
            .offset = 0, .stride = L::param_sizes[I], .rows = 1, .cols = L::param_sizes[I], .local = 0, .part = 0};
        n = 1;
      }
      for (std::size_t k = 0; k < n; ++k) {
        const split_block& s = parts[k];
        all[r].b[all[r].count++] = {L::param_offsets[I] + s.offset, s.stride, s.rows, s.cols,
                                    D::param_offsets[plan::first_part[I] + s.part] + s.local};
      }
    });
  return all;
}
}  // namespace detail

template <std::size_t N>
struct partition {
  static_assert(
      N >= 1,
      "plait: partition<0> has no devices. Tensor parallelism splits weights over N >= 1 devices. Fix: use partition<N> with N >= 1.");

  static constexpr std::size_t device_count = N;
  static constexpr std::size_t tensor_parallel_degree = N;
  static constexpr const char* name = "partition";

  /// Each layer's role: whole, column, row or gathered.
  template <RootedGraph G>
  static constexpr auto roles = detail::split_roles<G, N>();

  /// The graph every device of the group runs: the split layers' parts.
  template <RootedGraph G>
  using device_graph =
      decltype(detail::device_graph_of<G, N, detail::no_cuts>(std::make_index_sequence<G::layer_count>{}));

  template <RootedGraph G>
  static constexpr auto stages = detail::partition_plan<G, N>::stages;

  /// Every device runs all of its device graph.
  template <RootedGraph G>
  static constexpr auto owned = [] {
    std::array<stage_range, N> all{};
    for (auto& r : all) r = {0, graph_layout<device_graph<G>>::layer_count};
    return all;
  }();

  /// The program, alike on every device. A collective's `buffer` says which way it goes
  /// (message_kind); its `stage` is the stage whose end it follows (activation) or whose start it
  /// leaves (gradient).
  template <RootedGraph G>
  static constexpr auto programs = [] {
    static_assert(detail::check_splits<G, N>());
    using plan = detail::partition_plan<G, N>;
    constexpr std::size_t K = plan::stages.size();
    constexpr std::size_t length = 3 + 2 * K + plan::boundary_count;
    program<length> p{};
    std::size_t at = 0;
    p[at++] = {.op = opcode::scatter};
    for (std::size_t s = 0; s < K; ++s) {
      p[at++] = {.op = opcode::forward, .stage = std::uint16_t(s)};
      if (s + 1 < K && plan::boundaries[s].kind != detail::boundary_kind::sum_backward)
        p[at++] = collective(
            plan::boundaries[s].kind == detail::boundary_kind::sum_forward ? opcode::all_reduce : opcode::all_gather,
            collective_group::inner, std::uint16_t(message_kind::activation), std::uint16_t(s));
    }
    p[at++] = {.op = opcode::loss};
    for (std::size_t s = K; s-- > 0;) {
      p[at++] = {.op = opcode::backward, .stage = std::uint16_t(s)};
      if (s > 0 && plan::boundaries[s - 1].kind == detail::boundary_kind::sum_backward)
        p[at++] = collective(opcode::all_reduce, collective_group::inner, std::uint16_t(message_kind::gradient),
                             std::uint16_t(s));
    }
    p[at++] = {.op = opcode::optimizer_step};
    std::array<program<length>, N> all{};
    for (auto& d : all) d = p;
    return all;
  }();

  /// Device r's parameter blocks (partition_param_blocks), at most two per layer.
  template <RootedGraph G>
  static constexpr auto param_blocks = detail::partition_param_blocks<G, N, detail::no_cuts>();
};

static_assert(Policy<partition<2>>);

}  // namespace plait
