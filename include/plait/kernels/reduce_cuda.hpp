#pragma once
// Reductions on CUDA devices, on the context's stream.
//   sum:         one thread adds x in index order, in double (the host's bits exactly), into the
//                context's device scalar; copied to its pinned twin; the stream is waited for.
//   sum_into:    the same kernel, adding into a device double; nothing is waited for.
//   find_first:  thrust::find_if over the indices (it waits for its result).
//   column_sums: blocks of 32 columns x a chunk of the rows (grid columns / 32 x chunks); a block's
//                32 x 8 threads walk its rows eight apart (each warp reads 32 adjacent floats of a
//                row), then each column's 8 partial sums are added by a logical warp of 8 threads
//                with CUB's WarpReduce. With one chunk the block writes the column's sum; with more,
//                each chunk's sums go to the context's scratch and a second kernel adds them per
//                column in chunk order. The chunks depend only on rows and Cols, so the bits do too
//                (no atomics): a tall d (8192 rows of 10 columns) is read by 32 blocks, not one.

#include <cuda_runtime_api.h>
#include <thrust/find.h>
#include <thrust/iterator/counting_iterator.h>
#include <cub/warp/warp_reduce.cuh>

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

inline constexpr unsigned column_group = 32;    // columns per block: one warp's row of reads
inline constexpr unsigned row_lanes = 8;        // rows read at once per block
inline constexpr std::size_t chunk_rows = 256;  // rows per block at least, once d is split into chunks
inline constexpr std::size_t max_chunks = 64;   // chunks at most: the second kernel adds this many per column

// Row chunks of column_sums for d [rows, Cols] of T: enough blocks to fill a GPU, each with at least
// chunk_rows rows, their sums fitting the context's scratch. A function of rows and Cols alone.
template <std::size_t Cols, class T>
constexpr std::size_t column_chunks(std::size_t rows) {
  constexpr std::size_t fit = cuda_context::scratch_bytes / (Cols * sizeof(T));
  constexpr std::size_t most = fit < max_chunks ? fit : max_chunks;
  const std::size_t want = (rows + chunk_rows - 1) / chunk_rows;
  return want < 1 ? 1 : want < most ? want : most < 1 ? 1 : most;
}

// d [rows, Cols], from [rows, Cols] @ device; rows [blockIdx.y * per_chunk, ...) of them, summed into
// sums [Cols] @ device (one chunk: accumulate applies) or into row blockIdx.y of sums [chunks, Cols].
template <std::size_t Cols, bool Scale, class T, class Grad>
__global__ void __launch_bounds__(column_group* row_lanes)
    column_sums_kernel(T* d, const T* from, std::size_t rows, std::size_t per_chunk, T* sums, bool accumulate,
                       Grad grad) {
  using lane_sum = cub::WarpReduce<T, row_lanes>;
  __shared__ typename lane_sum::TempStorage temp[column_group];
  __shared__ T partial[row_lanes][column_group + 1];  // [lane, column of the group], padded
  const std::size_t col = std::size_t(blockIdx.x) * column_group + threadIdx.x;
  const std::size_t first = std::size_t(blockIdx.y) * per_chunk;
  const std::size_t end = first >= rows ? first : rows - first < per_chunk ? rows : first + per_chunk;
  sums += std::size_t(blockIdx.y) * Cols;
  T s{0};
  if (col < Cols)
    for (std::size_t r = first + threadIdx.y; r < end; r += row_lanes) {
      T v = d[r * Cols + col];
      if constexpr (Scale) {
        v = grad(v, from[r * Cols + col]);
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

// sums [Cols] @ device = (accumulate ? sums : 0) + the chunks' sums [chunks, Cols] @ device, in chunk order.
template <std::size_t Cols, class T>
__global__ void add_chunk_sums(const T* chunk_sums, std::size_t chunks, T* sums, bool accumulate) {
  const std::size_t col = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (col >= Cols) return;
  T s = chunk_sums[col];
  for (std::size_t k = 1; k < chunks; ++k) s += chunk_sums[k * Cols + col];
  sums[col] = accumulate ? sums[col] + s : s;
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
    const std::size_t chunks = column_chunks<Cols, T>(rows), per_chunk = (rows + chunks - 1) / chunks;
    T* out = chunks == 1 ? sums : static_cast<T*>(ctx.scratch());  // [Cols] or [chunks, Cols] @ device
    column_sums_kernel<Cols, Scale><<<dim3(blocks, unsigned(chunks)), dim3(column_group, row_lanes), 0, ctx.stream()>>>(
        d, from, rows, per_chunk, out, accumulate && chunks == 1, grad);  // the chunks' sums start from 0
    cuda_check(cudaGetLastError(), "the launch of column_sums_kernel", ctx.device);
    if (chunks == 1) return;
    add_chunk_sums<Cols><<<unsigned((Cols + 255) / 256), 256, 0, ctx.stream()>>>(out, chunks, sums, accumulate);
    cuda_check(cudaGetLastError(), "the launch of add_chunk_sums", ctx.device);
  }
};

}  // namespace plait
