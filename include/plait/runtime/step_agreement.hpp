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
  static constexpr std::size_t max_values = 2;  // the loss, and the squared norm of a guarded step
  static constexpr std::size_t fields = max_values + 3;

  /// Buffers for `processes` ranks, made once (a step allocates nothing).
  explicit step_agreement(std::size_t processes) : mine_(fields), all_(fields * processes) {}

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
      for (std::size_t k = max_values; k < fields; ++k)
        if (std::memcmp(&all_[r * fields + k], &all_[k], sizeof(float)) != 0) disagree(q, step);
  }

 private:
  // Every rank sees the same gathered values, so every rank throws the same message.
  [[noreturn]] void disagree(std::size_t q, std::size_t step) const {
    static constexpr const char* names[3] = {"global batch", "learning rate", "optimizer settings hash"};
    std::string what;
    for (std::size_t k = 0; k < 3; ++k) {
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
      if (part.find(" but ") != std::string::npos)
        what += (what.empty() ? "" : "; ") + std::string(names[k]) + " " + part;
    }
    fail(cat("the ranks of this job disagree at step ", step, ": ", what),
         "every rank normalises its gradients by the global batch and applies the same update, or the replicas "
         "silently diverge",
         "give every process the same global batch (all of its rows, or the same count) and the same optimizer "
         "settings and schedule");
  }

  std::vector<float> mine_;  // [fields]: this rank's values, count, lr, settings hash
  std::vector<float> all_;   // [fields * processes]: every rank's, in rank order
};

}  // namespace plait
