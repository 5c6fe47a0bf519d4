#pragma once
// loader<Dataset>: cuts a dataset into batches, one epoch at a time, in the shuffled order of
// (seed, epoch). With prefetch, a background thread gathers batch k+1 while the caller trains
// on batch k (double buffering), so the copy is hidden behind the step.
//
//   plait::loader batches(train, {.batch_size = 128, .seed = 1});
//   for (int epoch = 0; epoch < 5; ++epoch)
//     for (auto& b : batches.epoch(epoch)) model.train_step(b.x, b.y, ...);
//
// Over a sharded_sampler, batch b is the sampler's global batch b, so that the runtime's scatter by
// shard_of hands replica r exactly sampler.indices(b, r); with .replicas = {first, last}, only the
// parts of replicas [first, last), for a process that hosts just those:
//
//   plait::sharded_sampler s(train.size(), 4, {.global_batch = 256, .seed = 1, .last = plait::last_batch::pad});
//   plait::loader mine(train, s, {.replicas = {2, 4}});  // [128, x_shape] per batch: replicas 2 and 3
//
// Both modes are one machinery: batch k is a window of the sampler's global batch k. Without a
// sampler the loader builds its own over one replica, with global_batch = min(batch_size, n) and
// the last batch padded, then trims the padding off: that leaves the partial last batch.
//
// Buffers: two slots, each [batch, x_size] features and [batch, y_size] targets, allocated at
// construction; batch k lives in slot k % 2. A batch stays valid until the next batch is
// requested or a new epoch begins. The dataset must outlive the loader.

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "dataset.hpp"
#include "sharded_sampler.hpp"
#include "shuffle.hpp"

namespace plait {

/// With a sampler, the sampler fixes batch_size, shuffle, seed and drop_last: leave them at their
/// defaults (or repeat the sampler's values). replicas applies with a sampler only, prefetch always.
struct loader_options {
  std::size_t batch_size = 0;   // samples per batch; required without a sampler
  bool shuffle = true;          // false: dataset order in every epoch
  std::uint64_t seed = 0;       // with the epoch number, fixes the order (see shuffle.hpp)
  bool drop_last = false;       // true: skip the final batch when it would be smaller
  bool prefetch = true;         // false: gather on the calling thread (same batches, no overlap)
  replica_range replicas = {};  // with a sampler: whose parts of each global batch to gather
};

template <Dataset D>
class loader {
  using traits = target_traits<typename D::target_kind>;
  using target_value = typename traits::value_type;
  static constexpr std::size_t x_size = D::x_shape::size;
  static constexpr std::size_t y_size = traits::width;

 public:
  struct batch {
    samples<typename D::x_shape> x;        // [size(), x_shape]
    typename D::target_kind y;             // [size()] class ids, or [size(), y_shape]
    std::span<const std::size_t> indices;  // the dataset indices of these samples, in order
    std::size_t number = 0;                // position of the batch in its epoch
    std::size_t batches = 0;               // batches in its epoch
    std::size_t global = 0;                // samples of the global batch it is a part of (its replicas' rows)

    std::size_t size() const { return x.count; }
  };

  /// One pass over the batches of an epoch, for range-for. Single pass: begin() takes the first batch.
  class epoch_range {
   public:
    class iterator {
     public:
      using value_type = batch;
      using difference_type = std::ptrdiff_t;
      const batch& operator*() const { return *current_; }
      const batch* operator->() const { return current_; }
      iterator& operator++() {
        current_ = owner_->next();
        return *this;
      }
      void operator++(int) { ++*this; }
      bool operator==(std::default_sentinel_t) const { return current_ == nullptr; }

     private:
      friend class epoch_range;
      iterator(loader* owner, const batch* current) : owner_(owner), current_(current) {}
      loader* owner_;
      const batch* current_;
    };

    iterator begin() { return iterator(owner_, owner_->next()); }
    std::default_sentinel_t end() const { return {}; }

   private:
    friend class loader;
    explicit epoch_range(loader* owner) : owner_(owner) {}
    loader* owner_;
  };

  /// Batches of options.batch_size in the order of (seed, epoch); the last one partial unless drop_last.
  loader(const D& data, loader_options options)
      : loader(data, own_sampler(data.size(), options), options, /*trim_padding=*/true) {}

  /// Batch b is sampler.global_indices(b), or the parts of options.replicas of it. The loader keeps
  /// its own copy of the sampler: epoch(e) sets the copy's epoch, never the caller's sampler.
  loader(const D& data, const sharded_sampler& sampler, loader_options options = {})
      : loader(data, sampler, checked(data.size(), sampler, options), /*trim_padding=*/false) {}

  loader(const D&&, loader_options) = delete;  // a temporary dataset would dangle: keep it in a variable
  loader(const D&&, const sharded_sampler&, loader_options = {}) = delete;
  loader(const loader&) = delete;
  loader& operator=(const loader&) = delete;

  /// Stops the worker, even mid-epoch: it finishes at most the one batch it is gathering.
  ~loader() {
    if (!worker_.joinable()) return;
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    work_cv_.notify_all();
    worker_.join();
  }

  std::size_t batches_per_epoch() const { return sampler_.batches_per_epoch(); }
  /// The options in effect; with a sampler, the sampler's batch (over options().replicas), shuffle,
  /// seed and drop_last, and replicas with `last` resolved.
  const loader_options& options() const { return options_; }
  /// The loader's copy of the sampler (without one: its own, over one replica), at the current epoch.
  const sharded_sampler& sampler() const { return sampler_; }

  /// The sample order of the current epoch: permutation(size, seed, epoch), or 0..n-1 unshuffled.
  std::span<const std::size_t> order() const { return sampler_.order(); }

  /// Starts epoch `e` (any epoch, in any order) and returns its batches for range-for; from batch
  /// `first` on when resuming a checkpoint (io/checkpoint.hpp).
  epoch_range epoch(std::uint64_t e, std::size_t first = 0) {
    begin_epoch(e, first);
    return epoch_range(this);
  }

  /// Batches next() has returned in the current epoch: where a checkpoint resumes.
  std::size_t batches_taken() const { return handed_; }

  /// Starts epoch `e` at batch `first`, abandoning whatever remains of the current one.
  void begin_epoch(std::uint64_t e, std::size_t first = 0) {
    std::unique_lock lock(mutex_);
    active_ = false;
    ready_cv_.wait(lock, [&] { return !busy_; });  // the worker reads the sampler while it gathers
    sampler_.set_epoch(e);
    handed_ = released_ = fill_next_ = filled_ = std::min(first, batches_per_epoch());
    error_ = nullptr;
    active_ = started_ = true;
    lock.unlock();
    work_cv_.notify_all();
  }

  /// The next batch of the epoch, or nullptr after the last. Invalidates the batch returned before.
  /// An exception thrown while gathering this batch (on either thread) is rethrown here.
  const batch* next() {
    expect(started_, "loader::next() called before an epoch began", "The sample order depends on the epoch number",
           "iterate over loader.epoch(e), or call begin_epoch(e) first");
    const std::size_t k = handed_;
    if (!worker_.joinable()) {
      if (k >= batches_per_epoch()) return nullptr;
      fill(k);
    } else {
      std::unique_lock lock(mutex_);
      released_ = k;  // the caller is done with batch k-1: its slot may be refilled
      work_cv_.notify_all();
      if (k >= batches_per_epoch()) return nullptr;
      ready_cv_.wait(lock, [&] { return filled_ > k || error_; });
      if (filled_ <= k) std::rethrow_exception(error_);
    }
    handed_ = k + 1;
    return &slots_[k % 2].b;
  }

 private:
  struct slot {
    std::vector<float> x;         // [batch_size, x_size]
    std::vector<target_value> y;  // [batch_size, y_size]
    batch b;
  };

  // The common constructor. window_: positions of replicas [first, last) in each global batch.
  // shard_of's parts follow each other in replica order, so the concatenation of indices(b, r) for r
  // in [first, last) is the contiguous run from part first's begin to part (last - 1)'s end.
  loader(const D& data, const sharded_sampler& sampler, const loader_options& options, bool trim_padding)
      : data_(&data), options_(options), sampler_(sampler) {
    const std::size_t gb = sampler_.global_batch(), parts = sampler_.replicas();
    const std::size_t last = std::min(options.replicas.last, parts);
    window_ = {shard_of(gb, parts, options.replicas.first).begin, shard_of(gb, parts, last - 1).end};
    // Trimming the padding of the last global batch leaves the samples it really has.
    const std::size_t real_in_last = sampler_.dataset_size() - (sampler_.batches_per_epoch() - 1) * gb;
    last_count_ = trim_padding ? std::min(gb, real_in_last) : window_.size();
    trim_ = trim_padding;
    for (auto& s : slots_) {
      s.x.resize(window_.size() * x_size);
      s.y.resize(window_.size() * y_size);
    }
    if (options.prefetch) worker_ = std::thread([this] { work(); });
  }

  // Validates the options of the plain mode, then makes its one-replica sampler (see the top).
  static sharded_sampler own_sampler(std::size_t n, const loader_options& options) {
    expect(n > 0, "loader over an empty dataset", "There is nothing to batch",
           "load the data before making the loader");
    expect(options.batch_size > 0, "loader batch_size is 0", "Every batch needs at least one sample",
           "set loader_options{.batch_size = ...} to a positive number");
    expect(!options.drop_last || options.batch_size <= n,
           "loader batch_size " + std::to_string(options.batch_size) + " is larger than the dataset (" +
               std::to_string(n) + " samples) with drop_last",
           "With drop_last the only batch, a partial one, is skipped, so an epoch would be empty",
           "lower batch_size, or set drop_last = false");
    expect(options.replicas.first == 0 && options.replicas.last == replica_range::all,
           "loader replicas set without a sampler", "Replicas are the parts of a sharded_sampler's global batches",
           "pass a sharded_sampler to the loader, or leave replicas at its default");
    // A batch never exceeds the dataset, so min(batch_size, n) gives the same batches.
    return sharded_sampler(n, 1,
                           {.global_batch = std::min(options.batch_size, n),
                            .shuffle = options.shuffle,
                            .seed = options.seed,
                            .last = options.drop_last ? last_batch::drop : last_batch::pad});
  }

  // Refuses options that contradict the sampler; returns the options in effect.
  static loader_options checked(std::size_t n, const sharded_sampler& sampler, loader_options options) {
    const sampler_options& so = sampler.options();
    expect(sampler.dataset_size() == n,
           "loader sampler covers " + std::to_string(sampler.dataset_size()) + " samples but the dataset holds " +
               std::to_string(n),
           "The sampler's indices would name other samples than the dataset has",
           "build the sampler with sharded_sampler(dataset.size(), ...)");
    const replica_range r = options.replicas;
    const std::size_t last = std::min(r.last, sampler.replicas());
    expect(r.first < last && (r.last == replica_range::all || r.last <= sampler.replicas()),
           "loader replicas [" + std::to_string(r.first) + ", " +
               (r.last == replica_range::all ? std::string("all") : std::to_string(r.last)) +
               ") is not a range of the " + std::to_string(sampler.replicas()) + " replicas of the sampler",
           "A loader gathers the parts of a non-empty run of the sampler's replicas",
           "pass replicas = {first, last} with first < last <= sampler.replicas()");
    std::size_t batch = 0;
    for (std::size_t i = r.first; i < last; ++i) batch += sampler.batch_size(i);
    const auto refuse = [](const std::string& what, const std::string& fix) {
      fail(what, "With a sampler, the sampler fixes the batches and their order", fix);
    };
    if (options.batch_size != 0 && options.batch_size != batch)
      refuse("loader batch_size " + std::to_string(options.batch_size) + " differs from the sampler's batch of " +
                 std::to_string(batch) + " samples over replicas [" + std::to_string(r.first) + ", " +
                 std::to_string(last) + ")",
             "leave batch_size at 0, or change the sampler's global_batch");
    if (!options.shuffle && so.shuffle)
      refuse("loader shuffle = false with a sampler that shuffles", "set shuffle = false in sampler_options");
    if (options.seed != 0 && options.seed != so.seed)
      refuse(
          "loader seed " + std::to_string(options.seed) + " differs from the sampler's seed " + std::to_string(so.seed),
          "leave the loader's seed at 0 and set it in sampler_options");
    if (options.drop_last && so.last != last_batch::drop)
      refuse("loader drop_last with a sampler that pads", "set last = last_batch::drop in sampler_options");
    options.batch_size = batch;
    options.shuffle = so.shuffle;
    options.seed = so.seed;
    options.drop_last = so.last == last_batch::drop;
    options.replicas.last = last;
    return options;
  }

  // Which dataset indices form batch k: the one question both modes answer alike.
  std::span<const std::size_t> batch_indices(std::size_t k) const {
    const std::size_t count = k + 1 == batches_per_epoch() ? last_count_ : window_.size();
    return sampler_.global_indices(k).subspan(window_.begin, count);  // [count] @ replicas [first, last)
  }

  void fill(std::size_t k) {
    const std::span<const std::size_t> idx = batch_indices(k);
    slot& s = slots_[k % 2];
    data_->gather(idx, s.x.data(), s.y.data());
    const std::size_t global = trim_ ? idx.size() : sampler_.global_batch();  // without a sampler: the whole batch
    s.b = batch{{s.x.data(), idx.size()}, traits::view(s.y.data(), idx.size()), idx, k, batches_per_epoch(), global};
  }

  // May batch fill_next_ be gathered now? Slot (k % 2) is free once the caller released batch k-2.
  bool can_fill() const { return active_ && !error_ && fill_next_ < batches_per_epoch() && fill_next_ < released_ + 2; }

  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      work_cv_.wait(lock, [&] { return stop_ || can_fill(); });
      if (stop_) return;
      const std::size_t k = fill_next_++;
      busy_ = true;
      lock.unlock();
      std::exception_ptr failure;
      try {
        fill(k);
      } catch (...) {
        failure = std::current_exception();
      }
      lock.lock();
      busy_ = false;
      if (failure) error_ = failure;  // batches are filled in order, so the error belongs to batch filled_
      else filled_ = k + 1;
      ready_cv_.notify_all();
    }
  }

  const D* data_;
  loader_options options_;
  sharded_sampler sampler_;     // this loader's own copy; set_epoch only under mutex_ with the worker idle
  shard window_;                // positions of this loader's replicas within each global batch
  std::size_t last_count_ = 0;  // samples in the last batch: window_.size(), or fewer once trimmed
  bool trim_ = false;           // the plain mode: each batch is a whole global batch of one replica
  std::array<slot, 2> slots_;
  // The caller's thread only.
  bool started_ = false;    // begin_epoch has run
  std::size_t handed_ = 0;  // batches returned by next() this epoch

  // Shared with the worker, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable work_cv_;   // worker waits: a slot freed, an epoch began, or stop
  std::condition_variable ready_cv_;  // caller waits: a batch filled, an error, or the worker idle
  bool active_ = false;               // an epoch is under way
  bool busy_ = false;                 // the worker is gathering outside the lock
  bool stop_ = false;
  std::size_t fill_next_ = 0;  // next batch the worker will gather
  std::size_t filled_ = 0;     // batches [0, filled_) are ready
  std::size_t released_ = 0;   // batches [0, released_) are done with by the caller
  std::exception_ptr error_;   // set by the worker; the epoch stops there
  std::thread worker_;         // started in the constructor body, once everything it reads exists
};

}  // namespace plait
