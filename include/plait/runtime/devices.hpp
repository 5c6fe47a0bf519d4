#pragma once
// placed_devices<Plan, Backend>: the devices a model runs on, built once at place(...).
//
// It checks what only the run knows against the plan (device count, max_batch, across processes:
// the same model everywhere, a mesh the processes can hold), then builds this process's devices:
// for each, its planned memory (device_memory.hpp), initial parameters (the same on every replica,
// from the seed), its communicator groups (device_groups.hpp) and its executor (executor.hpp) with a
// communication worker where the programs communicate; one worker thread per device beyond the
// first (workers.hpp; device 0 is the caller's thread). run(job, step) executes every device's
// program for the job at once.
//
// Across processes (process_devices): this process runs the mesh's devices [first, first + local),
// whole inner groups (a replica's stages and shards talk through memory); the data-parallel groups
// span processes (hierarchical_comm), and `world` sums a step's loss over them.

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <memory_resource>
#include <span>
#include <string>
#include <vector>

#include "../comm/hierarchical.hpp"
#include "../comm/processes.hpp"
#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "../core/signature.hpp"
#include "../io/chrome_trace.hpp"
#include "../io/trace.hpp"
#include "device_groups.hpp"
#include "device_memory.hpp"
#include "device_scope.hpp"
#include "event_names.hpp"
#include "executor.hpp"
#include "flight_recorder.hpp"
#include "options.hpp"
#include "parameter_blocks.hpp"
#include "replica_sums.hpp"
#include "workers.hpp"

namespace plait {

template <class Plan, class Backend>
class placed_devices {
 public:
  using memory_type = device_memory<typename Plan::device_graph, Backend>;
  using executor_type = device_executor<Plan, Backend>;
  using layout = typename Plan::layout;
  static constexpr std::size_t device_count = Plan::device_count;
  /// A hash of (policy, graph) types, for ranks to check at start-up that they build one model.
  static constexpr std::uint64_t signature = signature_of<typename Plan::policy, typename Plan::graph>;

  placed_devices(device_set<Backend> devices, place_options options) : options_(options) {
    constexpr std::size_t needed = Plan::physical_device_count;
    if (devices.count < needed)
      fail(cat(Plan::name, " needs ", needed, " devices but place was given ", devices.count),
           Plan::takes_turns ? "each device runs its stages, which take turns on it"
                             : "each logical device of the policy runs on a device of its own",
           cat("pass at least ", needed, " devices to place(...), e.g. host_devices(", needed, ")"));
    build(device_count, devices);
  }

  placed_devices(process_devices<Backend> devices, place_options options)
      : options_(options), processes_(devices.processes) {
    if (!processes_)
      fail("place(...) is given process_devices without processes", "a mesh across processes needs the job's processes",
           "build them with across_processes(world, devices) (plait/mpi.hpp)");
    if (Plan::takes_turns)
      fail(cat(Plan::name, " with a chunked schedule (", Plan::schedule_name, ") is placed across processes"),
           "its stages take turns on their devices within one process, which is not built across processes yet",
           "use one_f_one_b or zb_h1 across processes, or run the chunked pipeline in one process");
    const std::size_t q = processes_->size(), k = devices.local.count;
    // First: every process states the same model and device count, so the checks below fail alike everywhere.
    processes_->check_consistent(
        run_identity{.signature = signature, .parameter_count = layout::parameter_count, .devices_per_process = k});
    const std::string job =
        cat("the job has ", q, " process", q == 1 ? "" : "es", " of ", k, " device", k == 1 ? "" : "s");
    if (q * k != device_count)
      fail(cat(Plan::name, " needs ", device_count, " devices, but ", job),
           "each logical device of the policy runs on a device of its own, and every process runs the same number",
           device_count % q == 0
               ? cat("give each process ", device_count / q, " devices (host_devices(", device_count / q, "))")
               : cat("start a number of processes that divides ", device_count));
    if (k % Plan::inner_count != 0)
      fail(
          cat(Plan::name, " would split a replica's ", Plan::inner_count, " devices across processes: ", job),
          "across processes plait spans the data-parallel dimension; a replica's pipeline stages and tensor shards run "
          "in one process",
          cat("give each process a multiple of ", Plan::inner_count, " devices, e.g. replicate<", q, ", ...> over ", q,
              " processes of ", Plan::inner_count, " devices"));
    if (q > 1 && layout::replica_sum_size > 0)
      fail(cat(Plan::name, " with synchronised batch statistics spans ", q, " processes"),
           "sync_batchnorm2d sums its statistics across the replicas of one process so far",
           "use batchnorm2d, or run the replicas in one process");
    if (q > 1 && Plan::sharded && k > 1)
      fail(cat(Plan::name, " shards its optimizer over ", q, " processes of ", k, " devices"),
           "across processes plait reduce-scatters gradients with one replica per process",
           "run one device per process, or do not shard the optimizer");
    first_ = processes_->rank() * k;
    build(k, devices.local);
  }

  const place_options& options() const { return options_; }
  /// This process's devices, and the mesh's device that its device 0 is.
  std::size_t local_count() const { return memories_.size(); }
  std::size_t first() const { return first_; }
  std::size_t process_count() const { return processes_ ? processes_->size() : 1; }
  std::size_t process_rank() const { return processes_ ? processes_->rank() : 0; }
  /// Local device l's memory: device first() + l of the mesh.
  memory_type& memory(std::size_t l) { return memories_[l]; }
  const memory_type& memory(std::size_t l) const { return memories_[l]; }
  /// Every process: sums a step's loss across them (null within one process).
  process_comm* world() const { return world_.get(); }
  /// Local device l's data-parallel group (its replicas of the same inner rank).
  auto& data_group(std::size_t l) { return groups_.data[l]; }
  /// Samples per micro-batch of one replica, at most: what each device's activations are planned for.
  std::size_t rows() const { return memories_[0].rows(); }

  /// The first of this process's devices that holds device-graph layer `layer`.
  std::size_t holder(std::size_t layer) const {
    for (std::size_t l = 0; l < memories_.size(); ++l)
      if (memories_[l].owned().first <= layer && layer < memories_[l].owned().last) return l;
    return 0;
  }
  /// Work on the caller's thread (device 0's worker) on local device l's memory: l current for the scope.
  device_scope<memory_type> on_device(std::size_t l) const { return {memories_[0], memories_[l]}; }

  /// Every device's program for `job`, at once, in step `step`; rethrows the first device's error.
  template <class Job>
  void run(Job& job, std::uint64_t step) {
    [[maybe_unused]] const auto keep = caller();
    struct call {
      placed_devices& self;
      Job& job;
      std::uint64_t step;
      static void on(void* arg, std::size_t l) {  // l: a logical device, or a device whose stages take turns
        auto& c = *static_cast<call*>(arg);
        if constexpr (Plan::takes_turns) executor_type::run_together(c.self.raw_.data(), l, c.job, c.step);
        else c.self.executors_[l]->run(c.job, c.step);
      }
    } c{*this, job, step};
    recorded([&] { workers_->run(&call::on, &c); });
  }
  /// fn(arg, l) for every local device l at once, each on its worker thread (a guarded step's update);
  /// logical devices that take turns on one device one after another on its thread.
  void each(device_workers::job_fn fn, void* arg) {
    if constexpr (Plan::takes_turns) {
      struct call {
        device_workers::job_fn fn;
        void* arg;
        static void on(void* a, std::size_t p) {
          auto& c = *static_cast<call*>(a);
          for (std::size_t l : Plan::turn_members[p]) c.fn(c.arg, l);
        }
      } c{fn, arg};
      recorded([&] { workers_->run(&call::on, &c); });
    } else {
      recorded([&] { workers_->run(fn, arg); });
    }
  }
  /// Local device l's program alone, on the caller's thread (a CUDA graph's capture of one device).
  template <class Job>
  void run_one(std::size_t l, Job& job, std::uint64_t step) {
    [[maybe_unused]] const auto keep = caller();
    recorded([&] { executors_[l]->run(job, step); });
  }
  /// For a call of the model on the user's thread: device 0 current while it lasts, the user's own after.
  typename device_traits<Backend>::caller_scope caller() const {
    return typename device_traits<Backend>::caller_scope(memories_[0].ctx());
  }

  /// Records every instruction each device executes, from now on.
  void enable_trace(std::size_t capacity_per_device) { trace_ = trace_recorder(device_count, capacity_per_device); }
  const trace_recorder& trace() const { return trace_; }
  /// The last instructions and collectives of this process's devices, always recorded (flight_recorder.hpp).
  const flight_recorder& flight() const { return *flight_; }
  /// What was recorded, as a Chrome trace: one track per device, compute and communication as rows.
  void write_trace(const std::filesystem::path& path) const {
    const auto events = trace_.events();
    trace_metadata meta;
    meta.title = std::string("plait ") + Plan::name + ": executed";
    for (std::size_t d = 0; d < device_count; ++d)
      meta.device_names.push_back(Plan::takes_turns ? cat("device ", Plan::device_of[d], ", stage ", d)
                                                    : "device " + std::to_string(d));
    write_chrome_trace(path, std::span<const trace_event>(events), meta);
  }

 private:
  // Runs a step's work; an error out of it writes the flight recorder's file and names it (flight_recorder.hpp).
  template <class F>
  void recorded(F&& work) {
    try {
      work();
    } catch (const error& e) {
      if (!flight_->dumps_on_error()) throw;
      throw error(flight_->on_error(e.what()));
    }
  }

  // Plans and initialises this process's `local` devices, first_ .. first_ + local - 1, and their groups.
  void build(std::size_t local, const device_set<Backend>& devices) {
    static_assert(memory_type::host_memory || layout::replica_sum_size == 0,
                  "plait: sync_batchnorm2d is placed on CUDA devices. Its statistics are summed across replicas on "
                  "host devices only so far. Fix: use batchnorm2d, or host devices.");
    const std::size_t least = Plan::data_parallel_degree * Plan::microbatch_count;
    if (options_.max_batch < least)
      fail(cat("place_options.max_batch is ", options_.max_batch, ", fewer than the ", least, " samples one step of ",
               Plan::name, " needs at least"),
           "every replica's every micro-batch needs at least one sample of the largest batch",
           "set max_batch to the largest global batch you will train or predict on");
    std::pmr::memory_resource* mem = options_.memory ? options_.memory : std::pmr::get_default_resource();
    const std::size_t rows =
        shard_of(shard_of(options_.max_batch, Plan::data_parallel_degree, 0).size(), Plan::microbatch_count, 0).size();
    memories_.reserve(local);  // the memories stay where they are: executors and workers point at them
    for (std::size_t l = 0; l < local; ++l) {
      const std::size_t d = first_ + l;
      memories_.emplace_back(
          typename memory_type::plan{Plan::owned[d], rows, Plan::slots[d], Plan::shard_floats[d],
                                     layout::output_shape::size, Plan::splits_backward},
          device_traits<Backend>::make_context(devices, Plan::takes_turns ? Plan::device_of[d] : l, d), mem);
      memories_.back().init_parameters(options_.seed);  // the same on every replica: no broadcast needed
    }
    if constexpr (Plan::has_param_blocks) {  // initialised as on one device, then split: training equals one device's
      std::vector<float> whole = whole_parameters<layout>(options_.seed);
      for (std::size_t l = 0; l < local; ++l) {
        const auto on = on_device(l);
        copy_blocks(memories_[l], Plan::param_blocks[first_ + l], whole.data(), true);
      }
    }
    if constexpr (Plan::data_parallel_degree > 1 && layout::replica_sum_size > 0) {
      static_assert(Plan::data_parallel_degree == device_count,
                    "plait: a layer that sums across replicas (sync_batchnorm2d) is placed under a composed policy. "
                    "Its statistics are synchronised across the replicas of replicate<N> alone so far. Fix: use "
                    "batchnorm2d, or replicate<N> without an inner policy.");
      sums_ = std::make_unique<replica_sums>(Plan::data_parallel_degree, layout::replica_sum_size);
      for (std::size_t l = 0; l < local; ++l) memories_[l].set_replica_sum(sums_->of(l));
    }
    if (processes_ && processes_->size() > 1) {  // the same calls in the same order on every process
      for (std::size_t l = 0; l < local; ++l)    // [l]: local device l of every process, on that device's memory
        across_.push_back(processes_->communicator_for(device_traits<Backend>::binding(memories_[l].ctx())));
      world_ = processes_->communicator();
    }
    if constexpr (Plan::communicates)
      groups_.connect(memories_, first_, Plan::inner_count, Plan::tensor_parallel_degree, across_,
                      processes_ ? processes_->size() : 1, options_.collectives, Plan::turns_per_device);
    names_ = event_names(Plan::stages.size(), std::max<std::size_t>(1, Plan::buckets.size()),
                         Plan::tensor_parallel_degree > 1);
    const bool job = processes_ != nullptr;  // across processes: a stopped job is read from every rank's file
    flight_ = std::make_unique<flight_recorder>(
        local, options_.flight.records,
        flight_identity{processes_ ? processes_->rank() : 0, process_count(), first_, Plan::name, options_.flight.dir,
                        job || !options_.flight.dir.empty() || std::getenv("PLAIT_FLIGHT_DIR") != nullptr});
    if (job || options_.flight.signals) flight_->install_signal_handlers();
    for (std::size_t l = 0; l < local; ++l) {
      typename executor_type::links links;
      if constexpr (Plan::communicates) links = {&groups_.tensor[l], &groups_.pipeline[l], &groups_.data[l]};
      executors_.push_back(std::make_unique<executor_type>(
          memories_[l], first_ + l, l, links, typename executor_type::tracing{&trace_, &names_, flight_.get()},
          Plan::communicates && device_count > 1 && !groups_.collectives_inline));
    }
    for (auto& e : executors_) raw_.push_back(e.get());
    memories_[0].ctx().enter();
    if constexpr (Plan::takes_turns)  // one thread per device, for the logical devices that take turns on it
      workers_ = std::make_unique<device_workers>(Plan::physical_device_count, [m = memories_.data()](std::size_t p) {
        m[Plan::turn_members[p][0]].ctx().enter();
      });
    else
      workers_ = std::make_unique<device_workers>(local, [m = memories_.data()](std::size_t l) { m[l].ctx().enter(); });
  }

  place_options options_;
  std::shared_ptr<process_set> processes_;             // the job's processes (null: this process runs the whole mesh)
  std::size_t first_ = 0;                              // the mesh's device that this process's device 0 is
  std::vector<std::unique_ptr<process_comm>> across_;  // [local device]: the same local device of every process
  std::unique_ptr<process_comm> world_;                // every process: the loss of a step
  std::vector<memory_type> memories_;                  // [local device]: device first_ + l of the mesh
  std::unique_ptr<replica_sums> sums_;                 // synchronised batch statistics, when a layer needs them
  device_groups<Backend, memory_type> groups_;         // [local device]: its tensor, pipeline and data-parallel groups
  trace_recorder trace_;
  event_names names_;                                      // made at place(...): recording a trace allocates nothing
  std::unique_ptr<flight_recorder> flight_;                // after names_: its records point at them
  std::vector<std::unique_ptr<executor_type>> executors_;  // [local device]
  std::vector<executor_type*> raw_;                        // [local device]: the executors, for run_together
  std::unique_ptr<device_workers> workers_;                // last: its threads stop before the rest goes
};

}  // namespace plait
