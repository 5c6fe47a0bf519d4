#pragma once
// check_initial_replicas: across processes, at place(...), every process's replica starts from the
// same parameters and buffers. Each process hashes the parameters and buffers of its first replica (its first inner
// group's devices, in order) into 24 bits (exact in a float); one all-gather at start-up brings every rank's hash to
// every rank, and a difference is a plait: error on every rank alike, naming the ranks and their checksums. Replicas
// that start apart would train apart while the gradients they sum look healthy (a rank given another
// place_options.seed, say).

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "../comm/processes.hpp"
#include "../core/error.hpp"
#include "../kernels/copy.hpp"

namespace plait {

/// FNV-1a over the bits of the parameters and buffers of local devices [0, count), folded to 24 bits.
template <class Devices>
float replica_checksum(const Devices& devices, std::size_t count) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  std::vector<float> host;
  for (std::size_t l = 0; l < count && l < devices.local_count(); ++l) {
    const auto& m = devices.memory(l);
    host.resize(m.param_size());
    copy_to_host(m.ctx(), host.data(), m.params(), host.size());
    // Its buffers too (batch-norm's running statistics): replicas that start apart there diverge alike.
    using memory = std::remove_cvref_t<decltype(m)>;
    const std::size_t params = host.size(), buffers = memory::layout::state_buffer_size;
    host.resize(params + buffers);
    if (buffers > 0) copy_to_host(m.ctx(), host.data() + params, m.state(), buffers);
    for (float v : host) {
      std::uint32_t bits;
      std::memcpy(&bits, &v, sizeof bits);
      for (int i = 0; i < 4; ++i) h = (h ^ ((bits >> (8 * i)) & 0xff)) * 0x100000001b3ULL;
    }
  }
  return float((h ^ (h >> 24) ^ (h >> 48)) & 0xffffff);
}

/// Throws on every rank if the processes' first replicas start from different parameters.
template <class Plan, class Devices>
void check_initial_replicas(const Devices& devices) {
  process_comm* world = devices.world();
  if (!world) return;
  const std::size_t q = world->size();
  const float mine = replica_checksum(devices, Plan::inner_count);
  std::vector<float> all(q);
  try {
    world->all_gather(&mine, all.data(), q);
  } catch (const error& e) {
    fail_in("place(...), the initial parameters' checksum over processes", e);
  }
  bool same = true;
  for (float v : all) same = same && v == all[0];
  if (same) return;
  std::string who;
  for (std::size_t r = 0; r < q; ++r) {
    bool listed = false;
    for (std::size_t e = 0; e < r; ++e) listed = listed || all[e] == all[r];
    if (listed) continue;
    std::string ranks;
    for (std::size_t e = r; e < q; ++e)
      if (all[e] == all[r]) ranks += (ranks.empty() ? "" : ", ") + std::to_string(e);
    who += (who.empty() ? "" : " but ") + cat("checksum ", std::uint64_t(all[r]), " on rank",
                                              ranks.find(',') != std::string::npos ? "s " : " ", ranks);
  }
  fail(cat("the replicas' initial parameters differ across processes: ", who),
       "data-parallel replicas must start equal, or they train apart while their summed gradients look healthy",
       "pass the same place_options.seed on every rank (and the same set_parameters, if any)");
}

}  // namespace plait
