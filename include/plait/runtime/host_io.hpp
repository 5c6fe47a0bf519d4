#pragma once
// How the runtime moves data between the host and a device's memory. On host devices the host reads
// and writes that memory in place and nothing here copies; where it cannot (CUDA), a micro-batch's
// targets are copied into planned device buffers (its input: replica::take_input), and outputs,
// per-sample losses and parameters written by the user are copied through host buffers planned at
// place(...).
//
// device_scope: the caller's thread is device 0's worker; where it works on another device's memory
// (CUDA), that device is current for the scope and device 0 (`home`) again after. Not for the workers'
// own threads, which stay on their devices. Nothing on host devices.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "../kernels/copy.hpp"

namespace plait {

template <class Replica>
class device_scope {
 public:
  device_scope(const Replica& home, const Replica& r) : home_(home) {
    if constexpr (!Replica::host_memory) r.ctx().enter();
  }
  ~device_scope() {
    if constexpr (!Replica::host_memory) {
      try {
        home_.ctx().enter();
      } catch (...) {  // a failed device: the next call on it reports the error
      }
    }
  }
  device_scope(const device_scope&) = delete;
  device_scope& operator=(const device_scope&) = delete;

 private:
  const Replica& home_;
};

/// Replica: runtime/replica.hpp; In, Out: the model's input and output shapes.
template <class Replica, Shape In, Shape Out>
class host_io {
 public:
  static constexpr bool host_memory = Replica::host_memory;

  /// Host buffers for `rows` samples of output and loss, and `widest` floats of one layer's parameters.
  void plan(std::size_t rows, std::size_t widest) {
    if constexpr (!host_memory) {
      staging_.resize(widest);
      out_.resize(rows * Out::size);
      rows_.resize(rows);
    }
  }

  /// The targets as device `rep` reads them.
  template <class Y>
  static Y targets(Replica& rep, Y y) {
    if constexpr (host_memory) {
      (void)rep;
      return y;
    } else if constexpr (std::is_same_v<Y, class_labels>) {
      auto* labels = reinterpret_cast<std::int32_t*>(rep.targets());  // [n] int32 @ the device
      copy_from_host(rep.ctx(), labels, y.data, y.count);
      return {labels, y.count};
    } else {
      copy_from_host(rep.ctx(), rep.targets(), y.data, y.count * Y::shape_type::size);  // [n, out] @ the device
      return {rep.targets(), y.count};
    }
  }

  /// Slot 0's output of `rep` (n samples) where the host reads it; valid until the next call.
  samples<Out> output(const Replica& rep, std::size_t n) {
    if constexpr (host_memory) {
      return {rep.output(0), n};
    } else {
      copy_to_host(rep.ctx(), out_.data(), rep.output(0), n * Out::size);
      return {out_.data(), n};
    }
  }

  /// The sum of `rep`'s first n per-sample losses, in double, in order.
  double rows_total(const Replica& rep, std::size_t n) {
    const float* rows = rep.loss_rows();
    if constexpr (!host_memory) {
      copy_to_host(rep.ctx(), rows_.data(), rows, n);
      rows = rows_.data();
    }
    double total = 0;
    for (std::size_t i = 0; i < n; ++i) total += rows[i];
    return total;
  }

  /// n floats from device `from` to device `to` (both of this process), on `home`'s thread.
  void transfer(const Replica& home, const Replica& to, float* dst, const Replica& from, const float* src, std::size_t n) {
    if constexpr (host_memory) {
      (void)home, (void)to, (void)from;
      std::memcpy(dst, src, n * sizeof(float));
    } else {
      {
        const device_scope<Replica> on(home, from);
        copy_to_host(from.ctx(), staging_.data(), src, n);
      }
      const device_scope<Replica> on(home, to);
      copy_from_host(to.ctx(), dst, staging_.data(), n);
    }
  }

 private:
  std::vector<float> staging_;  // [widest layer] @ host (device memory only)
  std::vector<float> out_;      // [rows, out] @ host
  std::vector<float> rows_;     // [rows] @ host
};

}  // namespace plait
