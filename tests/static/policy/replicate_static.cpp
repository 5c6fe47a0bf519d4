// replicate's generated programs and bucket plans, checked at compile time.
#include <plait/plait.hpp>

namespace {
using namespace plait;
using G = std::remove_const_t<decltype(input<1, 8, 8> >> flatten >> linear<256> >> relu >> linear<128> >> relu >>
                                       linear<10>)>;
using L = graph_layout<G>;  // layers: flatten, linear 64->256, linear 256->128, linear 128->10

// DDP's defaults: everything fits the first 1 MB bucket.
static_assert(replicate<2>::bucket_list<G>.size() == 1);
static_assert(replicate<2>::bucket_list<G>[0].first_layer == 0 && replicate<2>::bucket_list<G>[0].last_layer == 4);
static_assert(replicate<2>::bucket_list<G>[0].size == L::param_buffer_size);

// Small buckets: reverse layer order, each bucket closed once it holds `bytes` of gradients.
using small = replicate<2, buckets<bucket_plan{.bytes = 64 << 10, .first_bytes = 4 << 10}>>;
constexpr auto b = small::bucket_list<G>;
static_assert(b.size() == 3);
static_assert(b[0].first_layer == 3 && b[0].last_layer == 4);  // 128*10 + 10 floats >= 4 KB
static_assert(b[1].first_layer == 2 && b[1].last_layer == 3);  // 256*128 + 128 floats >= 64 KB
static_assert(b[2].first_layer == 0 && b[2].last_layer == 2);  // the flatten joins the first linear
static_assert(b[2].offset == 0 && b[1].offset == L::param_offsets[2] && b[0].offset == L::param_offsets[3]);
static_assert(b[0].offset + b[0].size == L::param_buffer_size && b[1].offset + b[1].size == b[0].offset);
static_assert(small::stages<G>[0].first == 0 && small::stages<G>[2].last == 4);

// The program: forward through the stages, then backward stage by stage, each followed by its
// bucket's all-reduce, then the optimizer.
constexpr auto p = small::programs<G>[1];
static_assert(p.size() == 3 + 3 * 3);
static_assert(p[0].op == opcode::scatter && p[1].op == opcode::forward && p[3].op == opcode::forward &&
              p[4].op == opcode::loss);
static_assert(p[5].op == opcode::backward && p[5].stage == 2 && p[6].op == opcode::all_reduce && p[6].buffer == 0);
static_assert(p[9].op == opcode::backward && p[9].stage == 0 && p[10].op == opcode::all_reduce && p[10].buffer == 2);
static_assert(p[11].op == opcode::optimizer_step);
static_assert(small::programs<G>[0] == small::programs<G>[1]);

// ZeRO-1: reduce-scatter instead of all-reduce, then the parameters all-gathered after the step.
using zero = replicate<4, shard_optimizer, buckets<bucket_plan{.bytes = 64 << 10, .first_bytes = 4 << 10}>>;
constexpr auto z = zero::programs<G>[3];
static_assert(z.size() == 3 + 4 * 3 && z[6].op == opcode::reduce_scatter && z[11].op == opcode::optimizer_step);
static_assert(z[12].op == opcode::all_gather && z[14].op == opcode::all_gather && z[14].buffer == 2);
static_assert(zero::sharded && !small::sharded && zero::data_parallel_degree == 4);
}  // namespace
