// policy/stage_cuts.hpp: stages at explicit cuts, and stages balanced by FLOPs (the largest stage as
// small as it can be, each stage with a layer that does work). Compiling is the test.
#include <plait/policy/stage_cuts.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;
using test::resize;

constexpr bool is(stage_range r, std::size_t first, std::size_t last) { return r.first == first && r.last == last; }

// Explicit cuts: a cut closes the stage before it.
using C =
    std::remove_cvref_t<decltype(input<8> >> resize<8>{} >> cut >> resize<8>{} >> resize<8>{} >> cut >> resize<2>{})>;
static_assert(graph_cuts<C>::cut_count == 2 && graph_cuts<C>::working_layers == 4);
static_assert(graph_cuts<C>::is_cut[1] && graph_cuts<C>::is_cut[4] && !graph_cuts<C>::is_cut[0]);
constexpr auto three = explicit_stages<C, 3>();
static_assert(is(three[0], 0, 2) && is(three[1], 2, 5) && is(three[2], 5, 6));
// Fewer stages than cuts allow: the later cuts are ignored.
constexpr auto two = explicit_stages<C, 2>();
static_assert(is(two[0], 0, 2) && is(two[1], 2, 6));

// Balanced: FLOPs 32, 512, 512, 32 (+1 each): two stages cut in the middle.
using B = std::remove_cvref_t<decltype(input<4> >> resize<4>{} >> resize<64>{} >> resize<4>{} >> resize<4>{})>;
constexpr auto halves = balanced_stages<B, 2>();
static_assert(is(halves[0], 0, 2) && is(halves[1], 2, 4));
constexpr auto each = balanced_stages<B, 4>();
static_assert(is(each[0], 0, 1) && is(each[1], 1, 2) && is(each[2], 2, 3) && is(each[3], 3, 4));
static_assert(is(balanced_stages<B, 1>()[0], 0, 4));
// Three stages: no stage heavier than the best possible largest stage (545 + 1).
constexpr std::size_t cost(stage_range r) {
  constexpr std::array<std::size_t, 4> f{33, 513, 513, 33};
  std::size_t c = 0;
  for (std::size_t i = r.first; i < r.last; ++i) c += f[i];
  return c;
}
constexpr auto thirds = balanced_stages<B, 3>();
static_assert(cost(thirds[0]) <= 546 && cost(thirds[1]) <= 546 && cost(thirds[2]) <= 546);
static_assert(thirds[0].first == 0 && thirds[0].last == thirds[1].first && thirds[1].last == thirds[2].first &&
              thirds[2].last == 4);

// A view does no work: it never makes a stage alone.
using V = std::remove_cvref_t<decltype(input<4> >> resize<4>{} >> cut >> resize<4>{})>;
static_assert(graph_cuts<V>::working_layers == 2);
constexpr auto v = balanced_stages<V, 2>();
static_assert(is(v[0], 0, 1) && is(v[1], 1, 3));
}  // namespace
