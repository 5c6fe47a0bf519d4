// plan_of<Policy, G> (policy/plan.hpp): what the runtime reads from each policy, with its defaults,
// and the inference programs derived from the training programs. Compiling is the test.
#include <plait/plait.hpp>
#include <plait/program/summary.hpp>

using namespace plait;

namespace {
constexpr auto net = input<8> >> linear<16> >> relu >> linear<16> >> relu >> linear<4>;
using G = std::remove_cvref_t<decltype(net)>;

// Defaults: a policy that states nothing of data or tensor parallelism or micro-batches has none.
using one = plan_of<single_device, G>;
static_assert(one::device_count == 1 && one::data_parallel_degree == 1 && one::tensor_parallel_degree == 1);
static_assert(one::microbatch_count == 1 && !one::uneven && !one::sharded && one::buckets.size() == 0);
static_assert(!one::communicates && !one::has_param_blocks && one::slots[0] == 1 && one::replica[0] == 0);
static_assert(one::inference_programs[0][0].op == opcode::scatter &&
              one::inference_programs[0][1].op == opcode::forward &&
              one::inference_programs[0][2].op == opcode::gather && one::inference_programs[0][3].op == opcode::nop);

// replicate<N>: every device its own replica; buckets; no collective in inference.
using rep = plan_of<replicate<3, shard_optimizer>, G>;
static_assert(rep::device_count == 3 && rep::data_parallel_degree == 3 && rep::inner_count == 1 && rep::sharded);
static_assert(rep::replica[2] == 2 && rep::buckets.size() >= 1 && rep::communicates);
static_assert(rep::shard_floats[0] + rep::shard_floats[1] + rep::shard_floats[2] == graph_layout<G>::param_buffer_size);
constexpr bool no_collectives(const auto& progs) {
  for (const auto& p : progs)
    for (const instruction& i : p)
      if (is_collective(i.op)) return false;
  return true;
}
static_assert(no_collectives(rep::inference_programs));

// A mesh of pipelines: replica d / 3, the inner group's stages; 1F1B keeps at most p - s micro-batches.
using mesh = plan_of<replicate<2, pipeline<3, microbatches<8>, one_f_one_b>>, G>;
static_assert(mesh::device_count == 6 && mesh::inner_count == 3 && mesh::microbatch_count == 8);
static_assert(mesh::replica[2] == 0 && mesh::replica[3] == 1);
static_assert(mesh::slots[0] == 3 && mesh::slots[2] == 1 && mesh::slots[3] == 3);
// Its inference program: every micro-batch's forward and activation messages, gathers on the last stages only.
constexpr std::size_t count(const auto& p, opcode op) {
  std::size_t n = 0;
  for (const instruction& i : p) n += i.op == op;
  return n;
}
static_assert(count(mesh::inference_programs[0], opcode::forward) == 8 &&
              count(mesh::inference_programs[0], opcode::send) == 8);
static_assert(count(mesh::inference_programs[0], opcode::recv) == 0 &&
              count(mesh::inference_programs[0], opcode::gather) == 0);
static_assert(count(mesh::inference_programs[2], opcode::recv) == 8 &&
              count(mesh::inference_programs[2], opcode::gather) == 8);
static_assert(count(mesh::inference_programs[5], opcode::gather) == 8 && no_collectives(mesh::inference_programs));
static_assert(mesh::bubble_fraction > 0 && mesh::peak_inflight_microbatches[0] == 3);

// partition<N>: the activation exchanges stay in inference, the gradient ones go; one device gathers.
using part = plan_of<partition<2>, G>;
static_assert(part::tensor_parallel_degree == 2 && part::has_param_blocks && part::group_leader(0) &&
              !part::group_leader(1));
// linear<16> column-then-row linear<16>: one sum forward; linear<4> alone: gathered; its input gradient
// summed backward (training only).
static_assert(count(part::programs[0], opcode::all_reduce) == 2 && count(part::programs[0], opcode::all_gather) == 1);
static_assert(count(part::inference_programs[0], opcode::all_reduce) == 1 &&
              count(part::inference_programs[0], opcode::all_gather) == 1);
static_assert(count(part::inference_programs[0], opcode::gather) == 1 &&
              count(part::inference_programs[1], opcode::gather) == 0);
static_assert(count(part::inference_programs[0], opcode::backward) == 0 &&
              count(part::inference_programs[0], opcode::loss) == 0);
static_assert(part::bubble_fraction == 0);

// uneven micro-batches are the pipeline's option, read through the plan.
static_assert(plan_of<pipeline<2, microbatches<3>, gpipe, uneven_microbatches>, G>::uneven);
static_assert(plan_of<replicate<2, pipeline<2, microbatches<3>, gpipe, uneven_microbatches>>, G>::uneven);
}  // namespace
