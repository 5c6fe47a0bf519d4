#pragma once
// Internal: tensor parallelism's exchange at a stage boundary of the device graph (partition's
// collectives over the inner group), in place in the device's memory. The executor runs it on the
// compute thread: the next instruction needs its result.

#include <cstddef>

#include "../../policy/policy.hpp"
#include "../../program/instruction.hpp"

namespace plait::detail {

/// Instruction `i` (an all_reduce or all_gather over the inner group) on `n` rows of slot `k` of
/// `mem`, whose stage is `r` in the device graph `Layout`.
template <class Layout, class Comm, class Memory>
void tensor_exchange(Comm& group, Memory& mem, const instruction& i, stage_range r, std::size_t n, std::size_t k) {
  const bool gradient = message_kind(i.buffer) == message_kind::gradient;
  const std::size_t b = gradient ? r.first : r.last;  // the device graph's layer after the exchange
  const std::size_t width = Layout::out_sizes[b - 1];
  if (gradient)  // [mb, In] partial @ every device -> the sum (to send back when b starts the device's layers)
    group.all_reduce(b == mem.owned().first ? mem.input_grad(k) : mem.current_grad(), n * width);
  else if (i.op == opcode::all_reduce)
    group.all_reduce(mem.layer_output(k, b - 1), n * width);  // [mb, Out] partial @ every device -> the sum
  else  // [mb, Out/N] @ device r -> [N, mb, Out/N] @ every device, in the gathering layer's saved buffer
    group.all_gather(mem.layer_output(k, b - 1), mem.layer_saved(k, b), n * Layout::out_sizes[b]);
}

}  // namespace plait::detail
