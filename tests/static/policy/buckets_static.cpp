// policy/buckets.hpp: gradient buckets cut in reverse layer order at `first_bytes`, then `bytes`; a
// bucket without parameters joins the one after it; the buckets tile the flat buffer. Compiling is
// the test.
#include <plait/policy/buckets.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;
using test::resize;
using test::same;

// Parameters: 4*8 = 32, 8*8 = 64 and 8*2 = 16 floats (128, 256 and 64 bytes) at offsets 0, 32, 96.
using G = std::remove_cvref_t<decltype(input<4> >> resize<8>{} >> resize<8>{} >> resize<2>{})>;
using L = graph_layout<G>;
static_assert(L::param_offsets[2] == 96 && L::param_buffer_size == 112);

// DDP's defaults: one bucket of everything.
constexpr auto whole = buckets_of<G, bucket_plan{}>;
static_assert(whole.size() == 1 && whole[0].first_layer == 0 && whole[0].last_layer == 3 && whole[0].offset == 0 &&
              whole[0].size == 112);

// A small first bucket, then buckets of 256 bytes: one layer each, the last layer first.
constexpr auto b = buckets_of<G, bucket_plan{.bytes = 256, .first_bytes = 64}>;
static_assert(b.size() == 3);
static_assert(b[0].first_layer == 2 && b[0].last_layer == 3 && b[0].offset == 96 && b[0].size == 16);
static_assert(b[1].first_layer == 1 && b[1].last_layer == 2 && b[1].offset == 32 && b[1].size == 64);
static_assert(b[2].first_layer == 0 && b[2].last_layer == 1 && b[2].offset == 0 && b[2].size == 32);

// A bucket closes once it reaches its bytes: with 384 bytes, the first two layers share one.
constexpr auto two = buckets_of<G, bucket_plan{.bytes = 384, .first_bytes = 64}>;
static_assert(two.size() == 2 && two[1].first_layer == 0 && two[1].last_layer == 2 && two[1].size == 96);

// A leading layer without parameters does not make a bucket of its own: it joins the next one.
using H = std::remove_cvref_t<decltype(input<2, 2> >> same<0>{} >> resize<8>{} >> resize<2>{})>;
constexpr auto h = buckets_of<H, bucket_plan{.bytes = 128, .first_bytes = 64}>;
static_assert(h.size() == 2 && h[0].first_layer == 2 && h[1].first_layer == 0 && h[1].last_layer == 2);
static_assert(h[1].offset == 0 && h[1].size == 32 && h[0].offset == 32 && h[0].size == 16);

// In every case the buckets tile [0, param_buffer_size), last layers first.
template <class Graph>
constexpr bool tiles(const auto& buckets) {
  std::size_t end = graph_layout<Graph>::param_buffer_size, layer = graph_layout<Graph>::layer_count;
  for (const bucket& k : buckets) {
    if (k.offset + k.size != end || k.last_layer != layer || k.first_layer >= k.last_layer) return false;
    end = k.offset;
    layer = k.first_layer;
  }
  return end == 0 && layer == 0;
}
static_assert(tiles<G>(whole) && tiles<G>(b) && tiles<G>(two) && tiles<H>(h));
static_assert(tiles<G>(buckets_of<G, bucket_plan{.bytes = 1, .first_bytes = 1}>));
}  // namespace
