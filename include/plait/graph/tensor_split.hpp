#pragma once
// tensor_split<Spec>: how a layer splits its weights over the N devices of a tensor-parallel group
// (partition<N>, as Megatron-LM). A layer that does not specialise it is not split: each device of
// the group runs it whole, on the whole activations, with the same parameters.
//
// A splittable layer (linear, in layers/linear_shards.hpp) names, for a group of N:
//   column<N>: the layers one device runs for its slice of the outputs (input whole, output [Out/N]);
//   row<N>:    the layers one device runs for its slice of the inputs (input [In/N], output a
//              partial sum of [Out] that the group all-reduces), as a type_list whose first layer
//              ends before the all-reduce and whose second layer runs after it;
//   gathered<N>: the layer after column<N> that, fed the all-gathered slices, gives the whole output.
//   column_fits<In, N> / row_fits<In, N>: whether the sizes divide;
//   blocks: where one device's parameters sit in the whole layer's (see split_block).
// A layer of branches (concat/add, layers/branches.hpp) names instead branches_fit<N>, branch<N>
// (the layer a device runs: its own branch) and branch_blocks.

#include <cstddef>

#include "../core/shape.hpp"

namespace plait {

/// How a layer is split in its tensor-parallel group.
enum class split_role : unsigned char {
  whole,     // not split: every device runs it whole
  column,    // outputs split, input whole (the first of a pair)
  row,       // inputs split, partial outputs all-reduced (the second of a pair)
  gathered,  // outputs split, then all-gathered (a linear without a partner)
  branch,    // one branch of concat/add per device, outputs combined by an all-reduce
};

/// A 2-D block of a layer's parameters: `rows` rows of `cols` floats, at `offset` in the layer's
/// whole parameters with a row stride of `stride`, and packed (row stride `cols`) at `local` in the
/// parameters of the `part`-th layer one device runs for it.
struct split_block {
  std::size_t offset = 0, stride = 0, rows = 0, cols = 0, local = 0, part = 0;
};

template <class Spec>
struct tensor_split {
  static constexpr bool splittable = false;
};

}  // namespace plait
