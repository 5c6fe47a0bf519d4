// graph/chain.hpp: shape inference from the input, and how graphs and sub-graphs compose. Compiling
// is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;

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
static_assert(
    std::is_same_v<std::remove_const_t<decltype(whole)>, chain<shape<8>, linear_t<32, gelu_fn>, linear_t<4>>>);
constexpr auto seam = input<8> >> linear<32> >> (relu >> linear<4>);
static_assert(std::is_same_v<std::remove_const_t<decltype(seam)>, chain<shape<8>, linear_t<32, relu_fn>, linear_t<4>>>);
// graph >> graph with equal shapes at the seam
constexpr auto joined = (input<8> >> linear<16>) >> (input<16> >> linear<2>);
static_assert(std::is_same_v<std::remove_const_t<decltype(joined)>, chain<shape<8>, linear_t<16>, linear_t<2>>>);
}  // namespace
