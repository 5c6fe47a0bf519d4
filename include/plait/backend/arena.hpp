#pragma once
// Planned memory: sizes are collected first (arena_plan), then one allocation holds them all
// (arena). A training step only uses pointers into the arena; it never allocates.

#include <cstddef>
#include <memory_resource>
#include <utility>

#include "../core/meta.hpp"

namespace plait {

/// Alignment of every planned buffer: a cache line, and a full AVX-512 vector.
inline constexpr std::size_t buffer_alignment = 64;

/// Collects buffer sizes; each request gets an offset into the future arena.
class arena_plan {
 public:
  template <class T>
  std::size_t reserve(std::size_t count) {
    const std::size_t at = bytes_;
    bytes_ += round_up(count * sizeof(T), buffer_alignment);
    return at;
  }
  std::size_t bytes() const { return bytes_; }

 private:
  std::size_t bytes_ = 0;
};

/// One aligned, zero-filled block from a memory resource (std::pmr, so tests can count).
class arena {
 public:
  arena() = default;
  arena(std::size_t bytes, std::pmr::memory_resource* mr = std::pmr::get_default_resource()) : mr_(mr), bytes_(bytes) {
    if (bytes_ > 0) {
      base_ = static_cast<std::byte*>(mr_->allocate(bytes_, buffer_alignment));
      for (std::size_t i = 0; i < bytes_; ++i) base_[i] = std::byte{0};
    }
  }
  arena(arena&& o) noexcept { swap(o); }
  arena& operator=(arena&& o) noexcept {
    arena tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  arena(const arena&) = delete;
  arena& operator=(const arena&) = delete;
  ~arena() {
    if (base_) mr_->deallocate(base_, bytes_, buffer_alignment);
  }

  template <class T>
  T* at(std::size_t offset) const {
    return reinterpret_cast<T*>(base_ + offset);
  }
  std::size_t bytes() const { return bytes_; }

 private:
  void swap(arena& o) noexcept {
    std::swap(mr_, o.mr_);
    std::swap(base_, o.base_);
    std::swap(bytes_, o.bytes_);
  }
  std::pmr::memory_resource* mr_ = nullptr;
  std::byte* base_ = nullptr;
  std::size_t bytes_ = 0;
};

}  // namespace plait
