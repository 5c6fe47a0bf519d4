#pragma once
// Gradient buckets, fixed at compile time (as DDP's, but from the graph's type): the layers are
// walked in reverse order, the order in which backward produces their gradients, and cut into
// buckets of about `bytes` of gradients (the first, `first_bytes`, smaller so that communication
// starts early). A bucket is a contiguous range of layers and therefore of the flat gradient buffer.

#include <array>
#include <cstddef>

#include "../graph/frozen.hpp"
#include "../graph/layout.hpp"

namespace plait {

/// Tuning values of the bucket plan.
struct bucket_plan {
  std::size_t bytes = std::size_t{25} << 20;       // DDP's bucket_cap_mb
  std::size_t first_bytes = std::size_t{1} << 20;  // DDP's first bucket
};

/// Layers [first_layer, last_layer) and their gradients [offset, offset + size) in the flat buffer.
struct bucket {
  std::size_t first_layer = 0;
  std::size_t last_layer = 0;
  std::size_t offset = 0;
  std::size_t size = 0;
};

namespace detail {
template <RootedGraph G>
struct bucket_cuts {
  std::array<bucket, graph_layout<G>::layer_count> b{};
  std::size_t count = 0;
};

template <RootedGraph G>
constexpr bucket_cuts<G> cut_buckets(bucket_plan plan) {
  using L = graph_layout<G>;
  bucket_cuts<G> cuts;
  std::size_t last = L::layer_count, bytes = 0;
  bool in_frozen = false;
  for (std::size_t i = L::layer_count; i-- > 0;) {
    // Frozen layers (graph/frozen.hpp) are buckets of their own, with no gradient to communicate
    // (size 0): a frozen layer ends the trainable bucket after it, a trainable one the frozen bucket.
    const bool trains = !frozen_layers<L>[i] && L::param_sizes[i] > 0;
    if (frozen_layers<L>[i] != in_frozen && (frozen_layers<L>[i] || trains)) {
      if (last > i + 1) cuts.b[cuts.count++] = bucket{i + 1, last, 0, 0};
      last = i + 1;
      bytes = 0;
      in_frozen = frozen_layers<L>[i];
    }
    if (in_frozen) {
      if (i == 0) cuts.b[cuts.count++] = bucket{0, last, 0, 0};
      continue;
    }
    bytes += L::param_sizes[i] * sizeof(float);
    const std::size_t cap = cuts.count == 0 ? plan.first_bytes : plan.bytes;
    if (bytes >= cap || i == 0) {
      cuts.b[cuts.count++] = bucket{i, last, 0, 0};
      last = i;
      bytes = 0;
    }
  }
  // A bucket with no parameters (a flatten at the front, say) joins the bucket after it.
  if (cuts.count > 1 && [&] {
        std::size_t n = 0;
        for (std::size_t i = cuts.b[cuts.count - 1].first_layer; i < cuts.b[cuts.count - 1].last_layer; ++i)
          n += L::param_sizes[i];
        return n == 0;
      }()) {
    cuts.b[cuts.count - 2].first_layer = cuts.b[cuts.count - 1].first_layer;
    --cuts.count;
  }
  for (std::size_t k = 0; k < cuts.count; ++k) {
    auto& bk = cuts.b[k];
    bk.offset = L::param_offsets[bk.first_layer];
    const std::size_t end = bk.last_layer == L::layer_count ? L::param_buffer_size : L::param_offsets[bk.last_layer];
    bk.size = frozen_layers<L>[bk.last_layer - 1] ? 0 : end - bk.offset;  // a frozen bucket's last layer is frozen
  }
  return cuts;
}
}  // namespace detail

/// The buckets of graph G, bucket 0 holding the last layers (the first gradients backward makes).
template <RootedGraph G, bucket_plan Plan>
inline constexpr auto buckets_of = [] {
  constexpr auto cuts = detail::cut_buckets<G>(Plan);
  std::array<bucket, cuts.count> out{};
  for (std::size_t k = 0; k < cuts.count; ++k) out[k] = cuts.b[k];
  return out;
}();

}  // namespace plait
