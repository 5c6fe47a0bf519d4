// program/predictive_coding.hpp: the parts of a predictive-coding step, generated from a training
// program, and their verification. Compiling is the test.
#include <plait/program/predictive_coding.hpp>

namespace {
using namespace plait;

constexpr instruction op(opcode o, std::uint16_t stage = 0) {
  instruction i;
  i.op = o;
  i.stage = stage;
  return i;
}
constexpr instruction message(opcode o, message_kind k, std::int16_t peer) {
  instruction i;
  i.op = o;
  i.peer = peer;
  i.buffer = std::uint16_t(k);
  return i;
}
constexpr std::size_t count(const auto& p, opcode o) {
  std::size_t n = 0;
  for (const instruction& i : p) n += i.op == o;
  return n;
}

// Two-stage GPipe with one micro-batch: stage 0 and stage 1's training programs.
constexpr std::array<program<8>, 2> training = {
    program<8>{op(opcode::scatter), op(opcode::forward, 0), message(opcode::send, message_kind::activation, 1),
               message(opcode::recv, message_kind::gradient, 1), op(opcode::backward, 0), op(opcode::optimizer_step),
               op(opcode::nop), op(opcode::nop)},
    program<8>{op(opcode::scatter), message(opcode::recv, message_kind::activation, 0), op(opcode::forward, 1),
               op(opcode::loss), op(opcode::backward, 1), message(opcode::send, message_kind::gradient, 0),
               op(opcode::optimizer_step), op(opcode::nop)}};

constexpr auto standard = pc_programs<2>(training, pc_variant::standard);
constexpr std::size_t K = pc_forward_chunks;
// start: the scatter, the forward part once per chunk of rows (microbatch = chunk + 1), then pc_start
constexpr bool streams(const auto& start, opcode a, opcode b) {
  for (std::size_t c = 0; c < K; ++c)
    if (start[1 + 2 * c].op != a || start[2 + 2 * c].op != b || start[1 + 2 * c].microbatch != c + 1 ||
        start[2 + 2 * c].microbatch != c + 1)
      return false;
  return start[0].op == opcode::scatter && start[1 + 2 * K].op == opcode::pc_start;
}
static_assert(streams(standard[0].start, opcode::forward, opcode::send));
static_assert(streams(standard[1].start, opcode::recv, opcode::forward) && count(standard[1].start, opcode::loss) == 0);
static_assert(count(standard[0].start, opcode::send) == K && count(standard[1].start, opcode::recv) == K);
// The chunks at run time: at least pc_chunk_rows rows each, at most pc_forward_chunks of them.
static_assert(pc_chunks(1) == 1 && pc_chunks(pc_chunk_rows * 2 - 1) == 1 &&
              pc_chunks(pc_chunk_rows * 2) == 2 && pc_chunks(pc_chunk_rows * K * 4) == K);
// iteration: errors, the gradient term back, update, the last value node on
static_assert(standard[0].iteration[0].op == opcode::pc_errors && standard[0].iteration[1].op == opcode::recv &&
              standard[0].iteration[2].op == opcode::pc_update && standard[0].iteration[3].op == opcode::send &&
              message_kind(standard[0].iteration[3].buffer) == message_kind::activation);
static_assert(standard[1].iteration[0].op == opcode::pc_errors && standard[1].iteration[1].op == opcode::send &&
              message_kind(standard[1].iteration[1].buffer) == message_kind::gradient &&
              standard[1].iteration[2].op == opcode::pc_update && standard[1].iteration[3].op == opcode::recv);
// finish and tail: the weights, then the training program's update
static_assert(standard[0].finish[0].op == opcode::pc_weights &&
              count(standard[0].finish, opcode::nop) == pc_part_length < 8 > -1);
static_assert(standard[1].tail[0].op == opcode::optimizer_step && count(standard[1].tail, opcode::backward) == 0);
static_assert(verify_pc_programs<2>(standard));

// fixed prediction: no value node travels forward in an iteration
constexpr auto fixed = pc_programs<2>(training, pc_variant::fixed_prediction);
static_assert(count(fixed[0].iteration, opcode::send) == 0 && count(fixed[1].iteration, opcode::recv) == 0);
static_assert(verify_pc_programs<2>(fixed));

// incremental: the update moves into the iteration, after the errors; no finish, no tail
constexpr auto incremental = pc_programs<2>(training, pc_variant::incremental);
static_assert(incremental[0].iteration[0].buffer == 1 && count(incremental[0].iteration, opcode::optimizer_step) == 1);
static_assert(count(incremental[1].finish, opcode::nop) == pc_part_length<8> &&
              count(incremental[1].tail, opcode::nop) == pc_part_length<8>);
static_assert(verify_pc_programs<2>(incremental));

// Parts are verified alone and as a step: a stage that skips its gradient receive is caught.
constexpr auto broken = [] {
  auto p = standard;
  p[0].iteration[1] = op(opcode::nop);
  return p;
}();
static_assert(verify_pc_programs<2>(broken).kind == verdict::unmatched_send);

// A data-parallel collective in the training program lands in the tail, in order.
constexpr std::array<program<6>, 2> replicated = [] {
  std::array<program<6>, 2> p{};
  for (auto& d : p)
    d = {op(opcode::scatter),
         op(opcode::forward),
         op(opcode::loss),
         op(opcode::backward),
         collective(opcode::all_reduce, collective_group::data_parallel, whole_gradient),
         op(opcode::optimizer_step)};
  return p;
}();
constexpr auto dp = pc_programs<1>(replicated, pc_variant::standard);
static_assert(dp[1].tail[0].op == opcode::all_reduce && dp[1].tail[0].buffer == whole_gradient &&
              dp[1].tail[1].op == opcode::optimizer_step);
static_assert(count(dp[0].iteration, opcode::send) == 0 && count(dp[0].iteration, opcode::recv) == 0);
static_assert(verify_pc_programs<1>(dp));
}  // namespace
