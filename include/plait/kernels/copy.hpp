#pragma once
// Moving and setting a device's memory outside a kernel body: dispatch by specialisation on the
// backend, each backend's body in copy_<backend>.hpp (copy_host.hpp, copy_cuda.hpp).
//
//   copy(ctx, dst, src, n)          dst[0..n) = src[0..n), both in the device's memory, not overlapping
//   fill(ctx, dst, n, value)        dst[0..n) = value
//   copy_to_host(ctx, out, src, n)  out[0..n) (host memory) = src[0..n) (the device's), on return
//   copy_from_host(ctx, dst, in, n) dst[0..n) (the device's) = in[0..n) (host memory); `in` may be
//                                   reused on return

#include <cstddef>

#include "../core/meta.hpp"

namespace plait {

template <class Backend>
struct copy_impl {
  static_assert(dependent_false<Backend>,
                "plait: no copies for this backend. Copies and fills are specialised per backend. Fix: include "
                "the backend's header (plait/plait.hpp for host, plait/cuda.hpp for CUDA).");
};

template <class Ctx, class T>
void copy(const Ctx& ctx, T* dst, const T* src, std::size_t n) {
  copy_impl<typename Ctx::backend>::copy(ctx, dst, src, n);
}

template <class Ctx, class T>
void fill(const Ctx& ctx, T* dst, std::size_t n, T value) {
  copy_impl<typename Ctx::backend>::fill(ctx, dst, n, value);
}

/// Blocks until out holds the values: the host reads them right after.
template <class Ctx, class T>
void copy_to_host(const Ctx& ctx, T* out, const T* src, std::size_t n) {
  copy_impl<typename Ctx::backend>::copy_to_host(ctx, out, src, n);
}

template <class Ctx, class T>
void copy_from_host(const Ctx& ctx, T* dst, const T* in, std::size_t n) {
  copy_impl<typename Ctx::backend>::copy_from_host(ctx, dst, in, n);
}

}  // namespace plait
