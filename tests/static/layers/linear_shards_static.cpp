// layers/linear_shards.hpp: how linear<Out> splits over N devices, as types, sizes and blocks; the
// blocks of all devices cover the whole layer's weights exactly once. Compiling is the test.
#include <plait/plait.hpp>

namespace {
using namespace plait;

using split = tensor_split<linear_t<4, relu_fn>>;
static_assert(split::splittable && split::outputs == 4);
static_assert(!tensor_split<relu_t>::splittable);
static_assert(split::column_fits<shape<6>, 2> && !split::column_fits<shape<6>, 3> &&
              !split::column_fits<shape<2, 3>, 2>);
static_assert(split::row_fits<shape<6>, 3> && !split::row_fits<shape<6>, 4>);
static_assert(std::is_same_v<split::column<2>, type_list<linear_t<2, relu_fn>>>);
static_assert(std::is_same_v<split::row<2>, type_list<row_shard_t<4>, bias_act_t<relu_fn>>>);
static_assert(std::is_same_v<split::gathered<2>, type_list<linear_t<2, relu_fn>, column_gather_t<4, 2>>>);

// Sizes of the shard layers.
static_assert(row_shard_t<4>::bound<shape<3>>::param_count == 4 * 3 &&
              row_shard_t<4>::bound<shape<3>>::out_shape::size == 4);
static_assert(bias_act_t<relu_fn>::bound<shape<4>>::param_count == 4 &&
              bias_act_t<relu_fn>::bound<shape<4>>::in_place_grad);
static_assert(column_gather_t<4, 2>::bound<shape<2>>::saved_count == 4 &&
              column_gather_t<4, 2>::bound<shape<2>>::param_count == 0);

// Coverage of the whole layer's parameters (W [4, 6], b [4]) by every device's blocks.
constexpr std::size_t F = 6, O = 4, total = O * F + O;
template <std::size_t N, bool Column>
constexpr std::array<std::size_t, total> coverage() {
  std::array<std::size_t, total> hits{};
  for (std::size_t r = 0; r < N; ++r) {
    const auto blocks = Column ? split::column_blocks<shape<F>, N>(r) : split::row_blocks<shape<F>, N>(r);
    for (const split_block& b : blocks)
      for (std::size_t i = 0; i < b.rows; ++i)
        for (std::size_t j = 0; j < b.cols; ++j) ++hits[b.offset + i * b.stride + j];
  }
  return hits;
}
constexpr bool all_equal(const std::array<std::size_t, total>& h, std::size_t from, std::size_t to, std::size_t n) {
  for (std::size_t k = from; k < to; ++k)
    if (h[k] != n) return false;
  return true;
}
// Column split: each weight and bias on one device.
static_assert(all_equal(coverage<2, true>(), 0, total, 1) && all_equal(coverage<4, true>(), 0, total, 1));
// Row split: each weight on one device, the whole bias on every device.
static_assert(all_equal(coverage<2, false>(), 0, O* F, 1) && all_equal(coverage<2, false>(), O* F, total, 2));
static_assert(all_equal(coverage<3, false>(), 0, O* F, 1) && all_equal(coverage<3, false>(), O* F, total, 3));
// Device 1 of a column split of 2 packs its rows, then its biases.
static_assert(split::column_blocks<shape<F>, 2>(1)[0].offset == 2 * F &&
              split::column_blocks<shape<F>, 2>(1)[1].local == 2 * F);
}  // namespace
