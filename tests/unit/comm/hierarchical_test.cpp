// Tests of include/plait/comm/hierarchical.hpp and processes.hpp without MPI: "processes" are groups of
// threads, and the communicator between them is a local_comm behind process_comm_of, so the
// hierarchical all-reduce runs under the sanitizers with the unit tests. Q processes of L devices:
// device (q, l) is a thread; its local group is the L devices of q, its group across processes the
// Q devices of local rank l.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstring>
#include <exception>
#include <memory>
#include <plait/comm/hierarchical.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace plait;

namespace {

struct mesh {
  std::size_t q, l;
  std::vector<std::unique_ptr<local_group>> locals;  // [process]: its L devices
  std::vector<std::unique_ptr<local_group>> across;  // [local rank]: that device of every process
  std::vector<std::unique_ptr<process_comm>> links;  // [device]: its handle across processes
  mesh(std::size_t processes, std::size_t per_process) : q(processes), l(per_process) {
    for (std::size_t p = 0; p < q; ++p) locals.push_back(std::make_unique<local_group>(l));
    for (std::size_t r = 0; r < l; ++r) across.push_back(std::make_unique<local_group>(q));
    for (std::size_t d = 0; d < q * l; ++d)
      links.push_back(std::make_unique<process_comm_of<local_comm>>(across[d % l]->comm(d / l)));
  }
  hierarchical_comm comm(std::size_t d) { return hierarchical_comm(locals[d / l]->comm(d % l), links[d].get()); }

  // body(comm, d) on every device, a thread each; rethrows the first exception.
  template <class Body>
  void run(Body body) {
    std::vector<std::exception_ptr> errors(q * l);
    std::vector<std::thread> threads;
    for (std::size_t d = 0; d < q * l; ++d)
      threads.emplace_back([&, d] {
        try {
          body(comm(d), d);
        } catch (...) {
          errors[d] = std::current_exception();
        }
      });
    for (auto& t : threads) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
  }
};

// Distinct per device and element, sums exact in float.
float value(std::size_t d, std::size_t i) { return float((d + 1) * 3 + i % 11) * 0.5f; }

}  // namespace

TEST_CASE("hierarchical all_reduce: the sum of every device's buffer, the same bits everywhere") {
  for (auto [q, l] : {std::pair<std::size_t, std::size_t>{2, 2}, {3, 2}, {2, 3}, {1, 3}, {3, 1}}) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{5}, std::size_t{1000}, std::size_t{4099}}) {
      CAPTURE(q);
      CAPTURE(l);
      CAPTURE(n);
      mesh m(q, l);
      std::vector<std::vector<float>> out(q * l);
      m.run([&](hierarchical_comm c, std::size_t d) {
        CHECK(c.rank() == d);
        CHECK(c.size() == q * l);
        std::vector<float> buf(n);  // [n] @ device d
        for (std::size_t i = 0; i < n; ++i) buf[i] = value(d, i);
        c.all_reduce(buf.data(), n);
        out[d] = std::move(buf);
      });
      for (std::size_t i = 0; i < n; ++i) {
        float expected = 0;
        for (std::size_t d = 0; d < q * l; ++d) expected += value(d, i);
        CHECK(out[0][i] == expected);
      }
      for (std::size_t d = 1; d < q * l; ++d) CHECK(std::memcmp(out[d].data(), out[0].data(), n * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("hierarchical broadcast from every root, and barrier") {
  mesh m(3, 2);
  for (std::size_t root = 0; root < 6; ++root) {
    std::vector<std::vector<float>> out(6);
    m.run([&](hierarchical_comm c, std::size_t d) {
      std::vector<float> buf(37, float(d));
      c.broadcast(buf.data(), buf.size(), root);
      c.barrier();
      out[d] = std::move(buf);
    });
    for (std::size_t d = 0; d < 6; ++d) CHECK(out[d] == std::vector<float>(37, float(root)));
  }
}

TEST_CASE("reduce_scatter and all_gather across processes: one device per process, group rank order") {
  mesh m(3, 1);
  const std::size_t n = 10;  // chunks 4, 3, 3
  std::vector<std::vector<float>> scattered(3), gathered(3);
  m.run([&](hierarchical_comm c, std::size_t d) {
    std::vector<float> in(n), mine(chunk_of(n, 3, d).size()), all(n);
    for (std::size_t i = 0; i < n; ++i) in[i] = value(d, i);
    c.reduce_scatter(in.data(), mine.data(), n);
    c.all_gather(mine.data(), all.data(), n);
    scattered[d] = mine;
    gathered[d] = all;
  });
  for (std::size_t d = 0; d < 3; ++d) {
    const chunk c = chunk_of(n, 3, d);
    for (std::size_t i = c.begin; i < c.end; ++i)
      CHECK(scattered[d][i - c.begin] == value(0, i) + value(1, i) + value(2, i));
    CHECK(gathered[d] == gathered[0]);
  }
}

TEST_CASE("reduce_scatter across processes of several devices is refused, naming the layout") {
  mesh m(2, 2);
  m.run([&](hierarchical_comm c, std::size_t) {
    std::vector<float> in(8), out(2);
    CHECK_THROWS_WITH_AS(c.reduce_scatter(in.data(), out.data(), 8),
                         doctest::Contains("reduce_scatter over a group of 4 devices in 2 processes (2 in each)"),
                         error);
  });
}

TEST_CASE("in one process the group is the local group alone") {
  local_group g(3);
  std::vector<std::vector<float>> out(3);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      hierarchical_comm c(g.comm(r));
      CHECK_FALSE(c.spans_processes());
      std::vector<float> buf(9, float(r + 1));
      c.all_reduce(buf.data(), buf.size());
      out[r] = buf;
    });
  for (auto& t : threads) t.join();
  for (auto& o : out) CHECK(o == std::vector<float>(9, 6.0f));
}
