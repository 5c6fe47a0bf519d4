#pragma once
// sharded_sampler: which dataset samples each data-parallel replica trains on, batch by batch.
//
//   plait::sharded_sampler s(train.size(), /*replicas=*/4, {.global_batch = 256, .seed = 1});
//   for (std::uint64_t epoch = 0; epoch < 5; ++epoch) {
//     s.set_epoch(epoch);
//     for (std::size_t b = 0; b < s.batches_per_epoch(); ++b)
//       train.gather(s.indices(b, r), x, y);                // [64, x_shape] @ replica r
//   }
//
// An epoch's order is permutation(n, seed, epoch) (shuffle.hpp), or 0..n-1 without shuffle; every
// replica computes it alike from (seed, epoch), so no replica has to send indices to another.
// Global batch b is positions [b * global_batch, (b + 1) * global_batch) of that order, and replica
// r's part of it is shard_of(global_batch, replicas, r) (core/shard.hpp): the same rule the runtime
// scatters a batch by, so a replicated step sees exactly the samples one device would.
//
// The last global batch, when n % global_batch != 0:
//   drop_last  it is dropped: batches_per_epoch = n / global_batch; those samples wait for an epoch
//              that shuffles them forward.
//   pad        it is filled to global_batch by repeating the epoch's order from its start (as
//              PyTorch's DistributedSampler does), so every replica gets its full share and the
//              collectives of every step have the same sizes on every replica.

#include <cstddef>
#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "shuffle.hpp"

namespace plait {

/// Replicas [first, last) of a sampler; last = all means through the sampler's last replica. A
/// process that hosts some of a model's replicas gathers their parts: model::process_replicas().
struct replica_range {
  static constexpr std::size_t all = static_cast<std::size_t>(-1);
  std::size_t first = 0;
  std::size_t last = all;
};

/// What happens to the samples that do not fill the last global batch.
enum class last_batch { drop, pad };

struct sampler_options {
  std::size_t global_batch = 0;  // samples per step over all replicas; required
  bool shuffle = true;           // false: dataset order in every epoch
  std::uint64_t seed = 0;        // with the epoch number, fixes the order (see shuffle.hpp)
  last_batch last = last_batch::drop;
};

class sharded_sampler {
 public:
  /// Allocates the epoch's order once; set_epoch, indices and global_indices never allocate.
  sharded_sampler(std::size_t dataset_size, std::size_t replicas, sampler_options options)
      : n_(dataset_size), replicas_(replicas), options_(options) {
    const std::size_t gb = options.global_batch;
    expect(gb > 0, "sharded_sampler global_batch is 0", "Every step needs at least one sample",
           "set sampler_options{.global_batch = ...} to a positive number");
    expect(replicas > 0, "sharded_sampler over 0 replicas", "Someone has to train on the batches",
           "pass the policy's data-parallel degree (at least 1)");
    expect(gb >= replicas,
           "sharded_sampler global_batch " + std::to_string(gb) + " is smaller than the " + std::to_string(replicas) +
               " replicas",
           "Each global batch is split over the replicas and at least one replica would get no sample",
           "make global_batch at least the number of replicas");
    expect(n_ > 0, "sharded_sampler over an empty dataset", "There is nothing to sample",
           "load the data before making the sampler");
    if (options.last == last_batch::drop) {
      expect(n_ >= gb,
             "sharded_sampler global_batch " + std::to_string(gb) + " is larger than the dataset (" +
                 std::to_string(n_) + " samples) with drop_last",
             "With drop_last the only global batch, a partial one, is dropped, so an epoch would be empty",
             "lower global_batch, or set last = last_batch::pad");
      batches_ = n_ / gb;
    } else {
      batches_ = (n_ + gb - 1) / gb;
    }
    order_.resize(batches_ * gb > n_ ? batches_ * gb : n_);
    set_epoch(0);
  }

  std::size_t replicas() const { return replicas_; }
  std::size_t batches_per_epoch() const { return batches_; }
  std::size_t global_batch() const { return options_.global_batch; }
  std::size_t dataset_size() const { return n_; }
  std::uint64_t epoch() const { return epoch_; }
  const sampler_options& options() const { return options_; }

  /// Samples replica r gets per global batch: shard_of(global_batch, replicas, r).size().
  std::size_t batch_size(std::size_t replica) const {
    return shard_of(options_.global_batch, replicas_, replica).size();
  }

  /// Starts epoch e (any epoch, in any order): the same order on every replica for the same
  /// (seed, e). Invalidates the spans handed out before.
  void set_epoch(std::uint64_t e) {
    epoch_ = e;
    const std::span<std::size_t> epoch_order(order_.data(), n_);
    if (options_.shuffle) shuffle_indices(epoch_order, options_.seed, e);
    else std::iota(epoch_order.begin(), epoch_order.end(), std::size_t{0});
    // The padded tail repeats the order from its start, wrapping again when the dataset is smaller
    // than the padding (n < global_batch), as DistributedSampler does. Under drop_last there is no tail.
    for (std::size_t k = n_; k < order_.size(); ++k) order_[k] = order_[k - n_];
  }

  /// The epoch's order of the n samples (before any padding): global batch b is positions
  /// [b * global_batch, (b + 1) * global_batch) of it, continued into the padding under pad.
  std::span<const std::size_t> order() const { return std::span<const std::size_t>(order_).first(n_); }

  /// The dataset indices of global batch b for `replica`: contiguous part shard_of(global_batch,
  /// replicas, replica) of global_indices(b).
  std::span<const std::size_t> indices(std::size_t batch, std::size_t replica) const {
    check_batch(batch);
    if (replica >= replicas_) [[unlikely]]
      fail("sharded_sampler replica " + std::to_string(replica) + " is out of range",
           "The sampler splits each global batch over " + std::to_string(replicas_) + " replicas",
           "pass a replica below replicas()");
    const shard part = shard_of(options_.global_batch, replicas_, replica);
    return global_indices(batch).subspan(part.begin, part.size());
  }

  /// The whole global batch b, the replicas' parts in replica order.
  std::span<const std::size_t> global_indices(std::size_t batch) const {
    check_batch(batch);
    return std::span<const std::size_t>(order_).subspan(batch * options_.global_batch, options_.global_batch);
  }

 private:
  void check_batch(std::size_t batch) const {
    if (batch >= batches_) [[unlikely]]
      fail("sharded_sampler batch " + std::to_string(batch) + " is out of range",
           "An epoch has " + std::to_string(batches_) + " global batches", "pass a batch below batches_per_epoch()");
  }

  std::size_t n_ = 0;
  std::size_t replicas_ = 0;
  sampler_options options_;
  std::size_t batches_ = 0;
  std::uint64_t epoch_ = 0;
  std::vector<std::size_t> order_;  // [max(batches * global_batch, n)] epoch order, then the padded tail
};

}  // namespace plait
