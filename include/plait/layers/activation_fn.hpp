#pragma once
// Activation functions as types. Each gives its value and its derivative, the latter from the
// activation's output y when that suffices (relu, tanh, sigmoid) so nothing extra is saved, or
// from the pre-activation z (gelu), which the layer then keeps for backward.

#include <cmath>
#include <cstddef>

#include "../core/config.hpp"

namespace plait {

struct identity_fn {
  static constexpr const char* name = "identity";
  static constexpr bool grad_from_output = true;
  static constexpr std::size_t flops = 0;
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T apply(T z) {
    return z;
  }
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T grad(T) {
    return T{1};
  }
};

struct relu_fn {
  static constexpr const char* name = "relu";
  static constexpr bool grad_from_output = true;
  static constexpr std::size_t flops = 1;
  template <class T>
  // Written so that NaN passes through (NaN <= 0 is false), as torch.relu: a NaN is not hidden.
  PLAIT_HD static PLAIT_ALWAYS_INLINE T apply(T z) {
    return z <= T{0} ? T{0} : z;
  }
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T grad(T y) {
    return y <= T{0} ? T{0} : T{1};
  }
  /// dy * grad(y) as a select, as torch's threshold_backward: no multiply under a condition, so the
  /// loops over a row vectorise (a product by a 0-or-1 compiles to a branch that mispredicts on
  /// half the elements). A NaN in dy where y <= 0 gives 0 (torch gives 0 too).
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T chain_grad(T dy, T y) {
    return y <= T{0} ? T{0} : dy;
  }
};

struct tanh_fn {
  static constexpr const char* name = "tanh";
  static constexpr bool grad_from_output = true;
  static constexpr std::size_t flops = 10;
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T apply(T z) {
    return std::tanh(z);
  }
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T grad(T y) {
    return T{1} - y * y;
  }
};

struct sigmoid_fn {
  static constexpr const char* name = "sigmoid";
  static constexpr bool grad_from_output = true;
  static constexpr std::size_t flops = 10;
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T apply(T z) {
    return T{1} / (T{1} + std::exp(-z));
  }
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T grad(T y) {
    return y * (T{1} - y);
  }
};

/// The exact GELU, z * Phi(z), as PyTorch's default.
struct gelu_fn {
  static constexpr const char* name = "gelu";
  static constexpr bool grad_from_output = false;
  static constexpr std::size_t flops = 20;
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T apply(T z) {
    return T{0.5} * z * (T{1} + std::erf(z * T{0.70710678118654752440}));
  }
  template <class T>
  PLAIT_HD static PLAIT_ALWAYS_INLINE T grad(T z) {
    const T cdf = T{0.5} * (T{1} + std::erf(z * T{0.70710678118654752440}));
    const T pdf = T{0.39894228040143267794} * std::exp(T{-0.5} * z * z);
    return cdf + z * pdf;
  }
};

/// dy * Act'(from): the activation's own select where it has one (relu), the product otherwise.
template <class Act, class T>
PLAIT_HD PLAIT_ALWAYS_INLINE T chain_grad(T dy, T from) {
  if constexpr (requires { Act::chain_grad(dy, from); }) return Act::chain_grad(dy, from);
  else return dy * Act::grad(from);
}

/// chain_grad<Act> as a function object, for kernels that take one (column_sums): grad(dy, from).
template <class Act>
struct chain_rule {
  template <class T>
  PLAIT_HD PLAIT_ALWAYS_INLINE T operator()(T dy, T from) const {
    return chain_grad<Act>(dy, from);
  }
};

}  // namespace plait
