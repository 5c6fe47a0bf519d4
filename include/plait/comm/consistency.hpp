#pragma once
// The start-up check of a job across processes (docs/design.md §10), whatever carries it: every process
// states its run_identity, a transport gathers them all (mpi/check.hpp over MPI, nccl/env_processes.hpp
// over NCCL), and check_identities compares them. A mismatch is the same plait::error on every rank,
// naming which ranks differ in what.
//
//   rank 0: {0x1f.., 203530, 0.1.0}   rank 1: {0x1f.., 203530, 0.1.0}   rank 2: {0x77.., 203530, 0.1.0}
//   -> on every rank: "... graph signature 0x1f.. on ranks 0, 1 but 0x77.. on rank 2 ..."

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "processes.hpp"  // run_identity

namespace plait {

namespace consistency_detail {

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

}  // namespace consistency_detail

/// Returns when every rank's identity (all: [size] in rank order, the same on every rank) is the same;
/// otherwise throws the same plait::error on every rank, naming the ranks that differ and in what.
/// `rank`: the calling rank, named in the message.
inline void check_identities(const std::vector<run_identity>& all, std::size_t rank) {
  std::string what;
  const auto add = [&](const char* field, const std::string& diff) {
    if (!diff.empty()) what += (what.empty() ? "" : "; ") + std::string(field) + " " + diff;
  };
  add("graph signature",
      consistency_detail::differences(all, [](const run_identity& r) { return r.signature; }, consistency_detail::hex));
  add("parameter count", consistency_detail::differences(
                             all, [](const run_identity& r) { return r.parameter_count; },
                             [](std::uint64_t v) { return std::to_string(v); }));
  const auto version = [](const run_identity& r) {
    return (r.version_major << 42) | (r.version_minor << 21) | r.version_patch;
  };
  add("plait version", consistency_detail::differences(all, version, [](std::uint64_t v) {
        return std::to_string(v >> 42) + "." + std::to_string((v >> 21) & 0x1fffff) + "." +
               std::to_string(v & 0x1fffff);
      }));
  add("devices per process", consistency_detail::differences(
                                 all, [](const run_identity& r) { return r.devices_per_process; },
                                 [](std::uint64_t v) { return std::to_string(v); }));
  if (what.empty()) return;
  fail("the ranks of this job disagree at start-up (seen on rank " + std::to_string(rank) + "): " + what,
       "every rank must run the same model, policy, plait version and devices, or their collectives would not match",
       "start the same build of the program, with the same model, policy and devices, on every rank");
}

}  // namespace plait
