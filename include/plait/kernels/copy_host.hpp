#pragma once
// Copies and fills on host devices: the C library's, on the device's thread.

#include <cstddef>
#include <cstring>

#include "../backend/host/backend.hpp"
#include "copy.hpp"

namespace plait {

template <class System>
struct copy_impl<host<System>> {
  static constexpr bool host_memory = true;  // the host reads the device's tensors directly
  template <class Ctx, class T>
  static void copy(const Ctx&, T* dst, const T* src, std::size_t n) {
    if (n) std::memcpy(dst, src, n * sizeof(T));
  }
  template <class Ctx, class T>
  static void fill(const Ctx&, T* dst, std::size_t n, T value) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = value;
  }
  template <class Ctx, class T>
  static void copy_to_host(const Ctx& ctx, T* out, const T* src, std::size_t n) {
    copy(ctx, out, src, n);
  }
  template <class Ctx, class T>
  static void copy_from_host(const Ctx& ctx, T* dst, const T* in, std::size_t n) {
    copy(ctx, dst, in, n);
  }
};

}  // namespace plait
