// The graph's compile-time facts. Compiling this file is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;

// shapes
static_assert(shape<1, 28, 28>::rank == 3 && shape<1, 28, 28>::size == 784);
static_assert(shape<10>::dims[0] == 10);

// shape inference from the input
constexpr auto net = input<1, 28, 28> >> flatten >> linear<256> >> relu >> linear<10>;
using net_t = std::remove_const_t<decltype(net)>;
static_assert(std::is_same_v<net_t, chain<shape<1, 28, 28>, flatten_t, linear_t<256, relu_fn>, linear_t<10>>>);
static_assert(std::is_same_v<output_shape_t<net_t>, shape<10>>);
static_assert(RootedGraph<net_t> && Graph<net_t>);

// sub-graphs without input compose, and fuse across the seam
constexpr auto head = linear<32> >> gelu;
static_assert(Graph<decltype(head)> && !RootedGraph<std::remove_const_t<decltype(head)>>);
constexpr auto whole = input<8> >> head >> linear<4>;
static_assert(std::is_same_v<std::remove_const_t<decltype(whole)>, chain<shape<8>, linear_t<32, gelu_fn>, linear_t<4>>>);
constexpr auto seam = input<8> >> linear<32> >> (relu >> linear<4>);
static_assert(std::is_same_v<std::remove_const_t<decltype(seam)>, chain<shape<8>, linear_t<32, relu_fn>, linear_t<4>>>);
// graph >> graph with equal shapes at the seam
constexpr auto joined = (input<8> >> linear<16>) >> (input<16> >> linear<2>);
static_assert(std::is_same_v<std::remove_const_t<decltype(joined)>, chain<shape<8>, linear_t<16>, linear_t<2>>>);

// the flat parameter layout: offsets are compile-time and 16-float aligned
using L = graph_layout<net_t>;
static_assert(L::layer_count == 3);
static_assert(L::param_sizes[0] == 0 && L::param_sizes[1] == 784 * 256 + 256 && L::param_sizes[2] == 256 * 10 + 10);
static_assert(L::param_offsets[0] == 0 && L::param_offsets[1] == 0);
static_assert(L::param_offsets[2] == round_up(784 * 256 + 256, 16));
static_assert(L::param_offsets[2] % param_alignment == 0);
static_assert(L::parameter_count == 784 * 256 + 256 + 2570);
static_assert(L::param_buffer_size == round_up(784 * 256 + 256, 16) + round_up(2570, 16));
static_assert(L::max_width == 784);
static_assert(L::activation_floats_per_sample == 256 + 10);  // flatten is a view

// FLOPs per sample: 2*In*Out per linear, plus bias and activation
static_assert(L::flops_per_sample == (2 * 784 * 256 + 256 * 2) + (2 * 256 * 10 + 10));
static_assert(L::train_flops_per_sample == 3 * L::flops_per_sample);

// gelu keeps its pre-activation for backward; relu does not
using G = graph_layout<std::remove_const_t<decltype(input<4> >> linear<8> >> gelu >> linear<2> >> relu)>>;
static_assert(G::saved_sizes[0] == 8 && G::saved_sizes[1] == 0);

// concepts at the boundaries
static_assert(LayerSpec<linear_t<3>> && LayerSpec<relu_t> && LayerSpec<flatten_t>);
static_assert(!LayerSpec<int> && !LayerSpec<shape<3>>);
static_assert(BoundLayer<linear_t<3>::bound<shape<5>>> && BoundLayer<flatten_t::bound<shape<2, 2>>>);
static_assert(Samples<samples<shape<3>>> && Target<class_labels> && !Target<int>);
}  // namespace

// ---- signatures: a hash of (policy, graph) types, the same for the same types only ----------------
namespace signature_checks {
using namespace plait;
using a = std::remove_const_t<decltype(input<4> >> linear<8> >> relu >> linear<2>)>;
using b = std::remove_const_t<decltype(input<4> >> linear<8> >> gelu >> linear<2>)>;
using a_again = std::remove_const_t<decltype(input<4> >> linear<8> >> relu >> linear<2>)>;
static_assert(signature_of<replicate<2>, a> == signature_of<replicate<2>, a_again>);
static_assert(signature_of<replicate<2>, a> != signature_of<replicate<2>, b>);
static_assert(signature_of<replicate<2>, a> != signature_of<replicate<4>, a>);
static_assert(signature_of<replicate<2>, a> != signature_of<pipeline<2>, a>);
static_assert(model<replicate<2>, a, host<sequential>>::signature == signature_of<replicate<2>, a>);
// The communicators the runtime can use.
static_assert(Communicator<local_comm>);
}  // namespace signature_checks
