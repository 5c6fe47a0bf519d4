#pragma once
// parameter_io<Plan, Backend>: a placed model's parameters in and out, in the whole model's flat
// layout (graph_layout<G>: layer I's weights then biases at param_offsets[I]), whatever the policy
// split: replicas hold copies, stages hold their layers, tensor shards hold blocks
// (Plan::param_blocks). What checkpoints and users read and write goes through here.
//
//   gather()          every parameter, whole, from the devices that hold it
//   scatter(whole)    every device's parameters from a whole set (all copies, every shard)
//   view(d), grads(d) device d's own parameters and gradients in place (host devices)
//   layer<I>()        layer I's parameters in place on its first holder, to write before a step;
//                     the other holders get a copy when the next step or prediction starts (sync())

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "../kernels/copy.hpp"
#include "device_scope.hpp"
#include "devices.hpp"
#include "parameter_blocks.hpp"

namespace plait {

template <class Plan, class Backend>
class parameter_io {
 public:
  using devices_type = placed_devices<Plan, Backend>;
  using layout = typename Plan::layout;
  using device_layout = typename Plan::device_layout;
  static constexpr bool host_memory = devices_type::memory_type::host_memory;

  explicit parameter_io(devices_type& devices) : devices_(devices) {
    std::size_t widest = 0;
    for (std::size_t i = 0; i < device_layout::layer_count; ++i)
      widest = std::max(widest, device_layout::param_sizes[i]);
    if constexpr (!host_memory) staging_.resize(std::max(widest, layout::state_buffer_size));
  }

  /// The whole model's parameters, [layout::param_buffer_size] @ host.
  std::vector<float> gather() const {
    [[maybe_unused]] const auto keep = devices_.caller();
    std::vector<float> all(layout::param_buffer_size, 0.0f);
    for (std::size_t l = 0; l < devices_.local_count(); ++l) {
      const auto& m = devices_.memory(l);
      const auto on = devices_.on_device(l);
      if constexpr (Plan::has_param_blocks) copy_blocks(m, Plan::param_blocks[devices_.first() + l], all.data(), false);
      else copy_to_host(m.ctx(), all.data() + m.param_lo(), m.params(), m.param_size());
    }
    return all;
  }

  /// Sets every device's parameters from the whole model's ([layout::param_buffer_size] @ host).
  void scatter(std::span<const float> whole) {
    if (whole.size() != layout::param_buffer_size)
      fail(cat("set_parameters is given ", whole.size(), " floats for a model of ", layout::param_buffer_size),
           "the parameters are the whole model's, in its flat layout", "pass gather_parameters()'s size");
    [[maybe_unused]] const auto keep = devices_.caller();
    for (std::size_t l = 0; l < devices_.local_count(); ++l) {
      auto& m = devices_.memory(l);
      const auto on = devices_.on_device(l);
      if constexpr (Plan::has_param_blocks)
        copy_blocks(m, Plan::param_blocks[devices_.first() + l], const_cast<float*>(whole.data()), true);
      else copy_from_host(m.ctx(), m.params(), whole.data() + m.param_lo(), m.param_size());
    }
    dirty_ = false;
  }

  /// Local device d's parameters and gradients, flat, in place (host devices only).
  std::span<float> view(std::size_t d) {
    check_device(d, "parameters");
    return {devices_.memory(d).params(), devices_.memory(d).param_size()};
  }
  std::span<const float> grads(std::size_t d) const {
    check_device(d, "gradients");
    return {devices_.memory(d).grads(), devices_.memory(d).param_size()};
  }

  /// Layer I's parameters on the first device that holds it; the others get a copy at sync().
  template <std::size_t I>
  std::span<float> layer() {
    dirty_ = true;
    return {devices_.memory(devices_.holder(I)).layer_params(I), layout::param_sizes[I]};
  }

  /// Before inference: every replica's layer state (batch-norm running statistics) becomes that of
  /// this process's first replica, device by device of the inner group, as DDP broadcasts its buffers.
  /// Replicas normalise their own shares in training and so keep their own statistics; predict and
  /// evaluate split the rows over the replicas and must give each row the same statistics.
  void align_state() {
    if constexpr (Plan::data_parallel_degree > 1 && layout::state_buffer_size > 0) {
      [[maybe_unused]] const auto keep = devices_.caller();
      constexpr std::size_t n = layout::state_buffer_size, inner = Plan::inner_count;
      for (std::size_t d = inner; d < devices_.local_count(); ++d)  // local device d: replica d / inner, rank d % inner
        transfer(d, devices_.memory(d).state(), d % inner, devices_.memory(d % inner).state(), n);
    }
  }

  /// Parameters written through layer<I>() reach the other devices that hold the same layers.
  void sync() {
    if (!dirty_) return;
    [[maybe_unused]] const auto keep = devices_.caller();
    for (std::size_t i = 0; i < device_layout::layer_count; ++i) {
      const std::size_t from = devices_.holder(i);
      for (std::size_t d = from + 1; d < devices_.local_count(); ++d)
        if (devices_.memory(d).owned().first <= i && i < devices_.memory(d).owned().last)
          transfer(d, devices_.memory(d).layer_params(i), from, devices_.memory(from).layer_params(i),
                   device_layout::param_sizes[i]);
    }
    dirty_ = false;
  }

 private:
  void check_device(std::size_t d, const char* what) const {
    if (d >= devices_.local_count())
      fail(cat(what, "(", d, ") is asked of a model with ", devices_.local_count(), " device",
               devices_.local_count() == 1 ? "" : "s", " in this process"),
           "devices are numbered from 0 in each process", cat("pass a device below ", devices_.local_count()));
  }

  // n floats from local device `from` to local device `to`, on the caller's thread.
  void transfer(std::size_t to, float* dst, std::size_t from, const float* src, std::size_t n) {
    if constexpr (host_memory) {
      (void)to, (void)from;
      std::memcpy(dst, src, n * sizeof(float));
    } else {
      {
        const auto on = devices_.on_device(from);
        copy_to_host(devices_.memory(from).ctx(), staging_.data(), src, n);
      }
      const auto on = devices_.on_device(to);
      copy_from_host(devices_.memory(to).ctx(), dst, staging_.data(), n);
    }
  }

  devices_type& devices_;
  std::vector<float> staging_;  // [widest layer or the layer state] @ host (device memory only)
  bool dirty_ = false;
};

}  // namespace plait
