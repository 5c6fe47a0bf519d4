#pragma once
// The training step of model (model.hpp): how each instruction of a
// device's program is carried out on that device.

#include <utility>

#include "model.hpp"

namespace plait {

/// One step of every device: the instructions of its program, with this step's types.
template <class Policy, RootedGraph G, class Backend>
template <class Y, class Loss, class Opt>
struct model<Policy, G, Backend>::step_job {
  model& m;
  const float* x;
  Y y;
  Opt& opt;
  std::size_t count;
  std::array<float*, device_count> state{};
  std::array<double, device_count> loss_sums{};
  double* loss_at = nullptr;  // [1] @ device 0: where a captured step sums its loss (graph_step.hpp)
  bool loss_added = false;

  static void run(void* self, std::size_t l) {  // this process's device l: the mesh's device first_ + l
    auto& job = *static_cast<step_job*>(self);
    handler h{job, job.m.replicas_[l], job.m.first_ + l};
    h.rep.begin_step(job.m.steps_);  // the step words, before the step's first work
    execute(Policy::template programs<G>[h.device], h);
    h.queue(0).wait();
    h.queue(1).wait();
    h.await_all_sent();  // the next step may overwrite what was posted
  }

  /// A posted message: the peer it went to and its ticket (taken once the peer copied it).
  struct posted {
    std::size_t peer = 0;
    std::uint64_t ticket = 0;
  };

  struct handler {
    step_job& job;
    replica_type& rep;
    std::size_t device;  // in the mesh: what the programs and the batch's shares are indexed by
    std::size_t local;   // in this process: what its replicas, communicators and queues are indexed by
    shard share{};  // this device's rows of the global batch
    std::array<std::array<posted, 64>, 2> slot_sent{};  // last message posted from each slot, [activation|gradient]
    std::array<posted, 2> last_sent{};                  // last message posted up / down

    handler(step_job& j, replica_type& r, std::size_t d) : job(j), rep(r), device(d), local(d - j.m.first_) {
      std::size_t replica = 0;
      if constexpr (requires { Policy::template replica_of<G>(d); }) replica = Policy::template replica_of<G>(d);
      else if constexpr (data_parallel_degree > 1) replica = d;
      share = shard_of(job.count, data_parallel_degree, replica);  // [B/dp] rows @ this device
    }

    comm_queue& queue(std::size_t q) { return *job.m.queues_[local * 2 + q]; }
    std::size_t slot(const instruction& i) const { return i.microbatch % rep.slots(); }
    shard rows(const instruction& i) const {  // the micro-batch's rows of the global batch
      const shard mb = shard_of(share.size(), microbatch_count, i.microbatch);
      return {share.begin + mb.begin, share.begin + mb.end};
    }
    void await_slot(std::size_t k) {  // the slot's earlier messages were taken before it is overwritten
      if constexpr (communicates) {
        if (k >= 64) return await_all_sent();
        for (auto& kind : slot_sent)
          if (kind[k].ticket) job.m.groups_.pipeline[local].wait_taken(kind[k].peer, std::exchange(kind[k].ticket, 0));
      }
    }
    void await_all_sent() {
      if constexpr (communicates)
        for (auto& p : last_sent)
          if (p.ticket) job.m.groups_.pipeline[local].wait_taken(p.peer, std::exchange(p.ticket, 0));
    }

    void scatter(const instruction& i) {  // host devices read their rows in place: nothing to copy
      auto t = job.m.begin_event();
      job.m.end_event(t, device, i);
    }
    void forward(const instruction& i) {
      auto t = job.m.begin_event();
      const stage_range r = Policy::template stages<G>[i.stage];
      const shard mb = rows(i);
      const std::size_t k = slot(i);
      rep.set_step(job.m.steps_, mb.begin, true);
      if (r.first == rep.owned().first) {  // the device's first layers: bind this micro-batch's input
        await_slot(k);
        rep.bind_input(k, r.first == 0 ? rep.take_input(k, job.x + mb.begin * input_shape::size, mb.size())
                                        : rep.recv_input(k));
      }
      rep.forward(r, mb.size(), k);
      job.m.end_event(t, device, i);
    }
    void loss(const instruction& i) {
      auto t = job.m.begin_event();
      const shard mb = rows(i);
      // Normalised by the global batch: summing every device's gradients gives the batch's gradient.
      Loss::template rows<output_shape>(rep.ctx(), rep.output(slot(i)), job.m.io_.targets(rep, job.y.slice(mb.begin, mb.size())),
                                        rep.loss_grad(), rep.loss_rows(), float(job.count));
      // Under partition every device of a group computes the same loss: count it once.
      if (device % tensor_parallel_degree == 0) {
        if (job.loss_at)  // a captured step: summed on the device, read once the graph has run
          sum_into(rep.ctx(), rep.loss_rows(), mb.size(), job.loss_at, std::exchange(job.loss_added, true));
        else
          job.loss_sums[local] += sum(rep.ctx(), rep.loss_rows(), mb.size());
      }
      rep.begin_backward();
      job.m.end_event(t, device, i);
    }
    void backward(const instruction& i) {
      auto t = job.m.begin_event();
      const shard mb = rows(i);
      rep.set_step(job.m.steps_, mb.begin, true);
      const stage_range r = Policy::template stages<G>[i.stage];
      rep.backward(r, mb.size(), slot(i), i.microbatch > 0);
      if (r.first == rep.owned().first) rep.release_input(slot(i));  // the slot's input was last read here
      job.m.end_event(t, device, i);
    }
    void optimizer_step(const instruction& i) {
      queue(0).wait();  // every bucket's reduction is in
      queue(1).wait();
      auto t = job.m.begin_event();
      const step_count step = rep.next_optimizer_step();
      if constexpr (requires { Policy::sharded; }) {
        if constexpr (Policy::sharded) {
          std::size_t at = 0;  // this device's chunks of every bucket, one after another
          for (const bucket& b : Policy::template bucket_list<G>) {
            const shard c = shard_of(b.size, device_count, device);
            job.opt.step(rep.ctx(), rep.params() + b.offset + c.begin, rep.shard_grads() + at,
                         job.state[local] + at * job.opt.state_per_param(), c.size(), step);
            at += c.size();
          }
          job.m.end_event(t, device, i);
          return;
        }
      }
      job.opt.step(rep.ctx(), rep.params(), rep.grads(), job.state[local], rep.param_size(), step);
      job.m.end_event(t, device, i);
    }

    void communicate(const instruction& i) {
      if constexpr (communicates) {
        if (i.op == opcode::recv) return receive(i);
        if (i.op == opcode::send) return send(i);
        // partition's exchanges run on the compute thread: the next instruction needs their result.
        if (tensor_parallel_degree > 1 && i.peer == std::int16_t(collective_group::inner))
          return exchange(job.m, rep, device, i, rows(i).size(), slot(i));
        queue(0).post({&run_collective, this, std::size_t(i.op) << 16 | i.buffer}, true);
        if (i.op == opcode::all_gather) queue(0).wait();  // parameters are needed whole by the next step
      } else {
        fail(std::string("instruction ") + to_string(i.op) + " reached a policy without communication",
             "its programs hold no collective", "report this as a plait bug");
      }
    }

    // A receive runs on the compute thread: the next instruction needs its data.
    void receive(const instruction& i) {
      auto t = job.m.begin_event();
      const std::size_t n = rows(i).size(), k = slot(i);
      const std::size_t peer = std::size_t(i.peer);
      if (message_kind(i.buffer) == message_kind::activation) {
        await_slot(k);
        job.m.groups_.pipeline[local].take(rep.recv_input(k), n * in_width(), peer);  // [mb, in] from the stage before
      } else {
        job.m.groups_.pipeline[local].take(rep.recv_grad(), n * out_width(), peer);  // [mb, out] from the stage after
        rep.begin_backward();
      }
      job.m.end_event(t, device, i);
    }

    // A send is posted from the compute thread and does not wait: the peer copies the buffer when
    // it receives, and the slot is not overwritten before (await_slot). No thread hand-off, so a
    // busy machine cannot delay a message behind the scheduler.
    void send(const instruction& i) {
      auto t = job.m.begin_event();
      const std::size_t n = rows(i).size(), k = slot(i);
      const bool activation = message_kind(i.buffer) == message_kind::activation;
      const std::size_t peer = std::size_t(i.peer);
      const std::uint64_t ticket = activation
          ? job.m.groups_.pipeline[local].post(rep.output(k), n * out_width(), peer)     // [mb, out] to the stage after
          : job.m.groups_.pipeline[local].post(rep.input_grad(k), n * in_width(), peer);  // [mb, in] to the stage before
      const posted p{peer, ticket};
      if (k < 64) slot_sent[activation ? 0 : 1][k] = p;
      last_sent[peer > device % inner_count ? 0 : 1] = p;  // peers are ranks in the inner group
      job.m.end_event(t, device, i);
    }

    std::size_t in_width() const {  // floats per sample entering the device's first layer
      return rep.owned().first == 0 ? input_shape::size : device_layout::out_sizes[rep.owned().first - 1];
    }
    std::size_t out_width() const { return device_layout::out_sizes[rep.owned().last - 1]; }

    static void run_collective(void* self, std::size_t code) {
      instruction i;  // the fields the worker needs (set one by one: see collective(...) in instruction.hpp)
      i.op = opcode(code >> 16);
      i.buffer = std::uint16_t(code & 0xffff);
      static_cast<handler*>(self)->collective(i);
    }
    // The data-parallel collectives of one instruction, on the device's communication worker.
    void collective(const instruction& i) {
      auto t = job.m.begin_event();
      try {
        reduce(i);
      } catch (const error& e) {  // a peer in another process failed or stopped: say where in the step
        fail_in(cat("step ", job.m.steps_, ", device ", device, ", ", job.m.event_name(i)), e);
      }
      job.m.end_event(t, device, i);
    }
    void reduce(const instruction& i) {
      auto& comm = job.m.groups_.data[local];  // the device's data-parallel group
      if (i.buffer == whole_gradient) {
        comm.all_reduce(rep.grads(), rep.param_size());  // [Pd] @ every replica of my inner rank -> summed
      } else if constexpr (requires { Policy::template bucket_list<G>; }) {
        const bucket& b = Policy::template bucket_list<G>[i.buffer];
        const std::size_t dp_rank = device / inner_count;
        const shard c = shard_of(b.size, data_parallel_degree, dp_rank);
        switch (i.op) {
          case opcode::all_reduce:  // [bucket] @ every replica -> summed, on every replica
            comm.all_reduce(rep.grads() + b.offset, b.size);
            break;
          case opcode::reduce_scatter: {  // [bucket] @ every replica -> my chunk of the sum
            std::size_t at = 0;
            for (std::size_t k = 0; k < i.buffer; ++k)
              at += shard_of(Policy::template bucket_list<G>[k].size, data_parallel_degree, dp_rank).size();
            comm.reduce_scatter(rep.grads() + b.offset, rep.shard_grads() + at, b.size);
            break;
          }
          case opcode::all_gather:  // my chunk of the parameters -> [bucket] @ every replica
            comm.all_gather(rep.params() + b.offset + c.begin, rep.params() + b.offset, b.size);
            break;
          default:
            fail(std::string("instruction ") + to_string(i.op) + " is not a collective",
                 "only collectives reach the communication worker", "report this as a plait bug");
        }
      } else {
        fail(std::string("instruction ") + to_string(i.op) + " names a bucket", "the policy has no buckets",
             "report this as a plait bug");
      }
    }
  };
};

template <class Policy, RootedGraph G, class Backend>
template <Samples X, Target Y, class Loss, class Opt>
float model<Policy, G, Backend>::train_step(X x, Y y, const Loss&, Opt& opt) {
  static_assert(same_shape<typename X::shape_type, input_shape>::value,
                "plait: the batch's sample shape differs from the graph's input shape. train_step feeds the "
                "batch to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
  Loss::template check<output_shape, Y>();
  // After a failed check, stop here: one message, not a cascade.
  if constexpr (std::is_same_v<typename X::shape_type, input_shape> && Loss::template accepts<output_shape, Y>) {
    check_batch(x.count, y.count, options_.max_batch, "train_step");
    const std::size_t least = data_parallel_degree * microbatch_count;
    if (x.count < least)
      fail("train_step is given a batch of " + std::to_string(x.count) + " samples for " +
               std::to_string(data_parallel_degree) + " replica(s) of " + std::to_string(microbatch_count) +
               " micro-batch(es)",
           std::string(Policy::name) + " gives every replica's every micro-batch a share of the batch, and a share "
           "cannot be empty",
           "pass batches of at least " + std::to_string(least) + " samples (drop or pad the last one)");
    if (!uneven_microbatches && microbatch_count > 1)
      for (std::size_t r = 0; r < data_parallel_degree; ++r)
        if (shard_of(x.count, data_parallel_degree, r).size() % microbatch_count != 0)
          fail("train_step is given a batch of " + std::to_string(x.count) + " samples, whose share does not divide "
               "into " + std::to_string(microbatch_count) + " micro-batches",
               "equal micro-batches keep the pipeline's stages in step",
               "pass a batch divisible by the micro-batch count, or add the option uneven_microbatches");
    if constexpr (requires { Loss::validate(y, output_shape::size); }) Loss::validate(y, output_shape::size);
    if (params_dirty_) broadcast_parameters();
    if constexpr (has_step_graph)
      if (options_.cuda_graph) return graph_step<Loss>(x.data, y, x.count, opt);
    return eager_step<Loss>(x.data, y, x.count, opt);
  } else {
    return 0.0f;
  }
}

template <class Policy, RootedGraph G, class Backend>
template <class Loss, class Y, class Opt>
float model<Policy, G, Backend>::eager_step(const float* x, Y y, std::size_t count, Opt& opt) {
  step_job<Y, Loss, Opt> job{*this, x, y, opt, count};
  for (std::size_t l = 0; l < replicas_.size(); ++l)
    job.state[l] = replicas_[l].template optimizer_state<Opt>(optimizer_floats(opt, l));
  workers_->run(&step_job<Y, Loss, Opt>::run, &job);
  double total = 0;
  for (double s : job.loss_sums) total += s;
  if (world_) {  // each process summed its replicas' rows: the job's sum, the same bits on every process
    float sum = float(total);
    try {
      world_->all_reduce(&sum, 1);
    } catch (const error& e) {
      fail_in(cat("step ", steps_, ", the loss's sum over processes"), e);
    }
    total = sum;
  }
  ++steps_;
  return float(total / double(count));
}

template <class Policy, RootedGraph G, class Backend>
void model<Policy, G, Backend>::exchange(model& m, replica_type& rep, std::size_t device, const instruction& i,
                                         std::size_t rows, std::size_t slot) {
  if constexpr (communicates) {
    auto t = m.begin_event();
    const bool gradient = message_kind(i.buffer) == message_kind::gradient;
    const stage_range r = Policy::template stages<G>[i.stage];
    const std::size_t b = gradient ? r.first : r.last;  // the device graph's layer after the exchange
    const std::size_t width = device_layout::out_sizes[b - 1];
    auto& comm = m.groups_.tensor[device - m.first_];  // the device's tensor group
    if (gradient)  // [mb, In] partial @ every device -> the sum (to send back when b starts the device's layers)
      comm.all_reduce(b == rep.owned().first ? rep.input_grad(slot) : rep.current_grad(), rows * width);
    else if (i.op == opcode::all_reduce)
      comm.all_reduce(rep.layer_output(slot, b - 1), rows * width);  // [mb, Out] partial @ every device -> the sum
    else  // [mb, Out/N] @ device r -> [N, mb, Out/N] @ every device, in the gathering layer's saved buffer
      comm.all_gather(rep.layer_output(slot, b - 1), rep.layer_saved(slot, b), rows * device_layout::out_sizes[b]);
    m.end_event(t, device, i);
  }
}

}  // namespace plait
