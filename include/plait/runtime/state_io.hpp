#pragma once
// state_io<Plan, Backend>: a placed model's optimizer state and layer state in and out, in the whole
// model's layouts, whatever the policy split: what checkpoints save beside the parameters
// (parameter_io.hpp). Both work for host and CUDA devices (copies through kernels/copy.hpp).
//
//   optimizer state  state_per_param() arrays, each [layout::param_buffer_size] like the parameters
//                    (SGD: momentum; Adam: m, then v). A device keeps its arrays for its own parameters
//                    ([k * Pd, (k + 1) * Pd): array k), tensor shards in their blocks; under a sharded
//                    optimizer, each bucket's chunk of this replica ([at * spp + k * chunk]: array k).
//   layer state      [layout::state_buffer_size]: every layer's running statistics (batchnorm2d),
//                    read from the first device that runs the layer, written to every device.
//
// Where the host cannot read a device's memory (CUDA), copies go through a bounce buffer of 16 MB,
// pinned for CUDA (runtime/host_bounce.hpp).
//
// Across processes the parameters and layer state of a whole replica are in every process; a sharded
// optimizer's chunks are summed over the processes (each process holds its replica's chunk, zeros
// elsewhere), so every process ends with the whole.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "../core/shard.hpp"
#include "../kernels/copy.hpp"
#include "../policy/buckets.hpp"
#include "devices.hpp"
#include "host_bounce.hpp"
#include "parameter_blocks.hpp"

namespace plait {

template <class Plan, class Backend>
class state_io {
 public:
  using devices_type = placed_devices<Plan, Backend>;
  using layout = typename Plan::layout;
  using device_layout = typename Plan::device_layout;
  static_assert(!(Plan::sharded && Plan::has_param_blocks),
                "plait: a checkpoint is asked of a policy that shards the optimizer of tensor-parallel layers. Their "
                "state chunks are not mapped to the whole model. Fix: do not shard the optimizer under partition.");

  explicit state_io(devices_type& devices) : devices_(devices) {}

  /// Floats of optimizer state device l keeps per state array (its parameters, or its chunks).
  std::size_t optimizer_floats(std::size_t l) const {
    const std::size_t shard = Plan::shard_floats[devices_.first() + l];
    return shard ? shard : devices_.memory(l).param_size();
  }

  /// Array k of `spp` (state per parameter) of optimizer Opt, whole: [layout::param_buffer_size] @ host.
  template <class Opt>
  std::vector<float> gather_optimizer(std::size_t k, std::size_t spp) {
    std::vector<float> whole(layout::param_buffer_size, 0.0f);
    for (std::size_t l = 0; l < devices_.local_count(); ++l) move_optimizer<Opt>(l, k, spp, whole.data(), false);
    if constexpr (Plan::sharded)
      if (process_comm* world = devices_.world()) world->all_reduce(whole.data(), whole.size());  // each chunk once
    return whole;
  }
  /// Sets array k of every device's optimizer state from a whole one.
  template <class Opt>
  void scatter_optimizer(std::size_t k, std::size_t spp, std::span<const float> whole) {
    for (std::size_t l = 0; l < devices_.local_count(); ++l)
      move_optimizer<Opt>(l, k, spp, const_cast<float*>(whole.data()), true);
  }

  /// Every layer's state, whole: [layout::state_buffer_size] @ host.
  std::vector<float> gather_state() {
    std::vector<float> whole(layout::state_buffer_size, 0.0f);
    for (std::size_t i = 0; i < layout::layer_count; ++i) {
      if (layout::state_sizes[i] == 0) continue;
      const std::size_t j = device_layer(i);
      const std::size_t l = devices_.holder(j);
      const auto on = devices_.on_device(l);
      const auto& m = devices_.memory(l);
      to_host(l, whole.data() + layout::state_offsets[i], m.state() + device_layout::state_offsets[j],
              layout::state_sizes[i]);
    }
    return whole;
  }
  void scatter_state(std::span<const float> whole) {
    for (std::size_t i = 0; i < layout::layer_count; ++i) {
      if (layout::state_sizes[i] == 0) continue;
      const std::size_t j = device_layer(i);
      for (std::size_t l = 0; l < devices_.local_count(); ++l) {
        const auto on = devices_.on_device(l);
        auto& m = devices_.memory(l);
        from_host(l, m.state() + device_layout::state_offsets[j], whole.data() + layout::state_offsets[i],
                  layout::state_sizes[i]);
      }
    }
  }

  /// The whole parameters into `whole` ([layout::param_buffer_size], zeros in the padding), each range
  /// from the first local device that holds it; false under tensor parallelism (parameter_io gathers those).
  bool gather_parameters(std::vector<float>& whole) {
    if constexpr (Plan::has_param_blocks) {
      (void)whole;
      return false;
    } else {
      for (std::size_t l = 0; l < devices_.local_count(); ++l) {
        const auto& m = devices_.memory(l);
        bool seen = false;  // a replica's copy of a range read already
        for (std::size_t e = 0; e < l; ++e) seen = seen || devices_.memory(e).param_lo() == m.param_lo();
        if (seen) continue;
        const auto on = devices_.on_device(l);
        to_host(l, whole.data() + m.param_lo(), m.params(), m.param_size());
      }
      return true;
    }
  }

  /// n floats of local device l's memory to the host and back (the caller holds l's device scope).
  void to_host(std::size_t l, float* out, const float* src, std::size_t n) {
    const auto& ctx = devices_.memory(l).ctx();
    if constexpr (devices_type::memory_type::host_memory) {
      copy_to_host(ctx, out, src, n);
    } else {
      for (std::size_t at = 0; at < n; at += bounce_floats) {
        const std::size_t c = std::min(bounce_floats, n - at);
        copy_to_host(ctx, bounce().data(), src + at, c);
        std::memcpy(out + at, bounce().data(), c * sizeof(float));
      }
    }
  }
  void from_host(std::size_t l, float* dst, const float* in, std::size_t n) {
    const auto& ctx = devices_.memory(l).ctx();
    if constexpr (devices_type::memory_type::host_memory) {
      copy_from_host(ctx, dst, in, n);
    } else {
      for (std::size_t at = 0; at < n; at += bounce_floats) {
        const std::size_t c = std::min(bounce_floats, n - at);
        std::memcpy(bounce().data(), in + at, c * sizeof(float));
        copy_from_host(ctx, dst + at, bounce().data(), c);
      }
    }
  }

  /// Where local device l keeps the parameters (k < 0) or optimizer array k: element i of the whole
  /// layout, for i in [param_lo(l), param_lo(l) + param_size), is at the result + (i - param_lo(l)).
  /// Null where the device holds them in another order (tensor shards, optimizer chunks).
  template <class Opt>
  float* in_place(std::size_t l, int k, std::size_t spp) {
    if constexpr (Plan::has_param_blocks || Plan::sharded) {
      (void)l, (void)k, (void)spp;
      return nullptr;
    } else {
      auto& m = devices_.memory(l);
      if (k < 0) return m.params();
      const auto on = devices_.on_device(l);
      return m.template optimizer_state<Opt>(spp * optimizer_floats(l)) + std::size_t(k) * optimizer_floats(l);
    }
  }
  std::size_t param_lo(std::size_t l) const { return devices_.memory(l).param_lo(); }
  /// Whether local device l holds whole-layout floats [at, at + n) (its stage's parameters).
  bool holds(std::size_t l, std::size_t at, std::size_t n) const {
    const auto& m = devices_.memory(l);
    return m.param_lo() <= at && at + n <= m.param_lo() + m.param_size();
  }

  /// The optimizer's step count (the same on every device), and setting it on every device.
  std::size_t optimizer_steps() const { return devices_.memory(0).optimizer_steps(); }
  void set_optimizer_steps(std::size_t t) {
    for (std::size_t l = 0; l < devices_.local_count(); ++l) devices_.memory(l).set_optimizer_steps(t);
  }
  /// The seed of the random streams (dropout, initialisation), set on every device.
  void set_seed(std::uint64_t seed) {
    for (std::size_t l = 0; l < devices_.local_count(); ++l) devices_.memory(l).set_seed(seed);
  }

 private:
  // The device-graph layer that runs whole-graph layer i's state: the same index, or under tensor
  // parallelism (split layers) the layer with state in the same order of layers with state.
  static std::size_t device_layer(std::size_t i) {
    if constexpr (device_layout::layer_count == layout::layer_count) {
      return i;
    } else {
      std::size_t rank = 0, j = 0;
      for (std::size_t k = 0; k < i; ++k) rank += layout::state_sizes[k] > 0;
      for (; j < device_layout::layer_count; ++j)
        if (device_layout::state_sizes[j] > 0 && rank-- == 0) break;
      if (j == device_layout::layer_count || device_layout::state_sizes[j] != layout::state_sizes[i])
        fail(cat("layer ", i, "'s state has no place on the devices of ", Plan::name),
             "tensor parallelism runs layers with state whole, and this one was split",
             "save from a policy without partition");
      return j;
    }
  }

  // A device's optimizer state array seen as its parameters, for copy_blocks.
  struct state_view {
    const typename devices_type::memory_type* m;
    float* at;
    float* params() const { return at; }
    std::size_t param_lo() const { return m->param_lo(); }
    std::size_t param_size() const { return m->param_size(); }
    const auto& ctx() const { return m->ctx(); }
  };

  template <class Opt>
  void move_optimizer(std::size_t l, std::size_t k, std::size_t spp, float* whole, bool to_device) {
    auto& m = devices_.memory(l);
    const std::size_t n = optimizer_floats(l);
    const auto on = devices_.on_device(l);
    float* state = m.template optimizer_state<Opt>(spp * n);  // planned here when no step has run yet
    const auto move = [&](float* dev, float* host, std::size_t count) {
      if (to_device) from_host(l, dev, host, count);
      else to_host(l, host, dev, count);
    };
    if constexpr (Plan::sharded) {
      std::size_t at = 0;
      for (const bucket& b : Plan::buckets) {
        const shard c = shard_of(b.size, Plan::data_parallel_degree, Plan::replica[devices_.first() + l]);
        move(state + at * spp + k * c.size(), whole + m.param_lo() + b.offset + c.begin, c.size());
        at += c.size();
      }
    } else if constexpr (Plan::has_param_blocks) {
      copy_blocks(state_view{&m, state + k * n}, Plan::param_blocks[devices_.first() + l], whole, to_device);
    } else {
      move(state + k * n, whole + m.param_lo(), n);
    }
  }

  static constexpr std::size_t bounce_floats = std::size_t{4} << 20;  // 16 MB
  using bounce_type = typename checkpoint_bounce<Backend>::buffer;
  bounce_type& bounce() {
    if (bounce_.size() == 0) bounce_ = bounce_type(bounce_floats);
    return bounce_;
  }

  devices_type& devices_;
  bounce_type bounce_;  // made on the first copy that needs it (device memory only)
};

}  // namespace plait
