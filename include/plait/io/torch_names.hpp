#pragma once
// The names and shapes PyTorch gives a graph's tensors: those of the equivalent nn.Sequential's
// state_dict, so that a file plait saves loads into that module with load_state_dict(strict=True),
// and a module's safetensors.torch.save_file(module.state_dict()) loads into plait.
//
//   input<1, 28, 28> >> conv2d<8, 3> >> relu >> flatten >> linear<10>
//   nn.Sequential(nn.Conv2d(1, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(5408, 10))
//   -> 0.weight [8, 1, 3, 3], 0.bias [8], 3.weight [10, 5408], 3.bias [10]
//
// Module indices count PyTorch's modules: a fused linear >> relu is two (Linear, ReLU), a pipeline
// cut and on<...>'s wrapper are none. plait's layouts already are PyTorch's, so no tensor is
// transposed: linear W [out, in]; conv2d W [out, in, kh, kw]; lstm W_ih [4H, in], W_hh [4H, H], b_ih,
// b_hh with the gates i, f, g, o (nn.LSTM(batch_first=True)'s weight_ih_l0 ...); embedding [vocab, dim];
// layernorm weight and bias of the sample's shape; batchnorm2d weight, bias, running_mean,
// running_var and num_batches_tracked (I64, a scalar). Layers without a PyTorch twin (residual,
// branches, sub-graphs) are saved whole as plait.layers.<i>.params and plait.layers.<i>.state.

#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "../graph/layout.hpp"
#include "../graph/on.hpp"
#include "../layers/batchnorm2d.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/embedding.hpp"
#include "../layers/layernorm.hpp"
#include "../layers/linear.hpp"
#include "../layers/lstm.hpp"
#include "../layers/residual.hpp"

namespace plait {

/// One named tensor of a model, and where it lives in the whole model's flat layouts.
struct model_tensor {
  enum class source : unsigned char {
    param,    // floats [offset, offset + count) of the parameter layout
    state,    // floats [offset, offset + count) of the layer-state layout
    counter,  // an I64 scalar PyTorch keeps (num_batches_tracked): the model's steps when saved, ignored when loaded
  };
  std::string name;
  std::vector<std::uint64_t> shape;
  source from = source::param;
  std::size_t layer = 0;
  std::size_t offset = 0, count = 0;
};

namespace detail {
template <class S>
struct unwrapped {
  using type = S;
};
template <std::size_t D, class L>
struct unwrapped<on_t<D, L>> {
  using type = typename unwrapped<L>::type;
};

template <class S>
constexpr bool is_linear = false;
template <std::size_t O, class A>
constexpr bool is_linear<linear_t<O, A>> = true;
template <class S>
constexpr bool is_conv2d = false;
template <std::size_t O, std::size_t K, std::size_t St, std::size_t P>
constexpr bool is_conv2d<conv2d_t<O, K, St, P>> = true;
template <class S>
constexpr bool is_lstm = false;
template <std::size_t H>
constexpr bool is_lstm<lstm_t<H>> = true;
template <class S>
constexpr bool is_embedding = false;
template <std::size_t V, std::size_t D>
constexpr bool is_embedding<embedding_t<V, D>> = true;
template <class S>
constexpr bool is_layernorm = false;
template <class E>
constexpr bool is_layernorm<layernorm_t<E>> = true;
template <class S>
constexpr bool is_batchnorm = false;
template <class M, class E, batch_statistics B>
constexpr bool is_batchnorm<batchnorm2d_t<M, E, B>> = true;

/// PyTorch modules a layer spec stands for: a fused activation adds one, a cut is none.
template <class S>
constexpr std::size_t torch_modules() {
  if constexpr (requires { S::is_cut; }) return 0;
  else if constexpr (requires { typename S::activation; })
    return std::is_same_v<typename S::activation, identity_fn> ? 1 : 2;
  else if constexpr (requires { typename S::act; }) return std::is_same_v<typename S::act, identity_fn> ? 1 : 2;
  else return 1;
}

template <class B>
constexpr bool keeps_state = requires(float* s) { B::init_state(s); };
}  // namespace detail

/// Every tensor of graph G, in layer order: PyTorch's names where a layer has a twin.
template <RootedGraph G>
std::vector<model_tensor> model_tensors() {
  using L = graph_layout<G>;
  using P = model_tensor::source;
  std::vector<model_tensor> out;
  std::size_t torch_index = 0;
  static_for<L::layer_count>([&]<std::size_t I>() {
    using S = typename detail::unwrapped<type_at_t<I, typename G::layers>>::type;
    using B = typename L::template layer<I>;
    const std::string m = std::to_string(torch_index) + ".";
    const std::size_t p = L::param_offsets[I], s = L::state_offsets[I];
    const auto add = [&](std::string name, std::vector<std::uint64_t> shape, P from, std::size_t at) {
      std::size_t n = 1;
      for (auto d : shape) n *= d;
      out.push_back({std::move(name), std::move(shape), from, I, at, from == P::counter ? 1 : n});
    };
    if constexpr (detail::is_linear<S> || detail::is_conv2d<S>) {
      if constexpr (detail::is_linear<S>)
        add(m + "weight", {B::out_shape::dims[B::out_shape::rank - 1], B::in_features}, P::param, p);
      else add(m + "weight", {S::out_channels, B::C, S::kernel, S::kernel}, P::param, p);
      add(m + "bias", {B::param_count - B::weight_count}, P::param, p + B::weight_count);
    } else if constexpr (detail::is_lstm<S>) {
      add(m + "weight_ih_l0", {B::G, B::in_features}, P::param, p + B::w_ih);
      add(m + "weight_hh_l0", {B::G, B::H}, P::param, p + B::w_hh);
      add(m + "bias_ih_l0", {B::G}, P::param, p + B::b_ih);
      add(m + "bias_hh_l0", {B::G}, P::param, p + B::b_hh);
    } else if constexpr (detail::is_embedding<S>) {
      add(m + "weight", {S::vocab, S::dim}, P::param, p);
    } else if constexpr (detail::is_layernorm<S>) {
      std::vector<std::uint64_t> dims(B::in_shape::dims.begin(), B::in_shape::dims.end());
      add(m + "weight", dims, P::param, p);
      add(m + "bias", dims, P::param, p + B::features);
    } else if constexpr (detail::is_batchnorm<S>) {
      add(m + "weight", {B::channels}, P::param, p);
      add(m + "bias", {B::channels}, P::param, p + B::channels);
      add(m + "running_mean", {B::channels}, P::state, s);
      add(m + "running_var", {B::channels}, P::state, s + B::channels);
      out.push_back({m + "num_batches_tracked", {}, P::counter, I, 0, 1});
    } else {
      const std::string own = "plait.layers." + std::to_string(I) + ".";
      if constexpr (B::param_count > 0) add(own + "params", {B::param_count}, P::param, p);
      if constexpr (detail::keeps_state<B> && L::state_sizes[I] > 0)
        add(own + "state", {L::state_sizes[I]}, P::state, s);
    }
    torch_index += detail::torch_modules<S>();
  });
  return out;
}

/// A readable description of graph G: one line per layer, "<i> <kind> <in shape> -> <out shape> <params>".
template <RootedGraph G>
std::string describe_graph() {
  using L = graph_layout<G>;
  std::string d;
  static_for<L::layer_count>([&]<std::size_t I>() {
    using S = typename detail::unwrapped<type_at_t<I, typename G::layers>>::type;
    using B = typename L::template layer<I>;
    const auto dims = [](const auto& a) {
      std::string t = "[";
      for (std::size_t k = 0; k < a.size(); ++k) t.append(k ? "," : "").append(std::to_string(a[k]));
      return t.append("]");
    };
    std::string kind = detail::is_linear<S>      ? "linear"
                       : detail::is_conv2d<S>    ? "conv2d"
                       : detail::is_lstm<S>      ? "lstm"
                       : detail::is_embedding<S> ? "embedding"
                       : detail::is_layernorm<S> ? "layernorm"
                       : detail::is_batchnorm<S> ? "batchnorm2d"
                       : requires { S::is_cut; } ? "cut"
                                                 : "layer";
    d.append(std::to_string(I)).append(" ").append(kind).append(" ").append(dims(B::in_shape::dims)).append(" -> ");
    d.append(dims(B::out_shape::dims)).append(" ").append(std::to_string(std::size_t{B::param_count})).append("\n");
  });
  return d;
}

}  // namespace plait
