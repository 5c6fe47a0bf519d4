#pragma once
// Tensor parallelism's parameters: the whole model is initialised as on one device (so training equals
// one device's), then each device copies its blocks of the whole (its column or row slices, its
// branches; plan_of<Policy, G>::param_blocks); gather_parameters() joins the blocks again.

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/meta.hpp"
#include "../core/random.hpp"
#include "../kernels/copy.hpp"

namespace plait {

/// The whole model's parameters in Layout's flat order, as one device initialises them from `seed`.
template <class Layout>
std::vector<float> whole_parameters(std::uint64_t seed) {
  std::vector<float> all(Layout::param_buffer_size, 0.0f);  // [P] @ host
  static_for<Layout::layer_count>([&]<std::size_t I>() {
    splitmix64 rng(mix_seed(seed, I));
    Layout::template layer<I>::init(all.data() + Layout::param_offsets[I], rng);
  });
  return all;
}

/// Copies the blocks of `map` that device `rep` holds from `whole` (to_device) or into it. Each block
/// is `rows` runs of `cols` floats, `stride` apart in the whole model, contiguous on the device.
template <class Replica, class Map>
void copy_blocks(const Replica& rep, const Map& map, float* whole, bool to_device) {
  float* mine = rep.params() - rep.param_lo();  // blocks are placed in the whole device graph's layout
  for (std::size_t k = 0; k < map.count; ++k) {
    const auto& b = map.b[k];
    if (b.local < rep.param_lo() || b.local >= rep.param_lo() + rep.param_size()) continue;  // another stage's
    for (std::size_t row = 0; row < b.rows; ++row) {
      float* w = whole + b.global + row * b.stride;  // [cols] @ host
      float* d = mine + b.local + row * b.cols;      // [cols] @ the device
      if (to_device) copy_from_host(rep.ctx(), d, w, b.cols);
      else copy_to_host(rep.ctx(), w, d, b.cols);
    }
  }
}

}  // namespace plait
