#pragma once
// The jobs a device's executor runs (executor.hpp): what one run of its programs reads and fills in.
// train_job for a training step (train_step.hpp, accumulate_step.hpp, graph_step.hpp), inference_job
// for predict and evaluate (inference.hpp). Plain aggregates, apart from the model, so that every
// header of the model's calls can name them whichever is included first.

#include <array>
#include <cstddef>
#include <type_traits>

namespace plait {

class deferred_update;  // step_guard.hpp
struct pc_options;      // predictive_coding.hpp
struct pc_energy;       // predictive_coding.hpp

/// One training step's inputs and results, as every device's executor reads them (executor.hpp).
template <class L, class Y, class Opt, std::size_t Devices>
struct train_job {
  static constexpr bool training = true;
  static constexpr bool predictive_coding = false;
  using loss_type = L;
  const float* x;  // [count, in] @ host: the global batch
  Y y;             // its targets @ host
  std::size_t count;
  Opt* opt;
  std::size_t replicas = 0;                 // the batch is split over the data-parallel degree (0) ...
  std::size_t first_replica = 0;            // ... from replica 0 (across processes too)
  std::array<float*, Devices> state{};      // [local device]: its optimizer state
  std::array<double, Devices> loss_sums{};  // [local device]: its micro-batches' summed losses
  double* loss_at = nullptr;                // [1] @ device 0: where a captured step sums its loss (graph_step.hpp)
  bool loss_added = false;
  deferred_update* guard = nullptr;  // set: each device measures its gradient and leaves the update (step_guard.hpp)
  // accumulate_step (accumulate_step.hpp): this job is one chunk of a larger batch.
  std::size_t total = 0;      // samples of the whole batch, that the loss is normalised by (0: count)
  bool accumulating = false;  // add the gradients onto the chunks' before
  bool local_only = false;    // a chunk before the last: no data-parallel collective, no update
};

/// A predictive-coding step (pc_step.hpp): a training job whose devices run their predictive-coding
/// programs (program/predictive_coding.hpp) with these settings.
template <class L, class Y, class Opt, std::size_t Devices>
struct pc_job : train_job<L, Y, Opt, Devices> {
  static constexpr bool predictive_coding = true;
  const pc_options* pc = nullptr;
  std::array<pc_energy, Devices> energy{};  // [local device]: what it measured of the energy (complete where used)
};

/// What one inference run reads and fills in, as every device's executor reads it (executor.hpp).
/// L = void: predict (no targets, no loss).
template <class L, class Y, std::size_t Devices>
struct inference_job {
  static constexpr bool training = false;
  static constexpr bool predictive_coding = false;
  static constexpr bool evaluates = !std::is_void_v<L>;
  using loss_type = L;
  const float* x;  // [count, in] @ host
  Y y;             // its targets @ host (evaluate)
  std::size_t count;
  float* out;                               // [count, out] @ host: the output rows, filled by gather
  std::size_t replicas = 1;                 // the rows are split over this process's replicas ...
  std::size_t first_replica = 0;            // ... the first of which is this one of the mesh
  std::array<double, Devices> loss_sums{};  // [local device]: summed losses of the rows it gathered
};

}  // namespace plait
