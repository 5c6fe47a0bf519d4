#pragma once
// Reductions on CUDA devices, on the context's stream.
//   sum:         one thread adds x in index order, in double (the host's bits exactly), into the
//                context's device scalar; copied to its pinned twin; the stream is waited for.
//   sum_into:    the same kernel, adding into a device double; nothing is waited for.
//   find_first:  thrust::find_if over the indices (it waits for its result).
//   column_sums: one block per group of 32 columns; a block's 32 x 8 threads walk the rows eight
//                apart (each warp reads 32 adjacent floats of a row), then each column's 8 partial
//                sums are added by a logical warp of 8 threads with CUB's WarpReduce.

#include <cub/warp/warp_reduce.cuh>
#include <cuda_runtime_api.h>
#include <thrust/find.h>
#include <thrust/iterator/counting_iterator.h>

#include <cstddef>

#include "../backend/cuda/backend.hpp"
#include "../backend/cuda/error.hpp"
#include "reduce.hpp"

namespace plait {

namespace cuda_detail {

template <class T>
__global__ void sum_in_order(const T* x, std::size_t n, double* out) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += double(x[i]);
  *out = s;
}

// *acc = (add ? *acc : 0) + double(T(the sum)): as the host adds what sum returns.
template <class T>
__global__ void sum_in_order_into(const T* x, std::size_t n, double* acc, bool add) {
  double s = 0;
  for (std::size_t i = 0; i < n; ++i) s += double(x[i]);
  const double part = double(T(s));
  *acc = add ? *acc + part : part;
}

inline constexpr unsigned column_group = 32;  // columns per block: one warp's row of reads
inline constexpr unsigned row_lanes = 8;      // rows read at once per block

// d [rows, Cols], from [rows, Cols] @ device; sums [Cols] @ device.
template <std::size_t Cols, bool Scale, class T, class Grad>
__global__ void __launch_bounds__(column_group * row_lanes)
    column_sums_kernel(T* d, const T* from, std::size_t rows, T* sums, bool accumulate, Grad grad) {
  using lane_sum = cub::WarpReduce<T, row_lanes>;
  __shared__ typename lane_sum::TempStorage temp[column_group];
  __shared__ T partial[row_lanes][column_group + 1];  // [lane, column of the group], padded
  const std::size_t col = std::size_t(blockIdx.x) * column_group + threadIdx.x;
  T s{0};
  if (col < Cols)
    for (std::size_t r = threadIdx.y; r < rows; r += row_lanes) {
      T v = d[r * Cols + col];
      if constexpr (Scale) {
        v *= grad(from[r * Cols + col]);
        d[r * Cols + col] = v;
      }
      s += v;
    }
  partial[threadIdx.y][threadIdx.x] = s;
  __syncthreads();
  // Thread t of the block sums lane t % 8 of column t / 8: logical warp t / 8 is that column's.
  const unsigned t = threadIdx.y * column_group + threadIdx.x;
  const unsigned c = t / row_lanes, lane = t % row_lanes;
  const T total = lane_sum(temp[c]).Sum(partial[lane][c]);
  const std::size_t out = std::size_t(blockIdx.x) * column_group + c;
  if (lane == 0 && out < Cols) sums[out] = accumulate ? sums[out] + total : total;
}

}  // namespace cuda_detail

template <>
struct reduce_impl<cuda> {
  template <class Ctx, class T>
  static T sum(const Ctx& ctx, const T* x, std::size_t n) {
    cuda_detail::sum_in_order<<<1, 1, 0, ctx.stream()>>>(x, n, ctx.device_scalar());
    cuda_detail::cuda_check(cudaGetLastError(), "the launch of sum_in_order", ctx.device);
    cuda_detail::cuda_check(
        cudaMemcpyAsync(ctx.host_scalar(), ctx.device_scalar(), sizeof(double), cudaMemcpyDeviceToHost, ctx.stream()),
        "cudaMemcpyAsync (device to host) of a sum", ctx.device);
    ctx.synchronize();
    return T(*ctx.host_scalar());
  }

  template <class Ctx, class T>
  static void sum_into(const Ctx& ctx, const T* x, std::size_t n, double* acc, bool add) {
    cuda_detail::sum_in_order_into<<<1, 1, 0, ctx.stream()>>>(x, n, acc, add);
    cuda_detail::cuda_check(cudaGetLastError(), "the launch of sum_in_order_into", ctx.device);
  }

  template <class Ctx, class Pred>
  static std::size_t find_first(const Ctx& ctx, std::size_t n, Pred pred) {
    if (n == 0) return 0;
    const thrust::counting_iterator<std::size_t> first(0);
    return std::size_t(*thrust::find_if(ctx.policy(), first, first + n, pred));
  }

  template <std::size_t Cols, bool Scale, class Ctx, class T, class Grad>
  static void column_sums(const Ctx& ctx, T* d, const T* from, std::size_t rows, T* sums, bool accumulate, Grad grad) {
    using namespace cuda_detail;
    const unsigned blocks = unsigned((Cols + column_group - 1) / column_group);
    column_sums_kernel<Cols, Scale><<<blocks, dim3(column_group, row_lanes), 0, ctx.stream()>>>(d, from, rows, sums,
                                                                                                 accumulate, grad);
    cuda_check(cudaGetLastError(), "the launch of column_sums_kernel", ctx.device);
  }
};

}  // namespace plait
