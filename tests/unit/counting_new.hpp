#pragma once
// Replaces the global operator new and delete to count allocations, for the tests that prove a code
// path allocates nothing (or nothing large: largest_new). Include it in exactly one file of a test
// executable.

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>

// The replacements pair operator new with free by design; g++ cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace plait::test {
inline std::atomic<std::size_t> new_calls{0};          // every operator new of the process
inline thread_local std::size_t thread_new_calls = 0;  // those made by this thread
inline std::atomic<std::size_t> largest_new{0};        // the largest size asked of operator new; tests reset it

inline void note_new(std::size_t n) {
  ++new_calls;
  ++thread_new_calls;
  std::size_t seen = largest_new.load(std::memory_order_relaxed);
  while (n > seen && !largest_new.compare_exchange_weak(seen, n, std::memory_order_relaxed)) {}
}
}  // namespace plait::test

void* operator new(std::size_t n) {
  plait::test::note_new(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  plait::test::note_new(n);
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
