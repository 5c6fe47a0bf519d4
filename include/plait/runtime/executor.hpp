#pragma once
// device_executor<Plan, Backend>: what one logical device does with its programs. It holds what it
// uses: the device's memory (device_memory.hpp), its communicators (its tensor, pipeline and
// data-parallel groups: device_groups.hpp), its communication worker (comm_queue.hpp) and the trace
// it records into; nothing of the model that placed it.
//
// run(job, step) executes the device's program for the job through the one interpreter of
// programs (execute, program/instruction.hpp): the training program for a training job
// (train_step.hpp), the inference program for predict and evaluate (inference.hpp). Both read the
// batch from the host: device d works on its replica's share of the rows (shard_of over the job's
// replicas: the data-parallel degree in training, this process's replicas in inference), cut into
// the plan's micro-batches.
//
// Threads: run() is called on the device's worker thread (runtime/workers.hpp); collectives of the
// data-parallel group run on the communication worker, overlapped with backward; tensor-parallel
// exchanges and receives run on the compute thread (the next instruction needs their result).

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "../comm/hierarchical.hpp"
#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "../core/tensor.hpp"
#include "../io/trace.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/reduce.hpp"
#include "../policy/pc_plan.hpp"
#include "../program/instruction.hpp"
#include "comm_queue.hpp"
#include "data_parallel_collective.hpp"
#include "detail/parameter_update.hpp"
#include "detail/stage_messages.hpp"
#include "detail/tensor_exchange.hpp"
#include "device_memory.hpp"
#include "event_names.hpp"
#include "flight_recorder.hpp"
#include "local_groups.hpp"
#include "predictive_coding.hpp"

namespace plait {

template <class Plan, class Backend>
class device_executor {
 public:
  using memory_type = device_memory<typename Plan::device_graph, Backend>;
  using comm = typename local_groups<Backend>::comm;
  using data_comm = basic_hierarchical_comm<comm>;
  using layout = typename Plan::layout;
  using device_layout = typename Plan::device_layout;
  using input_shape = typename layout::input_shape;
  using output_shape = typename layout::output_shape;

  /// Where a device meets its peers (null where its programs never do).
  struct links {
    comm* tensor = nullptr;     // its tensor group: partition's exchanges
    comm* pipeline = nullptr;   // its pipeline group: activations and gradients between stages
    data_comm* data = nullptr;  // its data-parallel group: gradient collectives
  };
  /// Where it records what it does.
  struct tracing {
    trace_recorder* recorder = nullptr;
    const event_names* names = nullptr;
    flight_recorder* flight = nullptr;  // always on: the last instructions, for when the job stops
  };

  /// Device `device` of the mesh, `memory` its planned memory; `threaded`: collectives run on a
  /// communication worker of their own (else at once, on the compute thread).
  device_executor(memory_type& memory, std::size_t device, std::size_t local, links l, tracing t, bool threaded)
      : mem_(memory), device_(device), local_(local), links_(l), tracing_(t), queue_(threaded, [m = &memory] {
          m->ctx().enter();
        }) {
    if constexpr (!memory_type::host_memory) host_rows_.resize(memory.rows());
  }
  device_executor(const device_executor&) = delete;
  device_executor& operator=(const device_executor&) = delete;

  std::size_t device() const { return device_; }
  memory_type& memory() const { return mem_; }

  /// Executes this device's program for `job` (its training or inference program) in step `step`.
  template <class Job>
  void run(Job& job, std::uint64_t step) {
    handler<Job> h{*this, job, step};
    if constexpr (Job::predictive_coding) {  // start, T x iteration, finish, tail (program/predictive_coding.hpp)
      mem_.begin_step(step);
      const auto& p = pc_plan<Plan>::programs[std::size_t(job.pc->variant)][device_];
      execute(p.start, h);
      for (h.iteration = 0; h.iteration < job.pc->iterations; ++h.iteration) execute(p.iteration, h);
      execute(p.finish, h);
      execute(p.tail, h);
    } else if constexpr (Job::training) {
      mem_.begin_step(step);  // the step words, before the step's first work
      execute(Plan::programs[device_], h);
    } else {
      execute(Plan::inference_programs[device_], h);
    }
    h.release_held();  // nothing is held past a verified program's end; a failed one lets its senders go
    queue_.wait();
    h.await_all_sent();  // the next run may overwrite what was posted
  }

  /// The programs of the logical devices on device p (a chunked schedule's stages), on the calling
  /// thread in the device's order, as verified (runtime/run_together.hpp). `all[d]`: d's executor.
  template <class Job>
  static void run_together(device_executor* const* all, std::size_t p, Job& job, std::uint64_t step);

 private:
  struct no_pc {  // what a handler of a job without predictive coding holds in its place
    explicit no_pc(memory_type&) {}
  };
  // What a training step reads in place (detail/stage_messages.hpp): the kinds the plan proved it for.
  template <class Job>
  static constexpr bool reads(bool kind) {
    return kind && Job::training && !Job::predictive_coding &&
           detail::reads_in_place<comm>(memory_type::host_memory, std::ranges::max(Plan::slots));
  }

  template <class Job>
  struct handler {
    using pc_type = std::conditional_t<Job::predictive_coding, pc_device<memory_type>, no_pc>;
    device_executor& ex;
    Job& job;
    std::uint64_t step;
    memory_type& mem = ex.mem_;
    const std::size_t device = ex.device_;
    const std::size_t local = ex.local_;  // this process's index of the device
    // [B/dp] rows @ device: its replica's share of the rows the job splits over job.replicas replicas
    const shard share = shard_of(job.count, job.replicas ? job.replicas : Plan::data_parallel_degree,
                                 Plan::replica[device] - job.first_replica);
    using messages_type =
        detail::stage_messages<comm, reads<Job>(Plan::reads.activations), reads<Job>(Plan::reads.gradients)>;
    messages_type messages;     // what the device has in flight with its pipeline neighbours
    pc_type pc{mem};            // predictive coding: the device's value nodes
    std::size_t iteration = 0;  // predictive coding: the inference iteration

    handler(device_executor& e, Job& j, std::uint64_t s) : ex(e), job(j), step(s) {}

    flight_traced traced(const instruction& i, trace_row row = trace_row::compute) const {
      return flight_traced(ex.tracing_.recorder ? *ex.tracing_.recorder : disabled(), ex.tracing_.flight, device, local,
                           row, i, ex.name(i), step, [&] { return flight_bytes<Plan>(*this, i); });
    }
    std::size_t slot(const instruction& i) const { return i.microbatch % mem.slots(); }
    // Predictive coding streams its opening forward through slot 0 in chunks of the share
    // (microbatch c + 1: chunk c, program/predictive_coding.hpp), each at its own rows of the slot;
    // every other instruction's rows start at its slot's row 0.
    static constexpr bool chunk(const instruction& i) { return Job::predictive_coding && i.microbatch > 0; }
    std::size_t slot_row(const instruction& i) const { return chunk(i) ? rows(i).begin - share.begin : 0; }
    static constexpr bool opens_slot(const instruction& i) { return !chunk(i) || i.microbatch == 1; }
    shard rows(const instruction& i) const {  // the micro-batch's (or chunk's) rows of the global batch
      const std::size_t parts = chunk(i) ? pc_chunks(share.size()) : Plan::microbatch_count;
      const std::size_t k = chunk(i) ? i.microbatch - 1u : i.microbatch;
      const shard mb = k < parts ? shard_of(share.size(), parts, k) : shard{share.size(), share.size()};
      return {share.begin + mb.begin, share.begin + mb.end};
    }
    // Slot k's output was taken before the slot is overwritten (its input gradient is awaited before
    // the next B rewrites it, in backward_part; predictive coding rewrites both at once).
    void await_slot(std::size_t k) {
      if constexpr (Plan::communicates) {
        messages.await(*ex.links_.pipeline, messages_type::activation, k);
        if constexpr (Job::predictive_coding) messages.await(*ex.links_.pipeline, messages_type::gradient, k);
      }
    }
    void await_all_sent() {
      if constexpr (Plan::communicates) messages.await_all(*ex.links_.pipeline);
    }
    void release_held() {
      if constexpr (Plan::communicates) messages.release_all(*ex.links_.pipeline);
    }

    void scatter(const instruction& i) { const auto t = traced(i); }  // its rows are read where forward binds them
    void forward(const instruction& i) {
      const auto t = traced(i);
      const stage_range r = Plan::stages[i.stage];
      const shard mb = rows(i);
      const std::size_t k = slot(i);
      mem.set_step(step, mb.begin, Job::training);
      if (r.first == mem.owned().first && opens_slot(i)) {  // bind the micro-batch's (or share's) input
        await_slot(k);
        const shard in = chunk(i) ? share : mb;
        const float* at = nullptr;
        if constexpr (Plan::communicates) at = messages.input(k);  // read in place, in the sender's slot
        mem.bind_input(k, r.first == 0 ? mem.take_input(k, job.x + in.begin * input_shape::size, in.size())
                          : at         ? at
                                       : mem.recv_input(k));
      }
      if (mb.size() > 0) mem.forward(r, mb.size(), k, slot_row(i));
      if constexpr (!Job::training)
        if (r.first == mem.owned().first) mem.release_input(k);  // evaluation: the input was last read here
    }
    void loss(const instruction& i) {
      if constexpr (Job::training) {
        const auto t = traced(i);
        const shard mb = rows(i);
        using Loss = typename Job::loss_type;
        // Normalised by the global batch: summing every device's gradients gives the batch's gradient.
        Loss::template rows<output_shape>(mem.ctx(), mem.output(slot(i)), targets(job.y.slice(mb.begin, mb.size())),
                                          mem.loss_grad(), mem.loss_rows(), float(job.total ? job.total : job.count));
        // Under partition every device of a group computes the same loss: count it once.
        if (Plan::group_leader(device)) {
          if (job.loss_at)  // a captured step: summed on the device, read once the graph has run
            sum_into(mem.ctx(), mem.loss_rows(), mb.size(), job.loss_at, std::exchange(job.loss_added, true));
          else job.loss_sums[local] += sum(mem.ctx(), mem.loss_rows(), mb.size());
        }
        mem.begin_backward();
      }
    }
    void backward(const instruction& i) { backward_part(i, memory_type::backward_part::whole); }
    void backward_input(const instruction& i) { backward_part(i, memory_type::backward_part::input); }
    void backward_weight(const instruction& i) { backward_part(i, memory_type::backward_part::weight); }
    void backward_part(const instruction& i, typename memory_type::backward_part part) {
      if constexpr (Job::training) {
        const auto t = traced(i);
        const shard mb = rows(i);
        mem.set_step(step, mb.begin, true);
        const stage_range r = Plan::stages[i.stage];
        const bool input = part != memory_type::backward_part::weight, first = r.first == mem.owned().first;
        if constexpr (Plan::communicates)  // the slot's input gradient, sent before, was taken
          if (input && first) messages.await(*ex.links_.pipeline, messages_type::gradient, slot(i));
        mem.backward(r, mb.size(), slot(i),
                     i.microbatch > 0 || job.accumulating,  // accumulate_step: onto the chunks before
                     part);
        if constexpr (Plan::communicates)
          if (input) messages.release_gradient(*ex.links_.pipeline);  // the received gradient was read
        if (first && part != memory_type::backward_part::input) {
          mem.release_input(slot(i));  // the slot's input was last read here (W reads it after B)
          if constexpr (Plan::communicates) messages.release_input(*ex.links_.pipeline, slot(i));
        }
      }
    }
    void optimizer_step(const instruction& i) {
      if constexpr (Job::training) {
        ex.queue_.wait();            // every bucket's reduction is in
        if (job.local_only) return;  // accumulate_step: a chunk before the last neither syncs nor updates
        if (job.guard)
          return job.guard->measure(local);  // a guarded step: the update waits for the norm (step_guard.hpp)
        const auto t = traced(i);
        detail::update_parameters<Plan>(mem, device, *job.opt, Plan::sharded ? mem.shard_grads() : mem.grads(),
                                        job.state[local], mem.next_optimizer_step());
      }
    }
    // The micro-batch's output rows to the caller ([mb, out] @ host), and, when evaluating, its loss.
    void gather(const instruction& i) {
      if constexpr (!Job::training) {
        const auto t = traced(i);
        const shard mb = rows(i);
        if (mb.size() == 0) return;
        const float* out = mem.output(slot(i));  // [mb, out] @ the device
        copy_to_host(mem.ctx(), job.out + mb.begin * output_shape::size, out, mb.size() * output_shape::size);
        if constexpr (Job::evaluates) {
          using Loss = typename Job::loss_type;
          Loss::template rows<output_shape>(mem.ctx(), out, targets(job.y.slice(mb.begin, mb.size())),
                                            static_cast<float*>(nullptr), mem.loss_rows(), float(mb.size()));
          job.loss_sums[local] += ex.rows_total(mb.size());
        }
      }
    }

    // Predictive coding on the device's layers (runtime/predictive_coding.hpp), on its whole share
    // of the batch. What errors and update rewrite was sent in the iteration before: waited for
    // until taken.
    void predictive_coding(const instruction& i) {
      if constexpr (Job::predictive_coding) {
        const auto t = traced(i);
        const shard mb = rows(i);
        const std::size_t n = mb.size();
        mem.set_step(step, mb.begin, true);
        if (i.op == opcode::pc_errors || i.op == opcode::pc_update) await_slot(0);
        const auto y = job.y.slice(mb.begin, n);  // the last stage's are targets, the others' unread labels
        pc.template run<typename Job::loss_type>(
            i, *job.pc, n, mem.owned().last == device_layout::layer_count ? targets(y) : y,
            float(job.total ? job.total : job.count), iteration, job.energy[local]);
      }
    }

    void communicate(const instruction& i) {
      if constexpr (Plan::communicates) {
        if (i.op == opcode::recv) return receive(i);
        if (i.op == opcode::send) return send(i);
        // partition's exchanges run on the compute thread: the next instruction needs their result.
        if (i.peer == std::int16_t(collective_group::inner)) return exchange(i);
        if constexpr (Job::training)  // accumulate: sync after the last chunk; guarded: gather after the update
          if (job.local_only || (job.guard && i.op == opcode::all_gather)) return;
        ex.queue_.post({&run_collective, this, i}, true);
        if (i.op == opcode::all_gather) ex.queue_.wait();  // parameters are needed whole by the next step
      } else {
        fail(cat("instruction ", to_string(i.op), " reached a policy without communication"),
             "its programs hold no collective", "report this as a plait bug");
      }
    }

    // A receive runs on the compute thread: the next instruction needs its data (or, read in place,
    // where it is).
    void receive(const instruction& i) {
      const auto t = traced(i, trace_row::communication);
      const std::size_t n = rows(i).size(), k = slot(i);
      const std::size_t peer = std::size_t(i.peer);
      if (message_kind(i.buffer) == message_kind::activation) {
        if (opens_slot(i)) await_slot(k);  // a later chunk lands beside the earlier ones
        messages.receive_activation(*ex.links_.pipeline, k, mem.recv_input(k) + slot_row(i) * in_width(),
                                    n * in_width(), peer);  // [mb, in] from the stage before
      } else {
        float* dy = messages.receive_gradient(*ex.links_.pipeline, mem.recv_grad(), n * out_width(),
                                              peer);  // [mb, out] from the stage after
        mem.begin_backward(dy == mem.recv_grad() ? nullptr : dy);
      }
    }

    // A send is posted from the compute thread and does not wait: the peer copies the buffer when it
    // receives, or reads it in place until it releases it, and the buffer is not rewritten before
    // (detail/stage_messages.hpp). No thread hand-off, so a busy machine cannot delay a message
    // behind the scheduler.
    void send(const instruction& i) {
      const auto t = traced(i, trace_row::communication);
      const std::size_t n = rows(i).size(), k = slot(i);
      const std::size_t peer = std::size_t(i.peer);
      const bool up = peer > device % Plan::inner_count;       // peers are ranks in the inner group
      if (message_kind(i.buffer) == message_kind::activation)  // [mb, out] to the stage after
        messages.post(*ex.links_.pipeline, messages_type::activation, k, mem.output(k) + slot_row(i) * out_width(),
                      n * out_width(), peer, up);
      else  // [mb, in] to the stage before
        messages.post(*ex.links_.pipeline, messages_type::gradient, k, mem.input_grad(k), n * in_width(), peer, up);
    }

    // Tensor parallelism's exchange at a stage boundary of the device graph, on the tensor group.
    void exchange(const instruction& i) {
      const auto t = traced(i, trace_row::communication);
      detail::tensor_exchange<device_layout>(*ex.links_.tensor, mem, i, Plan::stages[i.stage], rows(i).size(), slot(i));
    }

    std::size_t in_width() const {  // floats per sample entering the device's first layer
      return mem.owned().first == 0 ? input_shape::size : device_layout::out_sizes[mem.owned().first - 1];
    }
    std::size_t out_width() const { return device_layout::out_sizes[mem.owned().last - 1]; }

    template <class Y>
    Y targets(Y y) {  // the targets as the device reads them (copied in where the host cannot read its memory)
      if constexpr (memory_type::host_memory) {
        return y;
      } else if constexpr (std::is_same_v<Y, class_labels>) {
        auto* labels = reinterpret_cast<std::int32_t*>(mem.targets());  // [n] int32 @ the device
        copy_from_host(mem.ctx(), labels, y.data, y.count);
        return {labels, y.count};
      } else {
        copy_from_host(mem.ctx(), mem.targets(), y.data, y.count * Y::shape_type::size);  // [n, out] @ the device
        return {mem.targets(), y.count};
      }
    }

    static void run_collective(void* self, const instruction& i) { static_cast<handler*>(self)->collective(i); }
    // The data-parallel collectives of one instruction, on the device's communication worker.
    void collective(const instruction& i) {
      const auto t = traced(i, trace_row::communication);
      try {
        data_parallel_collective<Plan>(*ex.links_.data, mem, device, i);
      } catch (const error& e) {  // a peer in another process failed or stopped: say where in the step
        fail_in(cat("step ", step, ", device ", device, ", ", ex.name(i)), e);
      }
    }
  };

  static trace_recorder& disabled() {
    static trace_recorder off;
    return off;
  }
  const char* name(const instruction& i) const { return tracing_.names ? (*tracing_.names)(i) : to_string(i.op); }

  // The sum of the device's first n per-sample losses, in double, in order.
  double rows_total(std::size_t n) {
    const float* rows = mem_.loss_rows();
    if constexpr (!memory_type::host_memory) {
      copy_to_host(mem_.ctx(), host_rows_.data(), rows, n);
      rows = host_rows_.data();
    }
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) total += rows[i];
    return total;
  }

  memory_type& mem_;
  std::size_t device_;  // in the mesh: what the programs and the batch's shares are indexed by
  std::size_t local_;   // in this process: what a job's per-device values are indexed by
  links links_;
  tracing tracing_;
  comm_queue queue_;
  std::vector<float> host_rows_;  // [rows] @ host: per-sample losses read back (device memory only)
};

}  // namespace plait

#include "run_together.hpp"  // device_executor::run_together
