#pragma once
// model<Policy, Graph, Backend>: a graph placed on devices. It owns one replica of planned memory
// per logical device, one worker thread per device (device 0 is the caller's thread), and, when the
// policy communicates, a local communicator group and a communication worker per device.
//
// A training step executes each device's generated program (policy/*.hpp) on that device. After
// the first step with a given optimizer, a step allocates nothing.

#include <array>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../comm/local.hpp"
#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "../core/tensor.hpp"
#include "../data/sharded_sampler.hpp"
#include "../io/chrome_trace.hpp"
#include "../io/trace.hpp"
#include "../kernels/elementwise.hpp"
#include "../program/instruction.hpp"
#include "comm_queue.hpp"
#include "options.hpp"
#include "replica.hpp"
#include "workers.hpp"

namespace plait {

template <class Policy, RootedGraph G, class Backend>
class model {
 public:
  using layout = graph_layout<G>;
  using input_shape = typename layout::input_shape;
  using output_shape = typename layout::output_shape;
  using replica_type = replica<G, Backend>;
  static constexpr std::size_t layer_count = layout::layer_count;
  static constexpr std::size_t device_count = Policy::device_count;
  static constexpr bool communicates = requires { Policy::template bucket_list<G>; };

  model(device_set<Backend> devices, place_options options) : options_(options) {
    if (devices.count < device_count)
      fail(std::string(Policy::name) + " needs " + std::to_string(device_count) + " devices but place was given " +
               std::to_string(devices.count),
           "each logical device of the policy runs on a device of its own",
           "pass at least " + std::to_string(device_count) + " devices to place(...), e.g. host_devices(" +
               std::to_string(device_count) + ")");
    if (options.max_batch < device_count)
      fail("place_options.max_batch is " + std::to_string(options.max_batch) + ", fewer than the " +
               std::to_string(device_count) + " devices of " + Policy::name,
           "every device needs at least one sample of the largest batch",
           "set max_batch to the largest global batch you will train or predict on");
    std::pmr::memory_resource* mem = options.memory ? options.memory : std::pmr::get_default_resource();
    const std::size_t per_device = shard_of(options.max_batch, device_count, 0).size();
    replicas_.reserve(device_count);
    for (std::size_t d = 0; d < device_count; ++d) {
      replicas_.emplace_back(d, devices.threads_per_device, per_device, shard_floats(d), mem);
      replicas_.back().init_parameters(options.seed);  // the same on every replica: no broadcast needed
    }
    if constexpr (communicates) {
      group_ = std::make_unique<local_group>(device_count);
      for (std::size_t d = 0; d < device_count; ++d) comms_.push_back(group_->comm(d));
    }
    for (std::size_t d = 0; d < device_count; ++d)
      queues_.push_back(std::make_unique<comm_queue>(communicates && device_count > 1,
                                                     [ctx = replicas_[d].ctx()] { ctx.enter(); }));
    replicas_[0].ctx().enter();
    std::vector<typename replica_type::context> contexts;
    for (const auto& r : replicas_) contexts.push_back(r.ctx());
    workers_ = std::make_unique<device_workers>(device_count, [contexts](std::size_t d) { contexts[d].enter(); });
    name_events();
  }

  /// Replicas that split each batch: the policy's data-parallel degree (1 without data parallelism).
  static constexpr std::size_t data_parallel_degree = [] {
    if constexpr (requires { Policy::data_parallel_degree; }) return std::size_t{Policy::data_parallel_degree};
    else return std::size_t{1};
  }();

  /// A sampler whose replica count is this model's data-parallel degree, so the two cannot disagree.
  /// Give it to a loader; each replica then trains on exactly sampler.indices(batch, replica).
  sharded_sampler sampler(std::size_t dataset_size, sampler_options options) const {
    return sharded_sampler(dataset_size, data_parallel_degree, options);
  }

  std::size_t parameter_count() const { return layout::parameter_count; }
  std::size_t max_batch() const { return options_.max_batch; }
  std::size_t steps() const { return steps_; }

  /// The flat parameter buffer of device d (padding between layers included; it stays zero).
  std::span<float> parameters(std::size_t d = 0) { return {replicas_.at(d).params(), layout::param_buffer_size}; }
  std::span<const float> gradients(std::size_t d = 0) const {
    return {replicas_.at(d).grads(), layout::param_buffer_size};
  }
  /// Layer I's parameters on device 0: weights then biases. Write them before training to set
  /// the model's parameters; every device gets a copy (broadcast) on the next step.
  template <std::size_t I>
  std::span<float> layer_parameters() {
    params_dirty_ = true;
    return {replicas_[0].params() + layout::param_offsets[I], layout::param_sizes[I]};
  }
  /// Bytes planned on device d: its arena and its optimizer state.
  std::size_t planned_bytes(std::size_t d = 0) const { return replicas_.at(d).planned_bytes(); }
  std::size_t optimizer_bytes(std::size_t d = 0) const { return replicas_.at(d).optimizer_bytes(); }

  /// Records every instruction each device executes, from now on (`capacity` events per device).
  void enable_trace(std::size_t capacity_per_device = 4096) { trace_ = trace_recorder(device_count, capacity_per_device); }
  const trace_recorder& trace() const { return trace_; }
  /// Writes what was recorded as a Chrome trace (Perfetto, chrome://tracing): one track per device,
  /// compute and communication as separate rows.
  void write_trace(const std::filesystem::path& path) const {
    const auto events = trace_.events();
    trace_metadata meta;
    meta.title = std::string("plait ") + Policy::name + ": executed";
    for (std::size_t d = 0; d < device_count; ++d) meta.device_names.push_back("device " + std::to_string(d));
    write_chrome_trace(path, std::span<const trace_event>(events), meta);
  }

  /// One training step on a global batch: each device's program (scatter, forward, loss, backward,
  /// communication, optimizer). Returns the mean loss over the batch.
  template <Samples X, Target Y, class Loss, class Opt>
  float train_step(X x, Y y, const Loss&, Opt& opt) {
    static_assert(same_shape<typename X::shape_type, input_shape>::value,
                  "plait: the batch's sample shape differs from the graph's input shape. train_step feeds the "
                  "batch to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
    Loss::template check<output_shape, Y>();
    // After a failed check, stop here: one message, not a cascade.
    if constexpr (std::is_same_v<typename X::shape_type, input_shape> && Loss::template accepts<output_shape, Y>) {
      check_batch(x.count, y.count, "train_step");
      if (x.count < device_count)
        fail("train_step is given a batch of " + std::to_string(x.count) + " samples for " +
                 std::to_string(device_count) + " devices",
             std::string(Policy::name) + " gives every device a share of the batch, and a share cannot be empty",
             "pass batches of at least " + std::to_string(device_count) + " samples (drop or pad the last one)");
      if constexpr (requires { Loss::validate(y, output_shape::size); }) Loss::validate(y, output_shape::size);
      if (params_dirty_) broadcast_parameters();
      step_job<Y, Loss, Opt> job{*this, x.data, y, opt, x.count, {}};
      for (std::size_t d = 0; d < device_count; ++d)
        job.state[d] = replicas_[d].template optimizer_state<Opt>(optimizer_floats(opt, d));
      workers_->run(&step_job<Y, Loss, Opt>::run, &job);
      ++steps_;
      double total = 0;
      for (double s : job.loss_sums) total += s;
      return float(total / double(x.count));
    } else {
      return 0.0f;
    }
  }

  /// Forward only, on device 0, for at most max_batch samples; the view stays valid until the next call.
  samples<output_shape> predict(samples<input_shape> x) {
    check_batch(x.count, x.count, "predict");
    if (x.count > replicas_[0].max_batch())
      fail("predict is given " + std::to_string(x.count) + " samples, more than the " +
               std::to_string(replicas_[0].max_batch()) + " planned per device",
           "predict runs on device 0, whose activations hold one device's share of max_batch",
           "predict in chunks, or use evaluate(...), which chunks for you");
    if (params_dirty_) broadcast_parameters();
    replica_type& r = replicas_[0];
    r.bind_input(x.data);
    r.set_step(steps_, 0, false);  // evaluation mode: no dropout, running statistics
    r.forward({0, layer_count}, x.count);
    return {r.output(), x.count};
  }

  /// Mean loss and (for class labels) accuracy over any number of samples, on device 0.
  template <Target Y, class Loss>
  evaluation evaluate(samples<input_shape> x, Y y, const Loss&) {
    Loss::template check<output_shape, Y>();
    if constexpr (Loss::template accepts<output_shape, Y>) {
      if (x.count != y.count)
        fail("evaluate is given " + std::to_string(x.count) + " samples but " + std::to_string(y.count) + " targets",
             "every sample needs its target", "pass views of equal count");
      replica_type& r = replicas_[0];
      double total = 0;
      std::size_t correct = 0;
      for (std::size_t at = 0; at < x.count; at += r.max_batch()) {
        const std::size_t n = std::min(r.max_batch(), x.count - at);
        const Y part = slice(y, at, n);
        if constexpr (requires { Loss::validate(part, output_shape::size); }) Loss::validate(part, output_shape::size);
        const float* out = predict({x.data + at * input_shape::size, n}).data;
        Loss::template rows<output_shape>(r.ctx(), out, part, static_cast<float*>(nullptr), r.rows(), float(n));
        for (std::size_t i = 0; i < n; ++i) total += r.rows()[i];
        if constexpr (std::is_same_v<Y, class_labels>) correct += count_correct(out, part);
      }
      const double count = double(x.count);
      return {x.count ? total / count : 0.0, x.count ? double(correct) / count : 0.0, x.count};
    } else {
      return {};
    }
  }

 private:
  // One step of every device: the program's instructions with this step's types.
  template <class Y, class Loss, class Opt>
  struct step_job {
    model& m;
    const float* x;
    Y y;
    Opt& opt;
    std::size_t count;
    std::array<float*, device_count> state;
    std::array<double, device_count> loss_sums{};

    static void run(void* self, std::size_t d) {
      auto& job = *static_cast<step_job*>(self);
      handler h{job, job.m.replicas_[d], *job.m.queues_[d], d};
      execute(Policy::template programs<G>[d], h);
      job.m.queues_[d]->wait();
    }

    struct handler {
      step_job& job;
      replica_type& rep;
      comm_queue& queue;
      std::size_t device;
      std::size_t batch = 0;  // this device's share
      Y targets{};

      void scatter(const instruction& i) {
        auto t = job.m.begin_event();
        const shard s = shard_of(job.count, device_count, device);  // [B/N, in] @ device
        rep.bind_input(job.x + s.begin * input_shape::size);
        rep.set_step(job.m.steps_, s.begin, true);
        batch = s.size();
        targets = slice(job.y, s.begin, batch);
        job.m.end_event(t, device, i);
      }
      void forward(const instruction& i) {
        auto t = job.m.begin_event();
        rep.forward(Policy::template stages<G>[i.stage], batch);
        job.m.end_event(t, device, i);
      }
      void loss(const instruction& i) {
        auto t = job.m.begin_event();
        // Normalised by the global batch: summing the devices' gradients gives the batch's gradient.
        Loss::template rows<output_shape>(rep.ctx(), rep.output(), targets, rep.loss_grad(), rep.rows(),
                                          float(job.count));
        job.loss_sums[device] = sum(rep.ctx(), rep.rows(), batch);
        rep.begin_backward();
        job.m.end_event(t, device, i);
      }
      void backward(const instruction& i) {
        auto t = job.m.begin_event();
        rep.backward(Policy::template stages<G>[i.stage], batch, false);
        job.m.end_event(t, device, i);
      }
      void communicate(const instruction& i) {
        if constexpr (communicates) {
          queue.post({&run_collective, this, std::size_t(i.op) << 16 | i.buffer});
          if (i.op == opcode::all_gather) queue.wait();  // parameters are needed whole by the next step
        } else {
          fail(std::string("instruction ") + to_string(i.op) + " reached a policy without communication",
               "its programs hold no collective", "report this as a plait bug");
        }
      }
      void optimizer_step(const instruction& i) {
        queue.wait();  // every bucket's reduction is in
        auto t = job.m.begin_event();
        const std::size_t step = rep.next_optimizer_step();
        if constexpr (requires { Policy::sharded; } && communicates) {
          if constexpr (Policy::sharded) {
            std::size_t at = 0;  // this device's shards of every bucket, one after another
            for (const bucket& b : Policy::template bucket_list<G>) {
              const shard c = shard_of(b.size, device_count, device);
              job.opt.step(rep.ctx(), rep.params() + b.offset + c.begin, rep.shard_grads() + at,
                           job.state[device] + at * job.opt.state_per_param(), c.size(), step);
              at += c.size();
            }
            job.m.end_event(t, device, i);
            return;
          }
        }
        job.opt.step(rep.ctx(), rep.params(), rep.grads(), job.state[device], layout::param_buffer_size, step);
        job.m.end_event(t, device, i);
      }

      // Runs on the device's communication worker; the task's index carries the instruction
      // (several may be in flight while backward goes on).
      static void run_collective(void* self, std::size_t code) {
        static_cast<handler*>(self)->collective({.op = opcode(code >> 16), .buffer = std::uint16_t(code & 0xffff)});
      }
      void collective(const instruction& i);
    };
  };

  static class_labels slice(class_labels y, std::size_t at, std::size_t n) { return {y.data + at, n}; }
  template <Shape S>
  static samples<S> slice(samples<S> y, std::size_t at, std::size_t n) {
    return {y.data + at * S::size, n};
  }

  std::size_t count_correct(const float* out, class_labels y) const {
    constexpr std::size_t C = output_shape::size;
    std::size_t correct = 0;
    for (std::size_t r = 0; r < y.count; ++r) {
      const float* row = out + r * C;
      std::size_t best = 0;
      for (std::size_t c = 1; c < C; ++c) best = row[c] > row[best] ? c : best;
      correct += static_cast<std::int32_t>(best) == y.data[r];
    }
    return correct;
  }

  // Messages are built only on failure: a step must not allocate.
  void check_batch(std::size_t n, std::size_t targets, const char* call) const {
    if (n == 0) fail(std::string(call) + " is given an empty batch", "a step needs at least one sample", "skip empty batches");
    if (n > options_.max_batch)
      fail(std::string(call) + " is given a batch of " + std::to_string(n) + " samples, more than max_batch = " +
               std::to_string(options_.max_batch),
           "activations were planned at place(...) for max_batch samples", "raise place_options.max_batch");
    if (n != targets)
      fail(std::string(call) + " is given " + std::to_string(n) + " samples but " + std::to_string(targets) + " targets",
           "every sample needs its target", "pass views of equal count");
  }

  /// Floats of gradients device d keeps for its optimizer shard (0 without sharding).
  static constexpr std::size_t shard_floats(std::size_t d) {
    if constexpr (communicates && requires { Policy::sharded; }) {
      if constexpr (Policy::sharded) {
        std::size_t n = 0;
        for (const bucket& b : Policy::template bucket_list<G>) n += shard_of(b.size, device_count, d).size();
        return n;
      }
    }
    (void)d;
    return 0;
  }
  template <class Opt>
  std::size_t optimizer_floats(const Opt& opt, std::size_t d) const {
    const std::size_t params = shard_floats(d) ? shard_floats(d) : layout::param_buffer_size;
    return opt.state_per_param() * params;
  }

  // Parameters written by the user on device 0 reach the other devices before they are used.
  void broadcast_parameters() {
    for (std::size_t d = 1; d < device_count; ++d)
      std::memcpy(replicas_[d].params(), replicas_[0].params(), layout::param_buffer_size * sizeof(float));
    params_dirty_ = false;
  }

  double begin_event() const { return trace_.enabled() ? trace_.now_us() : 0.0; }
  void end_event(double begin, std::size_t device, const instruction& i) {
    if (!trace_.enabled()) return;
    const bool comm = i.op == opcode::all_reduce || i.op == opcode::reduce_scatter || i.op == opcode::all_gather;
    trace_.record({event_name(i), std::uint32_t(device), comm ? trace_row::communication : trace_row::compute, begin,
                   trace_.now_us(), std::int32_t(i.microbatch), std::int32_t(steps_)});
  }
  const char* event_name(const instruction& i) const {
    const std::size_t index = i.op == opcode::forward || i.op == opcode::backward ? i.stage : i.buffer;
    const auto& names = names_[std::size_t(i.op)];
    return index < names.size() ? names[index].c_str() : to_string(i.op);  // scatter, loss, optimizer_step
  }
  // Event names are made at place(...): recording a trace allocates nothing.
  void name_events() {
    constexpr std::size_t stages = Policy::template stages<G>.size();
    std::size_t buffers = 1;
    if constexpr (communicates) buffers = Policy::template bucket_list<G>.size();
    for (std::size_t op = 0; op < names_.size(); ++op) {
      const bool staged = op == std::size_t(opcode::forward) || op == std::size_t(opcode::backward);
      const bool bucketed = op == std::size_t(opcode::all_reduce) || op == std::size_t(opcode::reduce_scatter) ||
                            op == std::size_t(opcode::all_gather);
      if (!staged && !bucketed) continue;
      const std::size_t n = staged ? stages : buffers;
      for (std::size_t k = 0; k < n; ++k)
        names_[op].push_back(std::string(to_string(opcode(op))) + (staged ? " stage " : " bucket ") + std::to_string(k));
    }
  }

  place_options options_;
  std::vector<replica_type> replicas_;
  std::unique_ptr<local_group> group_;  // on the heap: the handles in comms_ point into it
  std::vector<local_comm> comms_;
  std::vector<std::unique_ptr<comm_queue>> queues_;
  std::unique_ptr<device_workers> workers_;
  trace_recorder trace_;
  std::array<std::vector<std::string>, 10> names_;
  bool params_dirty_ = false;
  std::size_t steps_ = 0;
};

// The collectives of one instruction, on the device's communication worker.
template <class Policy, RootedGraph G, class Backend>
template <class Y, class Loss, class Opt>
void model<Policy, G, Backend>::step_job<Y, Loss, Opt>::handler::collective(const instruction& i) {
  if constexpr (communicates) {
    auto t = job.m.begin_event();
    const bucket& b = Policy::template bucket_list<G>[i.buffer];
    local_comm& comm = job.m.comms_[device];
    const shard c = shard_of(b.size, device_count, device);
    switch (i.op) {
      case opcode::all_reduce:  // [bucket] @ every device -> summed, on every device
        comm.all_reduce(rep.grads() + b.offset, b.size);
        break;
      case opcode::reduce_scatter: {  // [bucket] @ every device -> my chunk of the sum
        std::size_t at = 0;
        for (std::size_t k = 0; k < i.buffer; ++k)
          at += shard_of(Policy::template bucket_list<G>[k].size, device_count, device).size();
        comm.reduce_scatter(rep.grads() + b.offset, rep.shard_grads() + at, b.size);
        break;
      }
      case opcode::all_gather:  // my chunk of the parameters -> [bucket] @ every device
        comm.all_gather(rep.params() + b.offset + c.begin, rep.params() + b.offset, b.size);
        break;
      default:
        fail(std::string("instruction ") + to_string(i.op) + " is not a collective", "only collectives reach the "
             "communication worker", "report this as a plait bug");
    }
    job.m.end_event(t, device, i);
  }
}

}  // namespace plait
