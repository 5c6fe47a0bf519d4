#pragma once
// Convolutions on host devices through oneDNN (Debian: libdnnl-dev), in float: conv2d's forward,
// backward-data and backward-weights with the bias, each on the device's threads (oneDNN's OpenMP
// team is omp_get_max_threads(), which host_context::enter sets for the device's thread). Double
// stays on conv2d's im2col + GEMM path (oneDNN has no f64 convolution on the CPU), as does CUDA, and
// so do the geometries where im2col + OpenBLAS measured faster (takes, takes_data below).
// How the primitives are made, cached and laid out: kernels/detail/onednn_conv.hpp.

#include <algorithm>

#include "../backend/host/backend.hpp"
#include "conv.hpp"
#include "detail/onednn_conv.hpp"

namespace plait {

template <class System>
struct conv_impl<host<System>, float> {
  /// Measured on AVX-512 (bench/README.md, "Which library does what"): a 1x1 convolution is one GEMM
  /// per sample, which OpenBLAS runs 1.3-5x faster than oneDNN's 1x1 kernel with its reorders; with
  /// fewer input channels than oneDNN's block of 16, its backward-data pads them to 16 and runs 2-4x
  /// slower than im2col's, while its forward and weights are even at one thread and split over two.
  static constexpr bool takes(std::size_t, std::size_t k) { return k > 1; }
  static constexpr bool takes_data(std::size_t c, std::size_t k) { return k > 1 && c >= 16; }

  template <class Ctx>
  static void forward(const Ctx&, const conv_shape& s, const float* w, const float* bias, const float* x, float* y) {
    if (s.batch > 0) detail::onednn::forward(s, w, bias, x, y);
  }

  /// dx or dw may be null (that part is not wanted); db is null exactly where dw is.
  template <class Ctx>
  static void backward(const Ctx&, const conv_shape& s, const float* x, const float* w, const float* dy, float* dx,
                       float* dw, float* db, bool accumulate) {
    if (s.batch > 0) {
      if (dx || dw) detail::onednn::backward(s, x, w, dy, dx, dw, db, accumulate);
    } else if (dw && !accumulate) {  // no samples: zero gradients
      std::fill_n(dw, s.out * s.c * s.k * s.k, 0.0f);
      std::fill_n(db, s.out, 0.0f);
    }
  }
};

}  // namespace plait
