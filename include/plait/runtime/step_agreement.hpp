#pragma once
// step_agreement: across processes, every step checks that the ranks agree on the global batch size
// and the optimizer's settings, without an extra round trip: the step already sums its loss over
// the processes, and that sum becomes an all-gather of a few floats per rank (its loss, and where
// a step guard is on its squared gradient norm, then its batch size, learning rate and a hash of the
// optimizer's settings). Each rank adds the gathered values in rank order (the same bits everywhere)
// and compares the rest; a disagreement is a plait: error on every rank alike, naming the ranks and
// their values.
//
// A rank given another batch size normalises its gradients by another count; one given another
// learning rate takes another step: either silently trains replicas that differ. The check comes
// after the step's collectives (the step has run), and stops the job at that step.
//
// A step given a loader's batch (model::train_step(batch, ...)) also carries how many batches its
// epoch has left: a rank whose epoch is shorter would leave the others waiting in a step it never
// takes, so the ranks compare that count too, and all stop at the first step where it differs.

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../comm/processes.hpp"
#include "../core/error.hpp"

namespace plait {

namespace detail {
inline void mix_into(std::uint64_t& h, double v) {  // FNV-1a over the value's bits, in a fixed width
  const std::uint64_t bits = std::bit_cast<std::uint64_t>(v);
  for (int i = 0; i < 8; ++i) h = (h ^ ((bits >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
}
}  // namespace detail

/// A 24-bit hash of an optimizer's settings (exact in a float): its state per parameter and the
/// members it has of lr, momentum, weight_decay, nesterov, beta1, beta2, eps.
template <class Opt>
float settings_hash(const Opt& o) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  detail::mix_into(h, double(o.state_per_param()));
  if constexpr (requires { o.lr; }) detail::mix_into(h, double(o.lr));
  if constexpr (requires { o.momentum; }) detail::mix_into(h, double(o.momentum));
  if constexpr (requires { o.weight_decay; }) detail::mix_into(h, double(o.weight_decay));
  if constexpr (requires { o.nesterov; }) detail::mix_into(h, double(o.nesterov));
  if constexpr (requires { o.beta1; }) detail::mix_into(h, double(o.beta1));
  if constexpr (requires { o.beta2; }) detail::mix_into(h, double(o.beta2));
  if constexpr (requires { o.eps; }) detail::mix_into(h, double(o.eps));
  return float((h ^ (h >> 24) ^ (h >> 48)) & 0xffffff);
}

class step_agreement {
 public:
  static constexpr std::size_t max_values = 2;           // the loss, and the squared norm of a guarded step
  static constexpr std::size_t fields = max_values + 4;  // + global batch, lr, settings hash, batches left

  /// Buffers for `processes` ranks, made once (a step allocates nothing).
  explicit step_agreement(std::size_t processes) : mine_(fields), all_(fields * processes) {}

  /// The next sum's step is a loader's batch with `left` batches of its epoch to go (itself included);
  /// the ranks compare it. Steps on plain views leave it unknown, and unknown is not compared.
  void expect_left(std::size_t left) { left_ = float(left); }
  void forget_left() { left_ = unknown; }

  /// Sums `n` values (at most max_values) over the ranks into values[], after checking that every
  /// rank stepped on `count` samples with the same optimizer settings. `what` says the values.
  template <class Opt>
  void sum(process_comm& world, double* values, std::size_t n, std::size_t count, const Opt& opt, std::size_t step,
           const char* what) {
    const float lr = [&] {
      if constexpr (requires { opt.lr; }) return float(opt.lr);
      else return 0.0f;
    }();
    for (std::size_t j = 0; j < max_values; ++j) mine_[j] = j < n ? float(values[j]) : 0.0f;
    mine_[max_values] = float(count);
    mine_[max_values + 1] = lr;
    mine_[max_values + 2] = settings_hash(opt);
    mine_[max_values + 3] = left_;
    left_ = unknown;  // one step's
    try {
      world.all_gather(mine_.data(), all_.data(), all_.size());
    } catch (const error& e) {
      fail_in(cat("step ", step, ", ", what, " over processes"), e);
    }
    const std::size_t q = world.size();
    for (std::size_t j = 0; j < n; ++j) {
      float s = 0;  // in float and in rank order, as an all-reduce of one float did: the same bits everywhere
      for (std::size_t r = 0; r < q; ++r) s += all_[r * fields + j];
      values[j] = s;
    }
    for (std::size_t r = 1; r < q; ++r)
      for (std::size_t k = max_values; k < max_values + 3; ++k)
        if (std::memcmp(&all_[r * fields + k], &all_[k], sizeof(float)) != 0) disagree(q, step);
    bool known = true, differ = false;
    for (std::size_t r = 0; r < q; ++r) {
      known = known && all_[r * fields + max_values + 3] >= 0;
      differ = differ || all_[r * fields + max_values + 3] != all_[max_values + 3];
    }
    if (known && differ)
      fail(cat("the ranks' epochs end at different steps: at step ", step, " the batches left in the epoch are ",
               on_ranks(q, 3)),
           "a rank whose data ends first stops calling train_step, and the others would wait for it in their next "
           "step",
           "give every rank the same number of batches per epoch: the same dataset and global batch, with a loader "
           "over model.sampler(...) and replicas = model.process_replicas()");
  }

 private:
  // Field k's values with the ranks holding each: "16 on ranks 0, 2 but 12 on rank 1".
  std::string on_ranks(std::size_t q, std::size_t k) const {
    std::string part;
    for (std::size_t r = 0; r < q; ++r) {
      const float v = all_[r * fields + max_values + k];
      std::string ranks;
      bool seen = false;  // the value was listed with an earlier rank
      for (std::size_t e = 0; e < r; ++e) seen = seen || all_[e * fields + max_values + k] == v;
      if (seen) continue;
      for (std::size_t e = r; e < q; ++e)
        if (all_[e * fields + max_values + k] == v) ranks += (ranks.empty() ? "" : ", ") + std::to_string(e);
      char text[32];
      std::snprintf(text, sizeof text, k == 1 ? "%g" : "%.0f", double(v));
      part += (part.empty() ? "" : " but ") +
              cat(text, " on rank", ranks.find(',') != std::string::npos ? "s " : " ", ranks);
    }
    return part;
  }

  // Every rank sees the same gathered values, so every rank throws the same message.
  [[noreturn]] void disagree(std::size_t q, std::size_t step) const {
    static constexpr const char* names[3] = {"global batch", "learning rate", "optimizer settings hash"};
    std::string what;
    for (std::size_t k = 0; k < 3; ++k) {
      const std::string part = on_ranks(q, k);
      if (part.find(" but ") != std::string::npos)
        what += (what.empty() ? "" : "; ") + std::string(names[k]) + " " + part;
    }
    fail(cat("the ranks of this job disagree at step ", step, ": ", what),
         "every rank normalises its gradients by the global batch and applies the same update, or the replicas "
         "silently diverge",
         "give every process the same global batch (all of its rows, or the same count) and the same optimizer "
         "settings and schedule");
  }

  static constexpr float unknown = -1.0f;
  float left_ = unknown;     // the next step's batches left in its epoch (expect_left)
  std::vector<float> mine_;  // [fields]: this rank's values, count, lr, settings hash, batches left
  std::vector<float> all_;   // [fields * processes]: every rank's, in rank order
};

}  // namespace plait
