// Tests of include/plait/comm/host/local_group.hpp and chunk.hpp: every collective and send/recv on groups of
// 1..5 ranks (one std::thread each), sizes that do not divide evenly, exact expected values
// computed here independently, deadlines, mismatches and argument errors.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <latch>
#include <plait/comm/host/local_group.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace plait;

namespace {

// Runs body(comm) on every rank of `g`, each on its own thread; rethrows the first exception.
template <class Body>
void on_ranks(local_group& g, Body body) {
  std::vector<std::exception_ptr> errors(g.size());
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < g.size(); ++r)
    threads.emplace_back([&, r] {
      try {
        body(g.comm(r));
      } catch (...) {
        errors[r] = std::current_exception();
      }
    });
  for (auto& t : threads) t.join();
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
}

// Values that are neither zero nor equal across ranks or elements, and whose sums over <= 5 ranks
// are exact in float (multiples of 0.5 below 2^22), so the expected sums need no tolerance.
float value(std::size_t rank, std::size_t i) { return float(rank + 1) * 1000.0f + float(i % 60000) * 0.5f + 0.25f; }

std::vector<std::size_t> sizes_for(std::size_t size) { return {0, 1, 2, 7, size - 1, size + 1, 1000, 100003}; }

bool bitwise_equal(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// A plait error message: `plait: <what>. <why>. Fix: <how>.`
bool well_formed(const std::string& m) {
  return m.rfind("plait: ", 0) == 0 && m.find(". Fix: ") != std::string::npos && m.back() == '.';
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("chunk_of tiles [0, n) in order, the first n % parts chunks one element larger") {
  for (std::size_t parts = 1; parts <= 7; ++parts)
    for (std::size_t n : {0u, 1u, 2u, 5u, 6u, 7u, 100u, 100003u}) {
      std::size_t next = 0;
      for (std::size_t i = 0; i < parts; ++i) {
        const chunk c = chunk_of(n, parts, i);
        CHECK(c.begin == next);
        CHECK(c.size() == n / parts + (i < n % parts ? 1 : 0));
        next = c.end;
      }
      CHECK(next == n);
    }
}

TEST_CASE("all_reduce sums over the ranks, with the same bits on every rank") {
  {
    for (std::size_t size = 1; size <= 5; ++size)
      for (std::size_t n : sizes_for(size)) {
        CAPTURE(size);
        CAPTURE(n);
        local_group g(size);
        std::vector<std::vector<float>> buf(size, std::vector<float>(n));
        for (std::size_t r = 0; r < size; ++r)
          for (std::size_t i = 0; i < n; ++i) buf[r][i] = value(r, i);
        on_ranks(g, [&](local_comm c) { c.all_reduce(buf[c.rank()].data(), n); });
        std::size_t wrong = 0;
        for (std::size_t i = 0; i < n; ++i) {
          double expected = 0;
          for (std::size_t r = 0; r < size; ++r) expected += value(r, i);
          wrong += buf[0][i] != float(expected);
        }
        CHECK(wrong == 0);
        for (std::size_t r = 1; r < size; ++r) CHECK(bitwise_equal(buf[r], buf[0]));
      }
  }
}

TEST_CASE("all_reduce adds in rank order, whatever the values (deterministic bits)") {
  const std::size_t size = 4, n = 50001;
  std::vector<std::vector<float>> in(size, std::vector<float>(n));
  std::uint64_t s = 12345;
  for (auto& v : in)
    for (auto& x : v) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      x = float(std::int64_t(s >> 33) % 2000001 - 1000000) * 1.37e-3f;  // inexact sums, both signs
    }
  std::vector<float> expected(n);
  for (std::size_t i = 0; i < n; ++i) {
    float acc = in[0][i] + in[1][i];
    for (std::size_t r = 2; r < size; ++r) acc += in[r][i];
    expected[i] = acc;
  }
  for (int run = 0; run < 3; ++run) {  // the same bits in every run, whichever rank comes first
    auto buf = in;
    local_group g(size);
    on_ranks(g, [&](local_comm c) { c.all_reduce(buf[c.rank()].data(), n); });
    for (std::size_t r = 0; r < size; ++r) CHECK(bitwise_equal(buf[r], expected));
  }
}

TEST_CASE("reduce_scatter leaves each rank the sum of its chunk, also in place") {
  for (std::size_t size = 1; size <= 5; ++size)
    for (std::size_t n : sizes_for(size))
      for (bool in_place : {false, true}) {
        CAPTURE(size);
        CAPTURE(n);
        CAPTURE(in_place);
        local_group g(size);
        std::vector<std::vector<float>> in(size, std::vector<float>(n)), out(size);
        for (std::size_t r = 0; r < size; ++r) {
          for (std::size_t i = 0; i < n; ++i) in[r][i] = value(r, i);
          out[r].assign(chunk_of(n, size, r).size(), -1.0f);
        }
        on_ranks(g, [&](local_comm c) {
          const std::size_t r = c.rank();
          float* dst = in_place ? in[r].data() + chunk_of(n, size, r).begin : out[r].data();
          c.reduce_scatter(in[r].data(), dst, n);
          if (in_place) std::copy(dst, dst + out[r].size(), out[r].begin());
        });
        std::size_t wrong = 0;
        for (std::size_t r = 0; r < size; ++r) {
          const chunk mine = chunk_of(n, size, r);
          for (std::size_t i = mine.begin; i < mine.end; ++i) {
            double expected = 0;
            for (std::size_t q = 0; q < size; ++q) expected += value(q, i);
            wrong += out[r][i - mine.begin] != float(expected);
          }
        }
        CHECK(wrong == 0);
      }
}

TEST_CASE("all_gather puts every rank's chunk in rank order, also in place") {
  for (std::size_t size = 1; size <= 5; ++size)
    for (std::size_t n : sizes_for(size))
      for (bool in_place : {false, true}) {
        CAPTURE(size);
        CAPTURE(n);
        CAPTURE(in_place);
        local_group g(size);
        std::vector<std::vector<float>> in(size), out(size, std::vector<float>(n, -1.0f));
        for (std::size_t r = 0; r < size; ++r) {
          const chunk mine = chunk_of(n, size, r);
          for (std::size_t i = mine.begin; i < mine.end; ++i) in[r].push_back(value(r, i));
          if (in_place) std::copy(in[r].begin(), in[r].end(), out[r].begin() + std::ptrdiff_t(mine.begin));
        }
        on_ranks(g, [&](local_comm c) {
          const std::size_t r = c.rank();
          const float* src = in_place ? out[r].data() + chunk_of(n, size, r).begin : in[r].data();
          c.all_gather(src, out[r].data(), n);
        });
        std::size_t wrong = 0;
        for (std::size_t r = 0; r < size; ++r)
          for (std::size_t q = 0; q < size; ++q) {
            const chunk theirs = chunk_of(n, size, q);
            for (std::size_t i = theirs.begin; i < theirs.end; ++i) wrong += out[r][i] != value(q, i);
          }
        CHECK(wrong == 0);
      }
}

TEST_CASE("broadcast copies the root's buffer to every rank, from every root") {
  for (std::size_t size = 1; size <= 5; ++size)
    for (std::size_t n : sizes_for(size))
      for (std::size_t root = 0; root < size; ++root) {
        CAPTURE(size);
        CAPTURE(n);
        CAPTURE(root);
        local_group g(size);
        std::vector<std::vector<float>> buf(size, std::vector<float>(n));
        for (std::size_t r = 0; r < size; ++r)
          for (std::size_t i = 0; i < n; ++i) buf[r][i] = value(r, i);
        on_ranks(g, [&](local_comm c) { c.broadcast(buf[c.rank()].data(), n, root); });
        std::size_t wrong = 0;
        for (std::size_t r = 0; r < size; ++r)
          for (std::size_t i = 0; i < n; ++i) wrong += buf[r][i] != value(root, i);
        CHECK(wrong == 0);
      }
}

TEST_CASE("barrier: no rank leaves round k before every rank has entered it") {
  for (std::size_t size = 1; size <= 5; ++size) {
    local_group g(size);
    std::atomic<std::size_t> entered{0};
    std::atomic<std::size_t> early{0};
    on_ranks(g, [&](local_comm c) {
      for (std::size_t k = 1; k <= 300; ++k) {
        entered.fetch_add(1);
        c.barrier();
        early += entered.load() < k * size;
      }
    });
    CHECK(early.load() == 0);
  }
}

TEST_CASE("many collectives in a row (races), each result checked") {
  for (std::size_t size : {2u, 3u, 5u}) {
    CAPTURE(size);
    local_group g(size);
    std::atomic<std::size_t> wrong{0};
    on_ranks(g, [&](local_comm c) {
      const std::size_t r = c.rank();
      std::vector<float> a(5), out(5);
      for (std::size_t it = 0; it < 2000; ++it) {
        const std::size_t n = 1 + it % 5;
        for (std::size_t i = 0; i < n; ++i) a[i] = value(r, i + it);
        c.all_reduce(a.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
          float expected = 0;
          for (std::size_t q = 0; q < size; ++q) expected += value(q, i + it);
          wrong += a[i] != expected;
        }
        if (it % 4 == 0) {  // interleave the other collectives
          const std::size_t root = it % size;
          for (std::size_t i = 0; i < n; ++i) a[i] = value(r, i + it);
          c.broadcast(a.data(), n, root);
          for (std::size_t i = 0; i < n; ++i) wrong += a[i] != value(root, i + it);
          for (std::size_t i = 0; i < n; ++i) a[i] = value(r, i);
          c.reduce_scatter(a.data(), out.data(), n);
          c.all_gather(out.data(), a.data(), n);
          for (std::size_t i = 0; i < n; ++i) {
            float expected = 0;
            for (std::size_t q = 0; q < size; ++q) expected += value(q, i);
            wrong += a[i] != expected;
          }
          c.barrier();
        }
      }
    });
    CHECK(wrong.load() == 0);
  }
}

TEST_CASE("send/recv: messages of one pair arrive in order") {
  local_group g(2);
  std::vector<std::vector<float>> got(6);
  on_ranks(g, [&](local_comm c) {
    for (std::size_t m = 0; m < got.size(); ++m) {
      const std::size_t n = m * 37 % 11;  // 0 .. 10 floats, one empty message
      std::vector<float> msg(n);
      if (c.rank() == 0) {
        for (std::size_t i = 0; i < n; ++i) msg[i] = value(m, i);
        c.send(msg.data(), n, 1);
      } else {
        c.recv(msg.data(), n, 0);
        got[m] = msg;
      }
    }
  });
  for (std::size_t m = 0; m < got.size(); ++m) {
    std::vector<float> expected(m * 37 % 11);
    for (std::size_t i = 0; i < expected.size(); ++i) expected[i] = value(m, i);
    CHECK(bitwise_equal(got[m], expected));
  }
}

TEST_CASE("send/recv: ping-pong in two pairs at once") {
  local_group g(4);
  std::atomic<std::size_t> wrong{0};
  on_ranks(g, [&](local_comm c) {
    const std::size_t r = c.rank(), partner = r ^ 1;
    std::vector<float> ball(100003);
    for (std::size_t i = 0; i < ball.size(); ++i) ball[i] = value(r, i);
    for (int round = 0; round < 50; ++round) {
      if (r % 2 == 0) {
        c.send(ball.data(), ball.size(), partner);
        c.recv(ball.data(), ball.size(), partner);
      } else {
        c.recv(ball.data(), ball.size(), partner);
        for (auto& x : ball) x += 1.0f;
        c.send(ball.data(), ball.size(), partner);
      }
    }
    if (r % 2 == 0)
      for (std::size_t i = 0; i < ball.size(); ++i) wrong += ball[i] != value(r, i) + 50.0f;
  });
  CHECK(wrong.load() == 0);
}

TEST_CASE("send/recv: all pairs at once, each rank sending and receiving on two threads") {
  for (std::size_t size = 2; size <= 5; ++size) {
    CAPTURE(size);
    local_group g(size);
    const std::size_t n = 1000 + size;
    std::atomic<std::size_t> wrong{0};
    on_ranks(g, [&](local_comm c) {
      const std::size_t r = c.rank();
      std::thread receiver([&] {  // round d: from rank r - d
        std::vector<float> in(n);
        for (std::size_t d = 1; d < size; ++d) {
          const std::size_t from = (r + size - d) % size;
          c.recv(in.data(), n, from);
          for (std::size_t i = 0; i < n; ++i) wrong += in[i] != value(from, i + r);
        }
      });
      std::vector<float> out(n);
      for (std::size_t d = 1; d < size; ++d) {  // round d: to rank r + d
        const std::size_t to = (r + d) % size;
        for (std::size_t i = 0; i < n; ++i) out[i] = value(r, i + to);
        c.send(out.data(), n, to);
      }
      receiver.join();
    });
    CHECK(wrong.load() == 0);
  }
}

TEST_CASE("a rank that never arrives is a plait error within the deadline, not a hang") {
  using namespace std::chrono;
  const local_options quick{.deadline = milliseconds(200)};
  SUBCASE("collective") {
    local_group g(3, quick);
    std::vector<std::string> msgs(3);
    std::vector<double> waited(3);
    std::vector<std::thread> t;
    std::latch started(2);
    for (std::size_t r = 1; r < 3; ++r)  // rank 0 never calls
      t.emplace_back([&, r] {
        started.arrive_and_wait();
        const auto t0 = steady_clock::now();
        std::vector<float> buf(10, value(r, 0));
        try {
          g.comm(r).all_reduce(buf.data(), buf.size());
        } catch (const error& e) {
          msgs[r] = e.what();
        }
        waited[r] = duration<double>(steady_clock::now() - t0).count();
      });
    for (auto& x : t) x.join();
    for (std::size_t r = 1; r < 3; ++r) {
      CAPTURE(msgs[r]);
      CHECK(well_formed(msgs[r]));
      CHECK(contains(msgs[r], "all_reduce on rank " + std::to_string(r)));
      CHECK(contains(msgs[r], "rank 0"));
      CHECK(waited[r] < 10.0);
    }
    CHECK((contains(msgs[1], "waited 200 ms for rank 0") || contains(msgs[2], "waited 200 ms for rank 0")));
    // The group is broken: a late rank, and every later call, fails at once.
    std::vector<float> buf(10);
    CHECK_THROWS_AS(g.comm(0).all_reduce(buf.data(), buf.size()), error);
    CHECK_THROWS_WITH_AS(g.comm(1).barrier(), doctest::Contains("broken local_group"), error);
  }
  SUBCASE("send without recv, recv without send") {
    for (bool sending : {true, false}) {
      local_group g(2, quick);
      std::vector<float> buf(4, 1.5f);
      std::string msg;
      try {
        if (sending) g.comm(1).send(buf.data(), buf.size(), 0);
        else g.comm(1).recv(buf.data(), buf.size(), 0);
      } catch (const error& e) {
        msg = e.what();
      }
      CAPTURE(msg);
      CHECK(well_formed(msg));
      CHECK(contains(msg, std::string(sending ? "send" : "recv") + " on rank 1 waited 200 ms for rank 0"));
    }
  }
}

TEST_CASE("mismatched collectives throw on every rank") {
  struct mismatch {
    const char* name;
    void (*call)(local_comm&, std::vector<float>&);
  };
  const mismatch cases[] = {
      {"different n", [](local_comm& c, std::vector<float>& b) { c.all_reduce(b.data(), 5 + c.rank()); }},
      {"different roots", [](local_comm& c, std::vector<float>& b) { c.broadcast(b.data(), 8, c.rank()); }},
      {"different collectives",
       [](local_comm& c, std::vector<float>& b) {
         if (c.rank() == 0) c.barrier();
         else c.all_reduce(b.data(), 8);
       }},
  };
  for (const auto& m : cases) {
    CAPTURE(m.name);
    local_group g(3);
    std::vector<std::string> msgs(3);
    on_ranks(g, [&](local_comm c) {
      std::vector<float> b(16, value(c.rank(), 1));
      try {
        m.call(c, b);
      } catch (const error& e) {
        msgs[c.rank()] = e.what();
      }
    });
    for (const auto& msg : msgs) {
      CAPTURE(msg);
      CHECK(well_formed(msg));
      CHECK(contains(msg, "same collectives"));
    }
  }
  SUBCASE("send and recv of different lengths") {
    local_group g(2);
    std::vector<std::string> msgs(2);
    on_ranks(g, [&](local_comm c) {
      std::vector<float> b(16, 2.5f);
      try {
        if (c.rank() == 0) c.send(b.data(), 7, 1);
        else c.recv(b.data(), 9, 0);
      } catch (const error& e) {
        msgs[c.rank()] = e.what();
      }
    });
    for (const auto& msg : msgs) {
      CAPTURE(msg);
      CHECK(well_formed(msg));
      CHECK(contains(msg, "a message of 7 floats met a recv of 9"));
    }
  }
}

TEST_CASE("argument errors are plait errors") {
  const auto throws_plait = [](auto f, const char* part) {
    std::string msg;
    try {
      f();
    } catch (const error& e) {
      msg = e.what();
    }
    CAPTURE(msg);
    CHECK(well_formed(msg));
    CHECK(contains(msg, part));
  };
  using namespace std::chrono;
  throws_plait([] { local_group g(0); }, "local_group(0)");
  throws_plait([] { local_group g(2, {.deadline = milliseconds(0)}); }, "deadline");
  local_group g(3);
  throws_plait([&] { g.comm(3); }, "comm(3)");
  float x[4] = {1, 2, 3, 4};
  throws_plait([&] { g.comm(1).broadcast(x, 4, 3); }, "from root 3");
  throws_plait([&] { g.comm(1).send(x, 4, 1); }, "itself");
  throws_plait([&] { g.comm(1).recv(x, 4, 1); }, "itself");
  throws_plait([&] { g.comm(0).send(x, 4, 7); }, "peer 7");
  throws_plait([&] { g.comm(0).recv(x, 4, 3); }, "peer 3");
  throws_plait([&] { g.comm(0).all_reduce(nullptr, 4); }, "null buffer");
  // Argument errors are found before anything is published: the group still works.
  std::vector<std::vector<float>> buf(3, std::vector<float>(4, 1.0f));
  on_ranks(g, [&](local_comm c) { c.all_reduce(buf[c.rank()].data(), 4); });
  CHECK(buf[2][3] == 3.0f);
}

TEST_CASE("post does not wait for the receiver; take gets the posted messages in order") {
  plait::local_group g(2, {.deadline = std::chrono::milliseconds(2000)});
  std::vector<std::vector<float>> msgs;
  for (int k = 0; k < 10; ++k) msgs.push_back(std::vector<float>(5 + k, float(k) + 0.5f));
  auto sender = g.comm(0);
  std::uint64_t last = 0;
  for (auto& m : msgs) last = sender.post(m.data(), m.size(), 1);  // nobody receives yet: returns at once
  CHECK(last == 10);
  std::thread receiver([&] {
    auto c = g.comm(1);
    for (int k = 0; k < 10; ++k) {
      std::vector<float> got(5 + k);
      c.take(got.data(), got.size(), 0);
      CHECK(got == msgs[std::size_t(k)]);
    }
  });
  sender.wait_taken(1, last);  // every buffer has been copied: the sender may reuse them
  receiver.join();
}

TEST_CASE("borrow reads the sender's buffer in place; the sender waits for each release, in any order") {
  plait::local_group g(2, {.deadline = std::chrono::milliseconds(2000)});
  auto sender = g.comm(0), receiver = g.comm(1);
  std::vector<float> a(4, 1.0f), b(6, 2.0f);
  const std::uint64_t ta = sender.post(a.data(), a.size(), 1), tb = sender.post(b.data(), b.size(), 1);
  std::uint64_t ra = 0, rb = 0;
  CHECK(receiver.borrow(a.size(), 0, ra) == a.data());  // no copy: the sender's own memory
  CHECK(receiver.borrow(b.size(), 0, rb) == b.data());
  CHECK(ra == ta);
  CHECK(rb == tb);
  std::atomic<int> stage{0};
  std::thread waiter([&] {
    g.comm(0).wait_taken(1, tb);  // b is released first: returns while a is still borrowed
    stage = 1;
    g.comm(0).wait_taken(1, ta);
    stage = 2;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(stage == 0);  // neither is released yet: reached is not taken
  receiver.release(0, rb);
  while (stage < 1) std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(stage == 1);
  receiver.release(0, ra);
  waiter.join();
  CHECK(stage == 2);
}

TEST_CASE(
    "a borrowed message keeps its ring entry: the sender's post of the entry's next message waits for its release") {
  plait::local_group g(2, {.deadline = std::chrono::milliseconds(2000)});
  std::vector<float> x(3, 1.0f);
  auto sender = g.comm(0), receiver = g.comm(1);
  std::uint64_t first = 0, t = 0;
  sender.post(x.data(), 3, 1);
  receiver.borrow(3, 0, first);   // held
  for (int k = 1; k < 64; ++k) {  // the other 63 entries go round as copies
    sender.post(x.data(), 3, 1);
    std::vector<float> got(3);
    receiver.take(got.data(), 3, 0);
  }
  std::atomic<bool> posted{false};
  std::thread post([&] {
    g.comm(0).post(x.data(), 3, 1);  // message 65 lands in message 1's entry
    posted = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK_FALSE(posted);
  receiver.release(0, first);
  post.join();
  CHECK(posted);
  CHECK(receiver.borrow(3, 0, t) == x.data());
  CHECK(t == 65);
}

TEST_CASE("a sender waiting for a release that never comes is a plait error within the deadline") {
  plait::local_group g(2, {.deadline = std::chrono::milliseconds(200)});
  std::vector<float> x(3, 1.0f);
  auto sender = g.comm(0), receiver = g.comm(1);
  const std::uint64_t t = sender.post(x.data(), 3, 1);
  std::uint64_t got = 0;
  receiver.borrow(3, 0, got);
  CHECK_THROWS_WITH_AS(sender.wait_taken(1, t), doctest::Contains("to take a posted message"), plait::error);
}

TEST_CASE("take with the wrong length, or with nothing posted, is a plait error") {
  plait::local_group g(2, {.deadline = std::chrono::milliseconds(200)});
  auto b = g.comm(1);
  std::vector<float> none(3);
  CHECK_THROWS_WITH_AS(b.take(none.data(), 3, 0), doctest::Contains("plait: recv on rank 1"), plait::error);
  plait::local_group h(2, {.deadline = std::chrono::milliseconds(200)});
  auto c = h.comm(0), d = h.comm(1);
  std::vector<float> four(4, 1.0f), three(3);
  c.post(four.data(), 4, 1);
  CHECK_THROWS_WITH_AS(d.take(three.data(), 3, 0), doctest::Contains("a message of 4 floats met a recv of 3"),
                       plait::error);
}
