#pragma once
// What place(...) needs to know that the types do not say.

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <string>

namespace plait {

/// The flight recorder (runtime/flight_recorder.hpp): each device's last instructions and collectives.
struct flight_options {
  std::size_t records = 2000;  // kept per device and lane, the oldest overwritten (0: none recorded)
  std::string dir;             // where a dump writes plait_flight_rank<R>.json ("": $PLAIT_FLIGHT_DIR, else ".")
  bool signals = false;        // in one process too: SIGTERM and SIGUSR1 write it (across processes: always)
};

/// Which thread runs a host device's data-parallel collectives (runtime/local_groups.hpp).
enum class collectives_on {
  automatic,  // a communication worker per device, overlapping backward, unless the compute threads of
              // the job's devices fill this machine's cores: then the compute threads themselves
  worker,     // always a communication worker per device
  compute,    // always the compute thread, where the program reaches the collective
};

struct place_options {
  std::size_t max_batch = 256;                  // activations are planned for this many samples per device
  std::uint64_t seed = 0;                       // initial parameters
  std::pmr::memory_resource* memory = nullptr;  // where the arena comes from (default: new/delete)
  bool cuda_graph = false;  // capture a training step in a CUDA graph and replay it (one CUDA device: docs/cuda.md)
  flight_options flight{};  // written on an error, a deadline, SIGTERM or SIGUSR1 (docs/training.md)
  std::size_t memory_budget = 0;                           // bytes each device may hold (memory_plan.hpp); 0: no budget
  collectives_on collectives = collectives_on::automatic;  // host devices in one process (docs/distributed.md)
};

/// Says that a call is given only this process's rows of a global batch of `global_batch` samples (the
/// rows of its replicas, model::rows_of_process):
///   model.train_step(x, y, loss, opt, process_rows{.global_batch = 256});
struct process_rows {
  std::size_t global_batch = 0;
};

/// What evaluate(...) measured over a data set.
struct evaluation {
  double loss = 0;      // mean loss per sample
  double accuracy = 0;  // fraction of samples whose arg-max equals the label (class labels only)
  std::size_t count = 0;
};

}  // namespace plait
