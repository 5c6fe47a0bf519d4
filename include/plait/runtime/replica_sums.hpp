#pragma once
// replica_sums: what a layer's `replica_sum` calls under data parallelism (synchronised
// batchnorm's statistics). Each replica copies its doubles into its own slot, all meet at a
// barrier, each sums every slot in replica order (so all hold the same bits, and the result does
// not depend on which thread came first), and all meet again before a slot may be overwritten.
//
// It runs on the compute threads, in the middle of forward and backward, beside the gradient
// collectives that the communication threads run; it therefore has a group of its own (its
// barriers cannot be confused with theirs). Slots are sized at place(...): a call allocates nothing.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "../comm/host/local_group.hpp"
#include "../core/concepts.hpp"
#include "../core/error.hpp"

namespace plait {

class replica_sums {
 public:
  /// `replicas` ranks, each summing at most `capacity` doubles per call.
  replica_sums(std::size_t replicas, std::size_t capacity)
      : group_(std::make_unique<local_group>(replicas)), capacity_(capacity), slots_(replicas * capacity) {
    for (std::size_t r = 0; r < replicas; ++r) ranks_.push_back(rank{this, r});
  }
  replica_sums(const replica_sums&) = delete;
  replica_sums& operator=(const replica_sums&) = delete;

  /// What replica r's layers call. Valid while this object lives.
  replica_sum of(std::size_t r) { return {&call, &ranks_.at(r)}; }

 private:
  struct rank {
    replica_sums* owner;
    std::size_t index;
  };

  static void call(void* ctx, double* data, std::size_t n) {
    const rank& me = *static_cast<rank*>(ctx);
    me.owner->sum(me.index, data, n);
  }

  void sum(std::size_t r, double* data, std::size_t n) {  // data: [n] @ replica r -> the sum over replicas
    if (n > capacity_)
      fail("a layer summed " + std::to_string(n) + " doubles across replicas, more than the " +
               std::to_string(capacity_) + " planned",
           "replica_sums are sized from the layers' replica_sum_count at place(...)", "report this as a plait bug");
    const std::size_t replicas = ranks_.size();
    double* mine = slots_.data() + r * capacity_;
    for (std::size_t i = 0; i < n; ++i) mine[i] = data[i];
    local_comm comm = group_->comm(r);
    comm.barrier();  // every slot is written
    for (std::size_t i = 0; i < n; ++i) {
      double s = 0;
      for (std::size_t q = 0; q < replicas; ++q) s += slots_[q * capacity_ + i];
      data[i] = s;
    }
    comm.barrier();  // every slot has been read: the next call may overwrite them
  }

  std::unique_ptr<local_group> group_;
  std::size_t capacity_;
  std::vector<double> slots_;  // [replicas, capacity]
  std::vector<rank> ranks_;
};

}  // namespace plait
