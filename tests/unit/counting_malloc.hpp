#pragma once
// Replaces C's allocators (malloc, calloc, realloc, posix_memalign, aligned_alloc, memalign) to count
// every heap allocation of the process, including those of the C libraries under plait (OpenBLAS,
// oneDNN) and of operator new, which calls malloc: plait::test::c_allocations. Include it in exactly
// one file of an executable. Under AddressSanitizer or ThreadSanitizer, whose runtimes own malloc,
// nothing is replaced and PLAIT_COUNTS_C_ALLOCATIONS is 0.

#include <atomic>
#include <cstddef>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define PLAIT_COUNTS_C_ALLOCATIONS 0
#else
#define PLAIT_COUNTS_C_ALLOCATIONS 1

namespace plait::test {
inline std::atomic<long> c_allocations{0};
inline void note_c_allocation() { c_allocations.fetch_add(1, std::memory_order_relaxed); }
}  // namespace plait::test

extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void* __libc_memalign(std::size_t, std::size_t);

extern "C" void* malloc(std::size_t n) {
  plait::test::note_c_allocation();
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t n, std::size_t size) {
  plait::test::note_c_allocation();
  return __libc_calloc(n, size);
}
extern "C" void* realloc(void* p, std::size_t n) {
  plait::test::note_c_allocation();
  return __libc_realloc(p, n);
}
extern "C" int posix_memalign(void** p, std::size_t alignment, std::size_t n) {
  plait::test::note_c_allocation();
  *p = __libc_memalign(alignment, n);
  return *p ? 0 : 12;  // ENOMEM
}
extern "C" void* aligned_alloc(std::size_t alignment, std::size_t n) {
  plait::test::note_c_allocation();
  return __libc_memalign(alignment, n);
}
extern "C" void* memalign(std::size_t alignment, std::size_t n) {
  plait::test::note_c_allocation();
  return __libc_memalign(alignment, n);
}
#endif
