#pragma once
// The Communicator concept: what the runtime asks of a transport between the ranks of one group. Each
// transport models it in its own folder: host/ (threads of one process), cuda/ (the CUDA devices of one
// process), mpi/ and nccl/ (processes); process_comm (processes.hpp) holds any of them behind one
// virtual call per operation.

#include <concepts>
#include <cstddef>
#include <cstdint>

namespace plait {

/// Communicator: what the runtime needs between the ranks of one group (docs/design.md §8), for host
/// buffers of floats. Models: local_comm (threads of one process, comm/host/local_group.hpp) and mpi_comm
/// (processes, comm/mpi/comm.hpp). Requirements, for a group of size() ranks of which this is rank():
///   - all_reduce(buf, n): [n] @ every rank -> the sum, the same bits on every rank;
///   - reduce_scatter(in, out, n): out = my chunk (chunk_of(n, size, rank)) of the sum;
///   - all_gather(in, out, n): in = my chunk, out = [n] in rank order;
///   - broadcast(buf, n, root); barrier();
///   - send/recv(buf, n, peer): matched in FIFO order per pair; post(buf, n, peer) -> ticket, then
///     take(buf, n, peer) on the receiver and wait_taken(peer, ticket) before the buffer is reused.
/// Every call either completes or throws a plait::error (a peer that never comes is a deadline).
template <class C>
concept Communicator = requires(C& c, float* buf, const float* in, std::size_t n, std::uint64_t ticket) {
  { c.rank() } -> std::convertible_to<std::size_t>;
  { c.size() } -> std::convertible_to<std::size_t>;
  c.all_reduce(buf, n);
  c.reduce_scatter(in, buf, n);
  c.all_gather(in, buf, n);
  c.broadcast(buf, n, n);
  c.barrier();
  c.send(in, n, n);
  c.recv(buf, n, n);
  { c.post(in, n, n) } -> std::convertible_to<std::uint64_t>;
  c.take(buf, n, n);
  c.wait_taken(n, ticket);
};

}  // namespace plait
