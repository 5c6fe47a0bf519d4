#pragma once
// Convolutions through a backend's own library, where it has one. conv2d (layers/conv2d.hpp) asks
// conv_impl<Backend, T>::takes(C, K) for its geometry: true where a backend specialises it and computes
// that convolution itself (kernels/conv_host.hpp: oneDNN on host devices, float, K > 1), and then calls
// its forward and backward; takes_data(C, K) says whether it computes the input's gradient too (else
// conv2d's own im2col path does). The primary (CUDA, and double on the host) takes nothing: conv2d's
// im2col + GEMM path.
//
// Layouts at this boundary are PyTorch's: x [batch, C, H, W], y and dy [batch, Out, Ho, Wo], weights
// [Out, C, K, K], bias [Out]. What a library does inside (blocked layouts, reorders) stays inside.

#include <cstddef>

namespace plait {

/// The geometry of one convolution call: a batch of [c, h, w] images, out filters of k x k moving by
/// stride over the image zero-padded by pad on each side, giving [out, ho, wo].
struct conv_shape {
  std::size_t batch, c, h, w, out, k, stride, pad, ho, wo;
  friend constexpr bool operator==(const conv_shape&, const conv_shape&) = default;
};

/// Specialised by a backend that computes convolutions itself, with
///   takes(c, k), takes_data(c, k)                             which geometries it computes (constexpr)
///   forward(ctx, shape, w, bias, x, y)                        y = conv(x, w) + bias
///   backward(ctx, shape, x, w, dy, dx, dw, db, accumulate)    dx = conv^T(dy, w) where dx is not null;
///                                                             dw, db = (or += where accumulate) the
///                                                             batch's gradients where dw is not null
template <class Backend, class T>
struct conv_impl {
  static constexpr bool takes(std::size_t /*c*/, std::size_t /*k*/) { return false; }
  static constexpr bool takes_data(std::size_t /*c*/, std::size_t /*k*/) { return false; }
};

/// Host devices in float: defined in kernels/conv_host.hpp (plait/plait.hpp includes it). Declared
/// here so that a translation unit that instantiates conv2d on a host device without it fails to
/// compile ("incomplete type conv_impl<host<...>, float>") rather than running im2col in that unit
/// and oneDNN in another: the fix is to include plait/plait.hpp or kernels/conv_host.hpp.
template <class System>
struct host;
template <class System>
struct conv_impl<host<System>, float>;

}  // namespace plait
