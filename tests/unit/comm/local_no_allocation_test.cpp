// Proves that local_comm's collectives and send/recv allocate nothing once the group exists: every
// global operator new is counted per thread, and each rank counts its own across many calls.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <plait/comm/host/local_group.hpp>
#include <thread>
#include <vector>

#include "counting_new.hpp"

namespace {
using plait::test::thread_new_calls;  // operator new calls made by the calling thread
}

using namespace plait;

TEST_CASE("collectives and send/recv allocate nothing after the group is built") {
  for (std::size_t size : {1u, 2u, 3u}) {
    CAPTURE(size);
    const std::size_t groups_before = thread_new_calls;
    local_group g(size);
    CHECK(thread_new_calls > groups_before);  // the counter sees the group's own allocations
    std::vector<std::size_t> allocations(size, 1000);
    std::vector<std::thread> threads;
    for (std::size_t r = 0; r < size; ++r)
      threads.emplace_back([&, r] {
        local_comm c = g.comm(r);
        std::vector<float> a(30001), b(30001), part(chunk_of(30001, size, r).size());
        for (std::size_t i = 0; i < a.size(); ++i) a[i] = float(r + 1) + float(i % 97) * 0.25f;
        const std::size_t before = thread_new_calls;
        for (std::size_t it = 0; it < 200; ++it) {
          const std::size_t n = it % 2 ? a.size() : it % 7;  // large and small, 0 included
          c.all_reduce(a.data(), n);
          c.reduce_scatter(a.data(), part.data(), n);
          c.all_gather(part.data(), b.data(), n);
          c.broadcast(b.data(), n, it % size);
          c.barrier();
          if (size > 1) {  // a ring: even ranks send first, so no rendezvous waits on itself
            const std::size_t next = (r + 1) % size, prev = (r + size - 1) % size;
            if (r % 2 == 0) c.send(a.data(), n, next), c.recv(b.data(), n, prev);
            else c.recv(b.data(), n, prev), c.send(a.data(), n, next);
          }
          for (std::size_t i = 0; i < n; ++i) a[i] = b[i] * 0.5f;  // keep the values bounded
        }
        allocations[r] = thread_new_calls - before;
      });
    for (auto& t : threads) t.join();
    for (std::size_t r = 0; r < size; ++r) CHECK(allocations[r] == 0);
  }
}
