// graph/layout.hpp: the graph's compile-time facts (parameter offsets and alignment, sizes, FLOPs).
// Compiling this file is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;

constexpr auto net = input<1, 28, 28> >> flatten >> linear<256> >> relu >> linear<10>;
using net_t = std::remove_const_t<decltype(net)>;

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

// sizes that are not multiples of 16: each block starts on the next 16-float boundary, none overlaps
using odd = graph_layout<std::remove_const_t<decltype(input<3> >> linear<5> >> linear<7> >> linear<1>)>>;
static_assert(odd::param_sizes[0] == 3 * 5 + 5 && odd::param_sizes[1] == 5 * 7 + 7 && odd::param_sizes[2] == 7 + 1);
static_assert(odd::param_offsets[0] == 0 && odd::param_offsets[1] == 32 && odd::param_offsets[2] == 80);
static_assert(odd::param_buffer_size == 96 && odd::parameter_count == 20 + 42 + 8);
static_assert(odd::max_width == 7 && odd::out_sizes[0] == 5 && odd::out_sizes[2] == 1);
static_assert(odd::activation_floats_per_sample == 5 + 7 + 1);
static_assert(odd::flops_per_sample == (2 * 3 * 5 + 5) + (2 * 5 * 7 + 7) + (2 * 7 + 1));
static_assert(odd::state_buffer_size == 0 && odd::replica_sum_size == 0);
constexpr bool aligned_and_disjoint(const auto& sizes, const auto& offsets, std::size_t buffer) {
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (offsets[i] % param_alignment != 0) return false;
    const std::size_t end = i + 1 < sizes.size() ? offsets[i + 1] : buffer;
    if (offsets[i] + sizes[i] > end) return false;
  }
  return true;
}
static_assert(aligned_and_disjoint(odd::param_sizes, odd::param_offsets, odd::param_buffer_size));
static_assert(aligned_and_disjoint(L::param_sizes, L::param_offsets, L::param_buffer_size));
// the widest edge may be the input
static_assert(graph_layout<std::remove_const_t<decltype(input<40> >> linear<3>)>>::max_width == 40);
}  // namespace
