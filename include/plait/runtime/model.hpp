#pragma once
// model<Policy, Graph, Backend>: a graph placed on devices. It owns one replica of planned memory
// per logical device (the layers that device holds, activations for the micro-batches it keeps in
// flight), one worker thread per device (device 0 is the caller's thread), and, when the policy's
// programs communicate, a local communicator group and two communication workers per device (one
// for collectives and sends to higher devices, one for sends to lower devices, so the two
// directions of a pipeline never wait on each other).
//
// A training step executes each device's generated program on that device (step.hpp). After the
// first step with a given optimizer, a step allocates nothing.

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../comm/hierarchical.hpp"
#include "../comm/host/local_group.hpp"
#include "../comm/processes.hpp"
#include "../core/error.hpp"
#include "../core/signature.hpp"
#include "../core/shard.hpp"
#include "../core/tensor.hpp"
#include "../data/sharded_sampler.hpp"
#include "../io/chrome_trace.hpp"
#include "../io/trace.hpp"
#include "../kernels/copy.hpp"
#include "../kernels/elementwise.hpp"
#include "../policy/buckets.hpp"
#include "../program/instruction.hpp"
#include "../program/verify.hpp"
#include "batch_checks.hpp"
#include "comm_queue.hpp"
#include "event_names.hpp"
#include "host_io.hpp"
#include "parameter_blocks.hpp"
#include "options.hpp"
#include "replica.hpp"
#include "device_groups.hpp"
#include "replica_sums.hpp"
#include "workers.hpp"

namespace plait {

template <class Policy, RootedGraph G, class Backend>
class model {
 public:
  using layout = graph_layout<G>;  // the whole model, as the user wrote it
  using input_shape = typename layout::input_shape;
  using output_shape = typename layout::output_shape;
  using device_graph = typename device_graph_of<Policy, G>::type;
  using device_layout = graph_layout<device_graph>;  // what each device runs (layer indices of stages)
  using replica_type = replica<device_graph, Backend>;
  using group_comm = typename local_groups<Backend>::comm;  // how this process's devices meet
  static constexpr std::size_t layer_count = layout::layer_count;
  static constexpr std::size_t device_layer_count = device_layout::layer_count;
  static constexpr std::size_t device_count = Policy::device_count;
  /// A hash of (policy, graph) types, for ranks to check at start-up that they build one model.
  static constexpr std::uint64_t signature = signature_of<Policy, G>;
  /// Devices that split each layer's weights (partition<N>): 1 without tensor parallelism.
  static constexpr std::size_t tensor_parallel_degree = [] {
    if constexpr (requires { Policy::tensor_parallel_degree; }) return std::size_t{Policy::tensor_parallel_degree};
    else return std::size_t{1};
  }();

  /// Replicas that split each batch: the policy's data-parallel degree (1 without data parallelism).
  static constexpr std::size_t data_parallel_degree = [] {
    if constexpr (requires { Policy::data_parallel_degree; }) return std::size_t{Policy::data_parallel_degree};
    else return std::size_t{1};
  }();
  /// Devices of one replica (an inner group): the mesh is data_parallel_degree x inner_count, and
  /// an inner group is (inner_count / tensor_parallel_degree) stages x tensor_parallel_degree shards.
  static constexpr std::size_t inner_count = device_count / data_parallel_degree;
  /// Micro-batches each replica's share of a batch is cut into.
  static constexpr std::size_t microbatch_count = [] {
    if constexpr (requires { Policy::microbatch_count; }) return std::size_t{Policy::microbatch_count};
    else return std::size_t{1};
  }();
  static constexpr bool uneven_microbatches = [] {
    if constexpr (requires { Policy::uneven; }) return bool{Policy::uneven};
    else return false;
  }();
  /// Whether the host reads and writes the devices' memory directly (host devices) or copies (CUDA).
  static constexpr bool host_memory = replica_type::host_memory;
  /// Floats of one sample's target (class labels: one int32, the same size).
  static constexpr std::size_t target_floats = output_shape::size;
  /// Whether replicate shards the optimizer's state over the replicas (shard_optimizer).
  static constexpr bool sharded_optimizer = [] {
    if constexpr (requires { Policy::sharded; }) return bool{Policy::sharded};
    else return false;
  }();
  static_assert(host_stage_fits<Policy, G, device_layout>());  // graph/cpu_prefix.hpp: what may be on<cpu>

  /// Whether any program holds a collective or a message.
  static constexpr bool communicates = [] {
    for (const auto& p : Policy::template programs<G>)
      for (const instruction& i : p)
        if (communicates_op(i.op)) return true;
    return false;
  }();

  model(device_set<Backend> devices, place_options options) : options_(options) {
    if (devices.count < device_count)
      fail(std::string(Policy::name) + " needs " + std::to_string(device_count) + " devices but place was given " +
               std::to_string(devices.count),
           "each logical device of the policy runs on a device of its own",
           "pass at least " + std::to_string(device_count) + " devices to place(...), e.g. host_devices(" +
               std::to_string(device_count) + ")");
    build(device_count, devices);
  }

  /// The mesh across the processes of a job: this process runs devices [first, first + local.count).
  /// Each process must hold whole inner groups (pipeline stages and tensor shards talk through memory);
  /// the data-parallel groups span processes (hierarchical_comm).
  model(process_devices<Backend> devices, place_options options) : options_(options), processes_(devices.processes) {
    if (!processes_)
      fail("place(...) is given process_devices without processes", "a mesh across processes needs the job's processes",
           "build them with across_processes(world, devices) (plait/mpi.hpp)");
    const std::size_t q = processes_->size(), k = devices.local.count;
    // First: every process states the same model and device count, so the checks below fail alike everywhere.
    processes_->check_consistent(
        run_identity{.signature = signature, .parameter_count = layout::parameter_count, .devices_per_process = k});
    const std::string job = cat("the job has ", q, " process", q == 1 ? "" : "es", " of ", k, " device", k == 1 ? "" : "s");
    if (q * k != device_count)
      fail(cat(Policy::name, " needs ", device_count, " devices, but ", job),
           "each logical device of the policy runs on a device of its own, and every process runs the same number",
           device_count % q == 0 ? cat("give each process ", device_count / q, " devices (host_devices(", device_count / q, "))")
                                 : cat("start a number of processes that divides ", device_count));
    if (k % inner_count != 0)
      fail(cat(Policy::name, " would split a replica's ", inner_count, " devices across processes: ", job),
           "across processes plait spans the data-parallel dimension; a replica's pipeline stages and tensor shards run "
           "in one process",
           cat("give each process a multiple of ", inner_count, " devices, e.g. replicate<", q, ", ...> over ", q,
               " processes of ", inner_count, " devices"));
    if (q > 1 && layout::replica_sum_size > 0)
      fail(cat(Policy::name, " with synchronised batch statistics spans ", q, " processes"),
           "sync_batchnorm2d sums its statistics across the replicas of one process so far",
           "use batchnorm2d, or run the replicas in one process");
    if (q > 1 && sharded_optimizer && k > 1)
      fail(cat(Policy::name, " shards its optimizer over ", q, " processes of ", k, " devices"),
           "across processes plait reduce-scatters gradients with one replica per process",
           "run one device per process, or do not shard the optimizer");
    first_ = processes_->rank() * k;
    build(k, devices.local);
  }

  /// A sampler whose replica count is this model's data-parallel degree, so the two cannot disagree.
  /// Give it to a loader; each replica then trains on exactly sampler.indices(batch, replica).
  sharded_sampler sampler(std::size_t dataset_size, sampler_options options) const {
    return sharded_sampler(dataset_size, data_parallel_degree, options);
  }

  std::size_t parameter_count() const { return layout::parameter_count; }
  std::size_t max_batch() const { return options_.max_batch; }
  std::size_t steps() const { return steps_; }

  /// This process's devices: device_count, or its share of the mesh when placed across processes.
  std::size_t local_device_count() const { return replicas_.size(); }
  /// The mesh's device that this process's device 0 is (0 unless placed across processes).
  std::size_t first_device() const { return first_; }
  /// The processes of the job (1 unless placed across processes).
  std::size_t process_count() const { return processes_ ? processes_->size() : 1; }

  /// The parameters this process's device d holds, flat (under replicate: the whole layout; under
  /// pipeline: its stage's). Device d of the process is device first_device() + d of the mesh.
  /// Host devices only: a view of the device's memory (on CUDA, gather_parameters() copies them out).
  std::span<float> parameters(std::size_t d = 0) {
    static_assert(host_memory, "plait: parameters(d) is asked of a model on CUDA devices. Its parameters live in GPU "
                               "memory, which the host cannot read in place. Fix: call gather_parameters(), which copies them.");
    return {replicas_.at(d).params(), replicas_.at(d).param_size()};
  }
  std::span<const float> gradients(std::size_t d = 0) const {
    static_assert(host_memory, "plait: gradients(d) is asked of a model on CUDA devices. Its gradients live in GPU "
                               "memory, which the host cannot read in place. Fix: read them on a model on host devices.");
    return {replicas_.at(d).grads(), replicas_.at(d).param_size()};
  }
  /// The whole model's parameters in the layout's flat order, gathered from the devices that hold them.
  std::vector<float> gather_parameters() const {
    std::vector<float> all(layout::param_buffer_size, 0.0f);
    if constexpr (tensor_parallel_degree > 1) {
      copy_blocks(all.data(), false);
    } else {
      for (const auto& r : replicas_) {
        const auto on = on_device(r);
        copy_to_host(r.ctx(), all.data() + r.param_lo(), r.params(), r.param_size());
      }
    }
    return all;
  }
  /// Layer I's parameters (weights then biases) on the first device that holds it. Write them before
  /// training to set the model's parameters; every other device holding the layer gets a copy on the
  /// next step.
  template <std::size_t I>
  std::span<float> layer_parameters() {
    static_assert(tensor_parallel_degree == 1,
                  "plait: layer_parameters<I> is called on a model under partition<N>. Its layers' weights are "
                  "split across devices, so no device holds layer I whole. Fix: read gather_parameters(), or "
                  "set the parameters on a single-device model.");
    static_assert(host_memory, "plait: layer_parameters<I> is asked of a model on CUDA devices. Its parameters live in GPU "
                               "memory, which the host cannot write in place. Fix: read gather_parameters(), or set "
                               "parameters on a model on host devices.");
    params_dirty_ = true;
    return {replicas_[holder(I)].layer_params(I), layout::param_sizes[I]};
  }
  /// Bytes planned on device d: its arena and its optimizer state; and the activation part of it.
  std::size_t planned_bytes(std::size_t d = 0) const { return replicas_.at(d).planned_bytes(); }
  std::size_t optimizer_bytes(std::size_t d = 0) const { return replicas_.at(d).optimizer_bytes(); }
  std::size_t activation_bytes(std::size_t d = 0) const { return replicas_.at(d).activation_bytes(); }

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

  /// One training step on a global batch: each device's program. Returns the mean loss over the batch.
  template <Samples X, Target Y, class Loss, class Opt>
  float train_step(X x, Y y, const Loss&, Opt& opt);

  /// Forward only, in evaluation mode, for at most rows_per_call() samples; the view stays valid
  /// until the next call.
  samples<output_shape> predict(samples<input_shape> x);
  std::size_t rows_per_call() const { return replicas_[0].rows(); }

  /// Mean loss and (for class labels) accuracy over any number of samples, in evaluation mode.
  template <Target Y, class Loss>
  evaluation evaluate(samples<input_shape> x, Y y, const Loss&);

 private:
  template <class Y, class Loss, class Opt>
  struct step_job;
  struct predict_job;
  template <class Loss, class Y, class Opt>
  float eager_step(const float* x, Y y, std::size_t count, Opt& opt);

  // place_options::cuda_graph (runtime/graph_step.hpp): refused where it cannot hold, then a step
  // captured once per step kind and replayed.
  static constexpr bool has_step_graph = !std::is_same_v<typename device_traits<Backend>::step_graph, no_step_graph>;
  void check_graph_options() const;
  template <class Loss, class Y, class Opt>
  float graph_step(const float* x, Y y, std::size_t count, Opt& opt);

  // partition's collectives, on the compute thread: the next instruction needs their result.
  static void exchange(model& m, replica_type& rep, std::size_t device, const instruction& i, std::size_t rows,
                       std::size_t slot);
  samples<output_shape> predict_together(samples<input_shape> x);

  // Plans and initialises this process's `local` devices, first_ .. first_ + local - 1, and their groups.
  void build(std::size_t local, const device_set<Backend>& devices) {
    check_graph_options();
    static_assert(host_memory || layout::replica_sum_size == 0,
                  "plait: sync_batchnorm2d is placed on CUDA devices. Its statistics are summed across replicas on "
                  "host devices only so far. Fix: use batchnorm2d, or host devices.");
    const std::size_t least = data_parallel_degree * microbatch_count;
    if (options_.max_batch < least)
      fail("place_options.max_batch is " + std::to_string(options_.max_batch) + ", fewer than the " +
               std::to_string(least) + " samples one step of " + Policy::name + " needs at least",
           "every replica's every micro-batch needs at least one sample of the largest batch",
           "set max_batch to the largest global batch you will train or predict on");
    std::pmr::memory_resource* mem = options_.memory ? options_.memory : std::pmr::get_default_resource();
    const std::size_t rows = shard_of(shard_of(options_.max_batch, data_parallel_degree, 0).size(), microbatch_count, 0).size();
    replicas_.reserve(local);
    for (std::size_t l = 0; l < local; ++l) {
      const std::size_t d = first_ + l;
      const std::size_t slots = peak_inflight(Policy::template programs<G>[d]);
      replicas_.emplace_back(typename replica_type::plan{Policy::template owned<G>[d], rows, slots > 0 ? slots : 1,
                                                         shard_floats(d), target_floats},
                             device_traits<Backend>::make_context(devices, l, d), mem);
      replicas_.back().init_parameters(options_.seed);  // the same on every replica: no broadcast needed
    }
    if constexpr (tensor_parallel_degree > 1) {  // initialised as on one device, then split: training equals one device's
      std::vector<float> whole = whole_parameters<layout>(options_.seed);
      copy_blocks(whole.data(), true);
    }
    if constexpr (data_parallel_degree > 1 && layout::replica_sum_size > 0) {
      static_assert(data_parallel_degree == device_count,
                    "plait: a layer that sums across replicas (sync_batchnorm2d) is placed under a composed policy. "
                    "Its statistics are synchronised across the replicas of replicate<N> alone so far. Fix: use "
                    "batchnorm2d, or replicate<N> without an inner policy.");
      sums_ = std::make_unique<replica_sums>(data_parallel_degree, layout::replica_sum_size);
      for (std::size_t l = 0; l < local; ++l) replicas_[l].set_replica_sum(sums_->of(l));
    }
    if (processes_ && processes_->size() > 1) {  // the same calls in the same order on every process
      for (std::size_t l = 0; l < local; ++l)  // [l]: local device l of every process, on that device's memory
        across_.push_back(processes_->communicator_for(device_traits<Backend>::binding(replicas_[l].ctx())));
      world_ = processes_->communicator();
    }
    if constexpr (communicates)
      groups_.connect(replicas_, first_, inner_count, tensor_parallel_degree, across_);
    for (std::size_t l = 0; l < local; ++l)
      for (std::size_t q = 0; q < 2; ++q)
        queues_.push_back(std::make_unique<comm_queue>(communicates && device_count > 1,
                                                       [rep = &replicas_[l]] { rep->ctx().enter(); }));
    replicas_[0].ctx().enter();
    // The replicas stay where they are (reserved above; a moved model keeps the vector's storage).
    workers_ = std::make_unique<device_workers>(local, [reps = replicas_.data()](std::size_t l) { reps[l].ctx().enter(); });
    std::size_t widest = 0;
    for (std::size_t i = 0; i < device_layer_count; ++i) widest = std::max(widest, device_layout::param_sizes[i]);
    io_.plan(rows, widest);
    std::size_t buffers = 1;
    if constexpr (requires { Policy::template bucket_list<G>; }) buffers = Policy::template bucket_list<G>.size();
    names_ = event_names(Policy::template stages<G>.size(), buffers, tensor_parallel_degree > 1);
    if constexpr (has_step_graph)
      if (options_.cuda_graph) graph_.plan(options_.max_batch, input_shape::size, target_floats);
  }

  // The first of this process's devices that holds `layer` (an index into replicas_).
  std::size_t holder(std::size_t layer) const {
    for (std::size_t l = 0; l < replicas_.size(); ++l)
      if (replicas_[l].owned().first <= layer && layer < replicas_[l].owned().last) return l;
    return 0;
  }

  /// Floats of gradients device d keeps for its optimizer shard (0 without sharding).
  static constexpr std::size_t shard_floats(std::size_t d) {
    if constexpr (requires { Policy::sharded; }) {
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
  std::size_t optimizer_floats(const Opt& opt, std::size_t l) const {
    const std::size_t params = shard_floats(first_ + l) ? shard_floats(first_ + l) : replicas_[l].param_size();
    return opt.state_per_param() * params;
  }

  // Parameters written by the user reach the other devices holding the same layers before use.
  void broadcast_parameters() {
    for (std::size_t i = 0; i < device_layer_count; ++i) {
      const std::size_t from = holder(i);
      for (std::size_t d = from + 1; d < replicas_.size(); ++d)
        if (replicas_[d].owned().first <= i && i < replicas_[d].owned().last)
          io_.transfer(replicas_[0], replicas_[d], replicas_[d].layer_params(i), replicas_[from],
                       replicas_[from].layer_params(i), device_layout::param_sizes[i]);
    }
    params_dirty_ = false;
  }

  // Tensor parallelism: this process's devices' blocks of the whole model's parameters, copied from
  // `whole` (to_device) or into it (runtime/parameter_blocks.hpp).
  void copy_blocks(float* whole, bool to_device) const {
    if constexpr (tensor_parallel_degree > 1)
      for (std::size_t l = 0; l < replicas_.size(); ++l) {
        const auto on = on_device(replicas_[l]);
        plait::copy_blocks(replicas_[l], Policy::template param_blocks<G>[first_ + l], whole, to_device);
      }
  }

  // Work on the caller's thread (device 0's worker) on device r's memory: r current for the scope.
  device_scope<replica_type> on_device(const replica_type& r) const { return {replicas_[0], r}; }

  double begin_event() const { return trace_.enabled() ? trace_.now_us() : 0.0; }
  void end_event(double begin, std::size_t device, const instruction& i) {
    if (!trace_.enabled()) return;
    trace_.record({names_(i), std::uint32_t(device), communicates_op(i.op) ? trace_row::communication : trace_row::compute, begin,
                   trace_.now_us(), std::int32_t(i.microbatch), std::int32_t(steps_)});
  }
  const char* event_name(const instruction& i) const { return names_(i); }

  place_options options_;
  std::shared_ptr<process_set> processes_;  // the job's processes (null: this process runs the whole mesh)
  std::size_t first_ = 0;                   // the mesh's device that this process's device 0 is
  std::vector<std::unique_ptr<process_comm>> across_;  // [local device]: the same local device of every process
  std::unique_ptr<process_comm> world_;                // every process: the loss of a step
  std::vector<replica_type> replicas_;  // [local device]: device first_ + l of the mesh
  std::unique_ptr<replica_sums> sums_;   // synchronised batch statistics, when a layer needs them
  device_groups<Backend, replica_type> groups_;  // [local device]: its tensor, pipeline and data-parallel groups
  std::vector<std::unique_ptr<comm_queue>> queues_;  // [local device][0: collectives and sends up, 1: sends down]
  std::unique_ptr<device_workers> workers_;
  trace_recorder trace_;
  event_names names_;  // made at place(...): recording a trace allocates nothing
  host_io<replica_type, input_shape, output_shape> io_;  // copies between the host and device memory
  typename device_traits<Backend>::step_graph graph_;  // the captured step (place_options::cuda_graph)
  bool params_dirty_ = false;
  std::size_t steps_ = 0;
};

}  // namespace plait

#include "step.hpp"
#include "predict.hpp"
#include "graph_step.hpp"
