#pragma once
// model<Policy, G, Backend>: a graph placed on devices, what place(...) returns. A facade over
//   - plan_of<Policy, G> (policy/plan.hpp): everything the policy decided, at compile time;
//   - placed_devices (devices.hpp): this process's devices, their memory, groups and executors;
//   - parameter_io (parameter_io.hpp): the parameters in and out.
// train_step (train_step.hpp) runs every device's training program; predict and evaluate
// (inference.hpp) its inference program, through the same executor. After the first step with a
// given optimizer, a step allocates nothing.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "../core/tensor.hpp"
#include "../data/sharded_sampler.hpp"
#include "../io/chrome_trace.hpp"
#include "../loss/loss.hpp"
#include "../optim/optimizer.hpp"
#include "../policy/buckets.hpp"
#include "../policy/plan.hpp"
#include "devices.hpp"
#include "jobs.hpp"
#include "memory_plan.hpp"
#include "options.hpp"
#include "parameter_io.hpp"
#include "replica_check.hpp"
#include "step_agreement.hpp"
#include "step_guard.hpp"

namespace plait {

template <class Policy, RootedGraph G, class Backend>
class model {
 public:
  using plan = plan_of<Policy, G>;
  using backend_type = Backend;
  using layout = graph_layout<G>;  // the whole model, as the user wrote it
  using input_shape = typename layout::input_shape;
  using output_shape = typename layout::output_shape;
  using device_graph = typename plan::device_graph;
  using device_layout = typename plan::device_layout;  // what each device runs (layer indices of stages)
  static constexpr std::size_t layer_count = layout::layer_count;
  static constexpr std::size_t device_count = plan::device_count;
  static constexpr std::size_t data_parallel_degree = plan::data_parallel_degree;
  static constexpr std::size_t tensor_parallel_degree = plan::tensor_parallel_degree;
  static constexpr std::size_t microbatch_count = plan::microbatch_count;
  /// A hash of (policy, graph) types, for ranks to check at start-up that they build one model.
  static constexpr std::uint64_t signature = placed_devices<plan, Backend>::signature;
  /// Whether the host reads and writes the devices' memory directly (host devices) or copies (CUDA).
  static constexpr bool host_memory = placed_devices<plan, Backend>::memory_type::host_memory;
  static_assert(host_stage_fits<plan>());  // graph/host_stage_layers.hpp: what may be on<cpu>

  /// On this process's devices (device_set), or on its share of a mesh across processes.
  model(device_set<Backend> devices, place_options options)
      : devices_(std::make_unique<devices_type>(std::move(devices), options)) {
    check_graph_options();
  }
  model(process_devices<Backend> devices, place_options options)
      : devices_(std::make_unique<devices_type>(std::move(devices), options)) {
    check_graph_options();
    check_initial_replicas<plan>(*devices_);  // replica_check.hpp: one all-gather at start-up
  }

  /// A sampler whose replica count is this model's data-parallel degree, so the two cannot disagree.
  /// Give it to a loader; each replica then trains on exactly sampler.indices(batch, replica).
  sharded_sampler sampler(std::size_t dataset_size, sampler_options options) const {
    return sharded_sampler(dataset_size, data_parallel_degree, options);
  }

  /// The replicas whose rows this process passes to a step (all of them in one process): give it to
  /// a loader over sampler(...) so that the process reads only those rows.
  replica_range process_replicas() const {
    const std::size_t first = plan::replica[devices_->first()];
    return {first, first + devices_->local_count() / plan::inner_count};
  }
  /// This process's rows of a global batch of n samples: the parts shard_of gives its replicas.
  shard rows_of_process(std::size_t n) const {
    const replica_range r = process_replicas();
    return {shard_of(n, data_parallel_degree, r.first).begin, shard_of(n, data_parallel_degree, r.last - 1).end};
  }

  std::size_t parameter_count() const { return layout::parameter_count; }
  std::size_t max_batch() const { return devices_->options().max_batch; }
  std::size_t steps() const { return steps_; }

  /// This process's devices: device_count, or its share of the mesh when placed across processes.
  std::size_t local_device_count() const { return devices_->local_count(); }
  /// The mesh's device that this process's device 0 is (0 unless placed across processes).
  std::size_t first_device() const { return devices_->first(); }
  /// The processes of the job (1 unless placed across processes).
  std::size_t process_count() const { return devices_->process_count(); }

  /// The parameters this process's device d holds, flat (under replicate: the whole layout; under
  /// pipeline: its stage's). Host devices only: a view of the device's memory.
  std::span<float> parameters(std::size_t d = 0) {
    static_assert(host_memory,
                  "plait: parameters(d) is asked of a model on CUDA devices. Its parameters live in GPU "
                  "memory, which the host cannot read in place. Fix: call gather_parameters(), which copies them.");
    return params_.view(d);
  }
  std::span<const float> gradients(std::size_t d = 0) const {
    static_assert(host_memory,
                  "plait: gradients(d) is asked of a model on CUDA devices. Its gradients live in GPU "
                  "memory, which the host cannot read in place. Fix: read them on a model on host devices.");
    return params_.grads(d);
  }
  /// The whole model's parameters in the layout's flat order, gathered from the devices that hold them.
  std::vector<float> gather_parameters() const { return params_.gather(); }
  /// Sets the whole model's parameters (the layout's flat order) on every device that holds them.
  void set_parameters(std::span<const float> whole) { params_.scatter(whole); }
  /// Layer I's parameters (weights then biases) on the first device that holds it. Write them before
  /// training to set the model's parameters; every other device holding the layer gets a copy on the
  /// next step.
  template <std::size_t I>
  std::span<float> layer_parameters() {
    static_assert(I < layer_count,
                  "plait: layer_parameters<I> names a layer the graph does not have. Layers are "
                  "numbered from 0 in the order the graph expression lists them. Fix: pass I below "
                  "the graph's layer count.");
    static_assert(tensor_parallel_degree == 1,
                  "plait: layer_parameters<I> is called on a model under partition<N>. Its layers' weights are "
                  "split across devices, so no device holds layer I whole. Fix: read gather_parameters(), or "
                  "set the parameters on a single-device model.");
    static_assert(host_memory,
                  "plait: layer_parameters<I> is asked of a model on CUDA devices. Its parameters live in GPU "
                  "memory, which the host cannot write in place. Fix: read gather_parameters(), or set "
                  "parameters on a model on host devices.");
    if constexpr (I < layer_count) return params_.template layer<I>();
    else return {};
  }
  /// For checkpoints (io/checkpoint.hpp): this process's placed devices, and the step to resume at.
  placed_devices<plan, Backend>& placed() const { return *devices_; }
  void resume_at_step(std::size_t step) { steps_ = step; }
  /// Bytes planned on device d: its arena and its optimizer state; and the activation part of it.
  std::size_t planned_bytes(std::size_t d = 0) const { return memory(d, "planned_bytes").planned_bytes(); }
  std::size_t optimizer_bytes(std::size_t d = 0) const { return memory(d, "optimizer_bytes").optimizer_bytes(); }
  std::size_t activation_bytes(std::size_t d = 0) const { return memory(d, "activation_bytes").activation_bytes(); }
  /// This process's devices' memory by use (memory_plan.hpp), allocating nothing: what place planned with
  /// the optimizer's state planned so far, or with the state `opt` needs. Printable: `std::cout << plan`.
  plait::memory_plan memory_plan() const { return planned_memory<plan>(*devices_); }
  template <Optimizer Opt>
  plait::memory_plan memory_plan(const Opt& opt) const {
    return planned_memory<plan>(*devices_, opt);
  }
  /// Plans `opt`'s state on every device now, once every device is known to stay within
  /// place_options::memory_budget (refused: nothing allocated); no step with `opt` allocates it then.
  template <Optimizer Opt>
  void plan_optimizer(const Opt& opt) {
    plan_optimizer_state<plan>(*devices_, opt);
  }

  /// Gradient clipping by global norm and the inf/NaN check, for every following step (step_guard.hpp).
  void guard_steps(step_guard_options o) { guard_.configure(*devices_, o); }
  /// Steps the non-finite check skipped, and the last guarded step's gradient norm (before clipping).
  std::size_t skipped_steps() const { return guard_.skipped(); }
  double gradient_norm() const { return guard_.norm(); }

  /// Records every instruction each device executes, from now on (`capacity` events per device).
  void enable_trace(std::size_t capacity_per_device = 4096) { devices_->enable_trace(capacity_per_device); }
  const trace_recorder& trace() const { return devices_->trace(); }
  /// Writes what was recorded as a Chrome trace (Perfetto, chrome://tracing): one track per device,
  /// compute and communication as separate rows.
  void write_trace(const std::filesystem::path& path) const { devices_->write_trace(path); }
  /// Each device's last instructions and collectives, always recorded; written per rank when a step
  /// fails or the process gets SIGTERM or SIGUSR1 (flight_recorder.hpp, docs/training.md).
  const flight_recorder& flight() const { return devices_->flight(); }

  /// One training step on a global batch: each device's program. Returns the mean loss over the batch.
  template <Samples X, Target Y, Loss L, Optimizer Opt>
  float train_step(X x, Y y, const L&, Opt& opt);
  template <class X, class Y, class L, class Opt>
    requires(!(Samples<X> && Target<Y> && Loss<L> && Optimizer<Opt>))
  float train_step(X, Y, const L&, Opt&) {
    static_assert(Samples<X>,
                  "plait: train_step is given a batch that is not samples<S>. It reads the batch as rows of "
                  "the graph's input shape. Fix: pass samples<S>{data, count}.");
    static_assert(Target<Y>,
                  "plait: train_step is given targets that are neither samples<S> nor class_labels. The loss "
                  "compares them with the output. Fix: pass samples<S>{data, count} or class_labels{data, count}.");
    static_assert(Loss<L>,
                  "plait: train_step is given a loss that is not a Loss. A loss has a name, accepts<Out, Y>, "
                  "check<Out, Y>() and rows<Out>(...) (loss/loss.hpp). Fix: pass mse or cross_entropy, or "
                  "give your loss those members.");
    static_assert(Optimizer<Opt>,
                  "plait: train_step is given an optimizer that is not an Optimizer. An optimizer has "
                  "state_per_param() and step(ctx, params, grads, state, n, t) (optim/optimizer.hpp). "
                  "Fix: pass sgd{...}, adam{...} or adamw{...}, or give yours those members.");
    return 0.0f;
  }

  /// Across processes: one step on a global batch of g.global_batch samples, of which x and y are only
  /// this process's rows (rows_of_process(g.global_batch)); every process reads just its own. In one
  /// process the same as train_step(x, y, ...), x being the whole batch.
  template <Samples X, Target Y, Loss L, Optimizer Opt>
  float train_step(X x, Y y, const L&, Opt& opt, process_rows g);
  /// A loader's batch (data/loader.hpp): its rows with the size of its global batch, and its place
  /// in the epoch, which the ranks compare every step: a rank whose epoch has fewer batches stops
  /// every rank at the first step of that epoch, with an error naming it.
  template <class B, Loss L, Optimizer Opt>
    requires requires(const B& b) {
      b.x;
      b.y;
      b.global;
      b.number;
      b.batches;
    }
  float train_step(const B& b, const L& loss, Opt& opt) {
    agree_.expect_left(b.batches - b.number);
    try {
      return train_step(b.x, b.y, loss, opt, process_rows{.global_batch = b.global});
    } catch (...) {
      agree_.forget_left();  // a refused call's count must not reach the next step
      throw;
    }
  }

  /// Gradient accumulation: the batch in `chunks` chunks, their gradients summed on each device and
  /// synchronised once, then one update: the same step as train_step on the whole batch (accumulate_step.hpp).
  template <Samples X, Target Y, Loss L, Optimizer Opt>
  float accumulate_step(X x, Y y, const L&, Opt& opt, std::size_t chunks);
  /// The same across processes, x and y being this process's rows of a global batch of g.global_batch.
  template <Samples X, Target Y, Loss L, Optimizer Opt>
  float accumulate_step(X x, Y y, const L&, Opt& opt, std::size_t chunks, process_rows g);

  /// One predictive-coding step: a forward pass, o.iterations inference iterations on every stage's
  /// value nodes at once, then one update by `opt` (pc_step.hpp). Returns the mean energy.
  template <Samples X, Target Y, Loss L, Optimizer Opt>
  float pc_step(X x, Y y, const L&, Opt& opt, const pc_options& o);

  /// Forward only, in evaluation mode, for at most rows_per_call() samples, through every device's
  /// inference program (rows split over the replicas, micro-batches streamed through the stages);
  /// the view stays valid until the next call.
  samples<output_shape> predict(samples<input_shape> x);
  template <Samples X>
    requires(!std::is_same_v<X, samples<input_shape>>)
  samples<output_shape> predict(X) {
    static_assert(dependent_false<X>,
                  "plait: the samples given to predict differ in shape from the graph's input. predict feeds them "
                  "to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
    return {};
  }
  std::size_t rows_per_call() const { return max_batch(); }

  /// Mean loss and (for class labels) accuracy over any number of samples, in evaluation mode.
  template <Target Y, Loss L>
  evaluation evaluate(samples<input_shape> x, Y y, const L&);
  template <class Y, class L>
    requires(!(Target<Y> && Loss<L>))
  evaluation evaluate(samples<input_shape>, Y, const L&) {
    static_assert(Target<Y>,
                  "plait: evaluate is given targets that are neither samples<S> nor class_labels. The loss "
                  "compares them with the output. Fix: pass samples<S>{data, count} or class_labels{data, count}.");
    static_assert(Loss<L>,
                  "plait: evaluate is given a loss that is not a Loss. A loss has a name, accepts<Out, Y>, "
                  "check<Out, Y>() and rows<Out>(...) (loss/loss.hpp). Fix: pass mse or cross_entropy.");
    return {};
  }
  template <Samples X, Target Y, Loss L>
    requires(!std::is_same_v<X, samples<input_shape>>)
  evaluation evaluate(X, Y, const L&) {
    static_assert(dependent_false<X>,
                  "plait: the samples given to evaluate differ in shape from the graph's input. evaluate feeds them "
                  "to input<...>. Fix: pass samples<S> with S the shape given to input<...>.");
    return {};
  }

 private:
  // Which rows of the global batch the call passes: all of them (replicas 0 and up), or this process's.
  struct step_rows {
    std::size_t replicas = data_parallel_degree, first_replica = 0, global = 0;  // global 0: the count given
  };
  template <class L, class Y, class Opt>
  float eager_step(const float* x, Y y, std::size_t count, Opt& opt, step_rows rows = {});
  template <class L, class Y, class Opt>
  float guarded_train_step(const float* x, Y y, std::size_t count, Opt& opt, step_rows rows = {});  // train_step.hpp
  void check_step_batch(std::size_t count, const char* call) const;
  void check_chunks(std::size_t count, std::size_t chunks, std::size_t replicas) const;  // accumulate_step.hpp
  template <class L, class Y, class Opt>
  float accumulate_rows(const float* x, Y y, std::size_t count, Opt& opt, std::size_t chunks, step_rows rows);
  template <class Y, class L>
  double infer(const float* x, Y y, std::size_t count);  // inference.hpp: the summed loss when evaluating

  // place_options::cuda_graph (graph_step.hpp): refused where it cannot hold, then a step captured
  // once per step kind and replayed.
  static constexpr bool has_step_graph = !std::is_same_v<typename device_traits<Backend>::step_graph, no_step_graph>;
  void check_graph_options();
  template <class L, class Y, class Opt>
  float graph_step(const float* x, Y y, std::size_t count, Opt& opt);

  const auto& memory(std::size_t d, const char* call) const {
    if (d >= devices_->local_count())
      fail(cat(call, "(", d, ") is asked of a model with ", devices_->local_count(), " device",
               devices_->local_count() == 1 ? "" : "s", " in this process"),
           "devices are numbered from 0 in each process", cat("pass a device below ", devices_->local_count()));
    return devices_->memory(d);
  }

  using devices_type = placed_devices<plan, Backend>;
  std::unique_ptr<devices_type> devices_;  // on the heap: its executors and workers point into it, and a model moves
  parameter_io<plan, Backend> params_{*devices_};
  std::vector<float> out_ =
      std::vector<float>(devices_->options().max_batch * output_shape::size);  // predict's rows @ host
  typename device_traits<Backend>::step_graph graph_;  // the captured step (place_options::cuda_graph)
  std::size_t steps_ = 0;
  step_guard<plan, devices_type> guard_;             // off until guard_steps
  step_agreement agree_{devices_->process_count()};  // across processes: the loss's sum checks batch and settings
};

}  // namespace plait

// The bodies of the calls above, in the order they use each other.
#include "train_step.hpp"

#include "inference.hpp"

#include "graph_step.hpp"

#include "accumulate_step.hpp"

#include "pc_step.hpp"
