#pragma once
// loader<Dataset>: cuts a dataset into batches, one epoch at a time, in the shuffled order of
// (seed, epoch). With prefetch, a background thread gathers batch k+1 while the caller trains
// on batch k (double buffering), so the copy is hidden behind the step.
//
//   plait::loader batches(train, {.batch_size = 128, .seed = 1});
//   for (int epoch = 0; epoch < 5; ++epoch)
//     for (auto& b : batches.epoch(epoch)) model.train_step(b.x, b.y, ...);
//
// Buffers: two slots, each [batch_size, x_size] features and [batch_size, y_size] targets,
// allocated at construction; batch k lives in slot k % 2. A batch stays valid until the next
// batch is requested or a new epoch begins. The dataset must outlive the loader.

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <iterator>
#include <mutex>
#include <numeric>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "../core/error.hpp"
#include "dataset.hpp"
#include "shuffle.hpp"

namespace plait {

struct loader_options {
  std::size_t batch_size = 0;  // samples per batch; required
  bool shuffle = true;         // false: dataset order in every epoch
  std::uint64_t seed = 0;      // with the epoch number, fixes the order (see shuffle.hpp)
  bool drop_last = false;      // true: skip the final batch when it would be smaller
  bool prefetch = true;        // false: gather on the calling thread (same batches, no overlap)
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

  loader(const D& data, loader_options options) : data_(&data), options_(options), order_(data.size()) {
    const std::size_t n = data.size();
    expect(n > 0, "loader over an empty dataset", "There is nothing to batch",
           "load the data before making the loader");
    expect(options.batch_size > 0, "loader batch_size is 0", "Every batch needs at least one sample",
           "set loader_options{.batch_size = ...} to a positive number");
    expect(!options.drop_last || options.batch_size <= n,
           "loader batch_size " + std::to_string(options.batch_size) + " is larger than the dataset (" +
               std::to_string(n) + " samples) with drop_last",
           "With drop_last the only batch, a partial one, is skipped, so an epoch would be empty",
           "lower batch_size, or set drop_last = false");
    batches_ = options.drop_last ? n / options.batch_size : (n + options.batch_size - 1) / options.batch_size;
    const std::size_t largest = std::min(options.batch_size, n);  // a batch never exceeds the dataset
    for (auto& s : slots_) {
      s.x.resize(largest * x_size);
      s.y.resize(largest * y_size);
    }
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    if (options.prefetch) worker_ = std::thread([this] { work(); });
  }

  loader(const D&&, loader_options) = delete;  // a temporary dataset would dangle: keep it in a variable
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

  std::size_t batches_per_epoch() const { return batches_; }
  const loader_options& options() const { return options_; }

  /// The sample order of the current epoch: permutation(size, seed, epoch), or 0..n-1 unshuffled.
  std::span<const std::size_t> order() const { return order_; }

  /// Starts epoch `e` (any epoch, in any order) and returns its batches for range-for.
  epoch_range epoch(std::uint64_t e) {
    begin_epoch(e);
    return epoch_range(this);
  }

  /// Starts epoch `e`, abandoning whatever remains of the current one.
  void begin_epoch(std::uint64_t e) {
    std::unique_lock lock(mutex_);
    active_ = false;
    ready_cv_.wait(lock, [&] { return !busy_; });  // the worker reads order_ while it gathers
    if (options_.shuffle)
      shuffle_indices(order_, options_.seed, e);
    else
      std::iota(order_.begin(), order_.end(), std::size_t{0});
    handed_ = released_ = fill_next_ = filled_ = 0;
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
      if (k >= batches_) return nullptr;
      fill(k);
    } else {
      std::unique_lock lock(mutex_);
      released_ = k;  // the caller is done with batch k-1: its slot may be refilled
      work_cv_.notify_all();
      if (k >= batches_) return nullptr;
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

  void fill(std::size_t k) {
    const std::size_t first = k * options_.batch_size;
    const std::size_t count = std::min(options_.batch_size, order_.size() - first);
    const std::span<const std::size_t> idx(order_.data() + first, count);
    slot& s = slots_[k % 2];
    data_->gather(idx, s.x.data(), s.y.data());
    s.b = batch{{s.x.data(), count}, traits::view(s.y.data(), count), idx, k};
  }

  // May batch fill_next_ be gathered now? Slot (k % 2) is free once the caller released batch k-2.
  bool can_fill() const { return active_ && !error_ && fill_next_ < batches_ && fill_next_ < released_ + 2; }

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
      if (failure)
        error_ = failure;  // batches are filled in order, so the error belongs to batch filled_
      else
        filled_ = k + 1;
      ready_cv_.notify_all();
    }
  }

  const D* data_;
  loader_options options_;
  std::size_t batches_ = 0;
  std::vector<std::size_t> order_;  // [n] sample order of the current epoch
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
