#pragma once
// Inference and evaluation of model (model.hpp): predict runs the devices that hold the layers in
// order (or, under tensor parallelism, every device's program for one micro-batch together), and
// evaluate chunks any number of samples through predict.

#include <algorithm>
#include <type_traits>

#include "step.hpp"

namespace plait {

/// Forward of every device's program for micro-batch 0, in evaluation mode: prediction where the
/// devices of a tensor-parallel group take part together (and pass activations on in a pipeline).
template <class Policy, RootedGraph G, class Backend>
struct model<Policy, G, Backend>::predict_job {
  model& m;
  const float* x;
  std::size_t count;
  static void run(void* self, std::size_t l) {  // this process's device l: the mesh's device first_ + l
    auto& job = *static_cast<predict_job*>(self);
    const std::size_t d = job.m.first_ + l;
    replica_type& rep = job.m.replicas_[l];
    group_comm* messages = communicates ? &job.m.groups_.pipeline[l] : nullptr;
    const auto width = [](std::size_t layer) { return layer == 0 ? input_shape::size : device_layout::out_sizes[layer - 1]; };
    std::uint64_t ticket = 0;
    std::size_t peer = 0;
    rep.set_step(job.m.steps_, 0, false);
    if (rep.owned().first == 0) rep.bind_input(0, rep.take_input(0, job.x, job.count));
    for (const instruction& i : Policy::template programs<G>[d]) {
      if (i.op == opcode::loss || i.op == opcode::backward) break;
      if (i.microbatch != 0) continue;
      const bool activation = message_kind(i.buffer) == message_kind::activation;
      if (i.op == opcode::forward) {
        rep.forward(Policy::template stages<G>[i.stage], job.count, 0);
      } else if ((i.op == opcode::all_reduce || i.op == opcode::all_gather) && activation &&
                 i.peer == std::int16_t(collective_group::inner)) {
        exchange(job.m, rep, d, i, job.count, 0);
      } else if (i.op == opcode::recv && activation && messages) {  // [n, in] from the stage before
        messages->take(rep.recv_input(0), job.count * width(rep.owned().first), std::size_t(i.peer));
        rep.bind_input(0, rep.recv_input(0));
      } else if (i.op == opcode::send && activation && messages) {  // [n, out] to the stage after
        peer = std::size_t(i.peer);
        ticket = messages->post(rep.output(0), job.count * device_layout::out_sizes[rep.owned().last - 1], peer);
      }
    }
    if (ticket) messages->wait_taken(peer, ticket);
    rep.release_input(0);
  }
};

template <class Policy, RootedGraph G, class Backend>
samples<typename model<Policy, G, Backend>::output_shape> model<Policy, G, Backend>::predict_together(samples<input_shape> x) {
  predict_job job{*this, x.data, x.count};
  workers_->run(&predict_job::run, &job);
  const auto on = on_device(replicas_[holder(device_layer_count - 1)]);
  return io_.output(replicas_[holder(device_layer_count - 1)], x.count);
}

template <class Policy, RootedGraph G, class Backend>
samples<typename model<Policy, G, Backend>::output_shape> model<Policy, G, Backend>::predict(samples<input_shape> x) {
  check_batch(x.count, x.count, options_.max_batch, "predict");
  if (x.count > rows_per_call())
    fail("predict is given " + std::to_string(x.count) + " samples, more than the " + std::to_string(rows_per_call()) +
             " a call can hold",
         "activations are planned for one device's micro-batch of max_batch",
         "predict in chunks of rows_per_call(), or use evaluate(...), which chunks for you");
  if (params_dirty_) broadcast_parameters();
  // The devices that hold the layers in order, from layer 0: device 0 alone unless the graph is cut.
  if constexpr (tensor_parallel_degree > 1) return predict_together(x);
  const float* in = x.data;  // @ host for layer 0, then @ the device that computed it
  std::size_t last = 0;
  for (std::size_t next = 0, d = holder(0); next < device_layer_count; d = holder(next)) {
    replica_type& r = replicas_[d];
    const auto on = on_device(r);
    r.set_step(steps_, 0, false);  // evaluation mode: no dropout, running statistics
    r.bind_input(0, next == 0 ? r.take_input(0, in, x.count) : in);
    r.forward(r.owned(), x.count, 0);
    r.release_input(0);
    in = r.output(0);
    next = r.owned().last;
    last = d;
  }
  const auto on = on_device(replicas_[last]);
  return io_.output(replicas_[last], x.count);
}

template <class Policy, RootedGraph G, class Backend>
template <Target Y, class Loss>
evaluation model<Policy, G, Backend>::evaluate(samples<input_shape> x, Y y, const Loss&) {
  Loss::template check<output_shape, Y>();
  if constexpr (Loss::template accepts<output_shape, Y>) {
    if (x.count != y.count)
      fail("evaluate is given " + std::to_string(x.count) + " samples but " + std::to_string(y.count) + " targets",
           "every sample needs its target", "pass views of equal count");
    replica_type& last = replicas_[holder(device_layer_count - 1)];
    double total = 0;
    std::size_t correct = 0;
    for (std::size_t at = 0; at < x.count; at += rows_per_call()) {
      const std::size_t n = std::min(rows_per_call(), x.count - at);
      const Y part = y.slice(at, n);
      if constexpr (requires { Loss::validate(part, output_shape::size); }) Loss::validate(part, output_shape::size);
      const float* out = predict({x.data + at * input_shape::size, n}).data;  // @ host
      const auto on = on_device(last);
      Loss::template rows<output_shape>(last.ctx(), last.output(0), io_.targets(last, part), static_cast<float*>(nullptr),
                                        last.loss_rows(), float(n));
      total += io_.rows_total(last, n);
      if constexpr (std::is_same_v<Y, class_labels>) correct += count_correct<output_shape::size>(out, part);
    }
    const double count = double(x.count);
    return {x.count ? total / count : 0.0, x.count ? double(correct) / count : 0.0, x.count};
  } else {
    return {};
  }
}

}  // namespace plait
