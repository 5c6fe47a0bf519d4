#pragma once
// The start-up check of a job across processes (DESIGN.md §8): before the first step every rank must
// run the same graph, the same number of parameters and the same plait, or their collectives would
// not match (a hang, or silently mixed gradients). One all-gather of a small record; a mismatch is the
// same plait::error on every rank, naming which ranks differ in what.
//
//   rank 0: {0x1f.., 203530, 0.1.0}   rank 1: {0x1f.., 203530, 0.1.0}   rank 2: {0x77.., 203530, 0.1.0}
//   -> on every rank: "... graph signature 0x1f.. on ranks 0, 1 but 0x77.. on rank 2 ..."

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../../core/config.hpp"
#include "../../core/error.hpp"
#include "comm.hpp"
#include "../processes.hpp"  // run_identity

namespace plait {

namespace mpi_detail {

inline std::string hex(std::uint64_t v) {
  char text[19];
  std::snprintf(text, sizeof text, "0x%016llx", static_cast<unsigned long long>(v));
  return text;
}

// "0x.. on ranks 0, 1 but 0x.. on rank 2": each distinct value with the ranks that hold it, in order of
// first appearance. Empty when all ranks agree.
template <class Field, class Show>
std::string differences(const std::vector<run_identity>& all, const Field& field, const Show& show) {
  std::vector<std::uint64_t> values;
  std::vector<std::string> ranks;
  std::vector<std::size_t> counts;
  for (std::size_t r = 0; r < all.size(); ++r) {
    const std::uint64_t v = field(all[r]);
    std::size_t i = 0;
    while (i < values.size() && values[i] != v) ++i;
    if (i == values.size()) values.push_back(v), ranks.emplace_back(), counts.push_back(0);
    ranks[i] += (counts[i]++ ? ", " : "") + std::to_string(r);
  }
  if (values.size() < 2) return {};
  std::string text;
  for (std::size_t i = 0; i < values.size(); ++i)
    text += (i ? " but " : "") + show(values[i]) + (counts[i] == 1 ? " on rank " : " on ranks ") + ranks[i];
  return text;
}

}  // namespace mpi_detail

/// Compares this rank's identity with every other rank's (one all-gather of 40 bytes, with the
/// communicator's deadline). Collective: every rank of `comm` must call it. Throws the same
/// plait::error on every rank when any field differs anywhere, naming the ranks.
inline void check_consistent(mpi_comm& comm, const run_identity& mine) {
  std::vector<run_identity> all(comm.size());  // [size] @ every rank, rank order
  comm.all_gather_bytes(&mine, all.data(), sizeof(run_identity));
  std::string what;
  const auto add = [&](const char* field, const std::string& diff) {
    if (!diff.empty()) what += (what.empty() ? "" : "; ") + std::string(field) + " " + diff;
  };
  add("graph signature", mpi_detail::differences(all, [](const run_identity& r) { return r.signature; }, mpi_detail::hex));
  add("parameter count", mpi_detail::differences(all, [](const run_identity& r) { return r.parameter_count; },
                                                 [](std::uint64_t v) { return std::to_string(v); }));
  const auto version = [](const run_identity& r) { return (r.version_major << 42) | (r.version_minor << 21) | r.version_patch; };
  add("plait version", mpi_detail::differences(all, version, [](std::uint64_t v) {
        return std::to_string(v >> 42) + "." + std::to_string((v >> 21) & 0x1fffff) + "." + std::to_string(v & 0x1fffff);
      }));
  add("devices per process", mpi_detail::differences(all, [](const run_identity& r) { return r.devices_per_process; },
                                                     [](std::uint64_t v) { return std::to_string(v); }));
  if (what.empty()) return;
  fail("the ranks of this job disagree at start-up (seen on rank " + std::to_string(comm.rank()) + "): " + what,
       "every rank must run the same model, policy, plait version and devices, or their collectives would not match",
       "start the same build of the program, with the same model, policy and devices, on every rank");
}

/// The same, from a signature and a parameter count (this build's plait version is added).
inline void check_consistent(mpi_comm& comm, std::uint64_t signature, std::uint64_t parameter_count) {
  check_consistent(comm, run_identity{.signature = signature, .parameter_count = parameter_count});
}

}  // namespace plait
