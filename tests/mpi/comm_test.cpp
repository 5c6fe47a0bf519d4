// Tests of include/plait/comm/mpi/comm.hpp, run under mpiexec -np 2 and -np 3 (tests/mpi/CMakeLists.txt).
#include "mpi_doctest_main.hpp"

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <plait/comm/host/local_group.hpp>
#include <string>
#include <thread>
#include <vector>

// mpi_comm offers local_comm's operations with the same signatures, so the runtime can drive either.
template <class C>
concept host_communicator = requires(C& c, float* buf, const float* in, std::size_t n, std::uint64_t ticket) {
  { c.rank() } -> std::same_as<std::size_t>;
  { c.size() } -> std::same_as<std::size_t>;
  c.all_reduce(buf, n);
  c.reduce_scatter(in, buf, n);
  c.all_gather(in, buf, n);
  c.broadcast(buf, n, n);
  c.send(in, n, n);
  c.recv(buf, n, n);
  { c.post(in, n, n) } -> std::same_as<std::uint64_t>;
  c.take(buf, n, n);
  c.wait_taken(n, ticket);
  c.barrier();
};
static_assert(host_communicator<plait::local_comm>);
static_assert(host_communicator<plait::mpi_comm>);

using plait::chunk;
using plait::chunk_of;
using plait_test::comm;

namespace {

// Sizes: empty, one float, fewer floats than ranks, not multiples of 2 or 3, large (several MiB).
const std::size_t sizes[] = {0, 1, 2, 5, 7, 1000, 1001, (std::size_t{1} << 20) + 3};

// Rank q's value at i: never zero, a multiple of 1/1024 in [1, 2), so sums of a few are exact in float.
float value(std::size_t q, std::size_t i) { return 1.0f + float((i * 7 + q * 13) % 1024) / 1024.0f; }
float sum_at(std::size_t i) {
  float s = 0;
  for (std::size_t q = 0; q < comm().size(); ++q) s += value(q, i);
  return s;
}
std::vector<float> values_of(std::size_t q, std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = value(q, i);
  return v;
}
std::size_t first_mismatch(const std::vector<float>& got, std::size_t offset, float (*expect)(std::size_t)) {
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got[i] != expect(offset + i)) return i;
  return got.size();
}

std::string message_of(auto&& f) {
  try {
    f();
  } catch (const plait::error& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("mpi_comm numbers the ranks like MPI_COMM_WORLD") {
  int rank = 0, size = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  CHECK(comm().rank() == std::size_t(rank));
  CHECK(comm().size() == std::size_t(size));
  CHECK(comm().native() != MPI_COMM_WORLD);  // a duplicate: plait's messages never meet the application's
}

TEST_CASE("all_reduce sums every rank's buffer, for every size") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    std::vector<float> buf = values_of(comm().rank(), n);  // [n] @ rank r
    comm().all_reduce(buf.data(), n);
    CHECK(first_mismatch(buf, 0, sum_at) == n);
  }
}

TEST_CASE("all_reduce gives every rank the same bits") {
  const std::size_t n = 100003;
  std::vector<float> buf(n);  // [n] @ rank r: values whose sums round, so the order of addition shows
  for (std::size_t i = 0; i < n; ++i) buf[i] = std::sin(float(i) * 0.37f + float(comm().rank()) * 1.3f) * 1e3f;
  comm().all_reduce(buf.data(), n);
  std::uint64_t hash = 1469598103934665603ull;  // FNV-1a over the result's bytes
  for (float f : buf) {
    std::uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    hash = (hash ^ bits) * 1099511628211ull;
  }
  std::vector<std::uint64_t> all(comm().size());
  comm().all_gather_bytes(&hash, all.data(), sizeof hash);
  for (std::size_t q = 0; q < all.size(); ++q) CHECK(all[q] == hash);
}

TEST_CASE("reduce_scatter leaves each rank its chunk of the sum, also in place") {
  const std::size_t r = comm().rank();
  for (std::size_t n : sizes) {
    CAPTURE(n);
    const chunk mine = chunk_of(n, comm().size(), r);
    const std::vector<float> in = values_of(r, n);  // [n] @ rank r
    std::vector<float> out(mine.size());            // [chunk r] @ rank r
    comm().reduce_scatter(in.data(), out.data(), n);
    CHECK(first_mismatch(out, mine.begin, sum_at) == mine.size());

    std::vector<float> both = values_of(r, n);  // [n] @ rank r; the result lands at chunk r
    comm().reduce_scatter(both.data(), both.data() + mine.begin, n);
    CHECK(first_mismatch(std::vector<float>(both.begin() + mine.begin, both.begin() + mine.end), mine.begin, sum_at) ==
          mine.size());
  }
}

TEST_CASE("all_gather concatenates the chunks in rank order, also in place") {
  const std::size_t r = comm().rank();
  for (std::size_t n : sizes) {
    CAPTURE(n);
    const chunk mine = chunk_of(n, comm().size(), r);
    std::vector<float> in(mine.size());  // [chunk r] @ rank r
    for (std::size_t i = 0; i < in.size(); ++i) in[i] = value(r, mine.begin + i);
    std::vector<float> out(n, -1.0f);  // [n] @ every rank
    comm().all_gather(in.data(), out.data(), n);
    std::size_t wrong = 0;
    for (std::size_t q = 0; q < comm().size(); ++q) {
      const chunk c = chunk_of(n, comm().size(), q);
      for (std::size_t i = c.begin; i < c.end; ++i) wrong += out[i] != value(q, i);
    }
    CHECK(wrong == 0);

    std::vector<float> both(n, -1.0f);  // [n] @ rank r, chunk r already in place
    for (std::size_t i = mine.begin; i < mine.end; ++i) both[i] = value(r, i);
    comm().all_gather(both.data() + mine.begin, both.data(), n);
    CHECK(both == out);
  }
}

TEST_CASE("broadcast copies the root's buffer to every rank, from each root") {
  for (std::size_t root = 0; root < comm().size(); ++root)
    for (std::size_t n : sizes) {
      CAPTURE(root);
      CAPTURE(n);
      std::vector<float> buf = values_of(comm().rank(), n);  // [n] @ every rank; root's wins
      comm().broadcast(buf.data(), n, root);
      CHECK(buf == values_of(root, n));
    }
}

TEST_CASE("send and recv keep each pair's messages in order, beside collectives on another thread") {
  // Every rank sends to the next and receives from the previous, on a thread of its own, while the
  // main thread runs all-reduces: MPI_THREAD_MULTIPLE at work. Lengths differ per message (0 included).
  const std::size_t size = comm().size(), r = comm().rank();
  const std::size_t next = (r + 1) % size, prev = (r + size - 1) % size;
  const std::size_t lengths[] = {3, 0, 1000, 1, (std::size_t{1} << 18) + 1, 17};
  std::vector<std::vector<float>> received(std::size(lengths));
  std::thread sender([&] {
    for (std::size_t k = 0; k < std::size(lengths); ++k) {
      std::vector<float> msg(lengths[k]);  // [len k] @ rank r -> @ next
      for (std::size_t i = 0; i < msg.size(); ++i) msg[i] = float(k * 100000 + i) + float(r) * 0.5f;
      comm().send(msg.data(), msg.size(), next);
    }
  });
  std::thread receiver([&] {
    for (std::size_t k = 0; k < std::size(lengths); ++k) {
      received[k].resize(lengths[k]);  // [len k] @ prev -> @ rank r
      comm().recv(received[k].data(), lengths[k], prev);
    }
  });
  std::vector<float> buf = values_of(r, 4097);
  for (int i = 0; i < 5; ++i) comm().all_reduce(buf.data(), buf.size());
  sender.join();
  receiver.join();
  for (std::size_t k = 0; k < std::size(lengths); ++k) {
    CAPTURE(k);
    std::size_t wrong = 0;
    for (std::size_t i = 0; i < lengths[k]; ++i) wrong += received[k][i] != float(k * 100000 + i) + float(prev) * 0.5f;
    CHECK(wrong == 0);
  }
  comm().barrier();
}

TEST_CASE("max_count splits long buffers into several MPI calls with the same result") {
  plait::mpi_comm small(plait_test::world(), {.deadline = std::chrono::seconds(30), .max_count = 7});
  const std::size_t r = small.rank(), size = small.size();
  std::vector<float> buf = values_of(r, 100);
  small.all_reduce(buf.data(), buf.size());
  CHECK(first_mismatch(buf, 0, sum_at) == buf.size());

  std::vector<float> b = values_of(r, 23);
  small.broadcast(b.data(), b.size(), size - 1);
  CHECK(b == values_of(size - 1, 23));

  if (r < 2) {  // a 20-float message in three pieces, rank 0 -> rank 1
    std::vector<float> msg = values_of(0, 20), got(20, 0.0f);
    if (r == 0) {
      small.send(msg.data(), msg.size(), 1);
    } else {
      small.recv(got.data(), got.size(), 0);
      CHECK(got == msg);
    }
  }
  // reduce_scatter and all_gather cut chunks per call: longer than max_count is refused on every rank alike.
  std::vector<float> in(8), out(8);
  CHECK(message_of([&] {
          small.reduce_scatter(in.data(), out.data(), 8);
        }).find("reduce_scatter on rank " + std::to_string(r) + " of " + std::to_string(size) + " of 8 elements") !=
        std::string::npos);
  CHECK(message_of([&] { small.all_gather(in.data(), out.data(), 8); }).find("split the buffer") != std::string::npos);
  CHECK_FALSE(small.broken());  // refused before any MPI call
  small.barrier();
}

TEST_CASE("barrier holds every rank until the last arrives") {
  const auto start = std::chrono::steady_clock::now();
  if (comm().rank() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(300));
  comm().barrier();
  CHECK(std::chrono::steady_clock::now() - start >= std::chrono::milliseconds(250));
}

TEST_CASE("a recv whose length differs from the message is an error naming both lengths") {
  plait::mpi_comm c(plait_test::world(), {.deadline = std::chrono::seconds(30)});
  const std::size_t r = c.rank();
  std::vector<float> five = values_of(0, 5), buf(4);
  if (r == 0) {
    c.send(five.data(), 5, 1);  // longer than the recv
  } else if (r == 1) {
    const std::string longer = message_of([&] { c.recv(buf.data(), 4, 0); });
    CHECK(longer.find("plait: recv on rank 1 of " + std::to_string(c.size()) +
                      " from rank 0: a message of another length met a recv of 4 floats") == 0);
    CHECK(c.broken());
    CHECK(message_of([&] { c.recv(buf.data(), 3, 0); }).find("was called on a broken mpi_comm") != std::string::npos);
  }
  plait::mpi_comm d(plait_test::world(), {.deadline = std::chrono::seconds(30)});
  if (r == 0) d.send(five.data(), 3, 1);  // shorter than the recv
  if (r == 1)
    CHECK(message_of([&] {
            d.recv(buf.data(), 4, 0);
          }).find("a message of 3 floats met a recv of 4 floats. a send and its recv must agree") != std::string::npos);
  comm().barrier();
}

TEST_CASE("misuse is refused before any MPI call, naming the rank") {
  const std::size_t r = comm().rank(), size = comm().size();
  float x = 0;
  const std::string on = " on rank " + std::to_string(r) + " of " + std::to_string(size);
  CHECK(message_of([&] { comm().send(&x, 1, size); }) ==
        "plait: send" + on + " with peer " + std::to_string(size) +
            ". ranks are 0 .. size - 1. Fix: pass a peer below size().");
  CHECK(message_of([&] { comm().recv(&x, 1, r); }).find("recv" + on + " with itself as the peer") != std::string::npos);
  CHECK(message_of([&] {
          comm().broadcast(&x, 1, size);
        }).find("broadcast" + on + " from root " + std::to_string(size)) != std::string::npos);
  CHECK(message_of([&] {
          comm().all_reduce(nullptr, 3);
        }).find("all_reduce" + on + " got a null buffer for 3 floats") != std::string::npos);
  CHECK(message_of([] {
          plait::mpi_comm bad(MPI_COMM_WORLD, {.deadline = std::chrono::milliseconds(0)});
        }).find("deadline <= 0") != std::string::npos);
  CHECK_FALSE(comm().broken());
}

TEST_CASE("a peer that never sends becomes a deadline error naming this rank, the operation and the peer") {
  plait::mpi_comm c(plait_test::world(), {.deadline = std::chrono::milliseconds(300)});
  const std::size_t r = c.rank(), size = c.size();
  if (r == 0) {
    float buf[4];
    const auto start = std::chrono::steady_clock::now();
    const std::string e = message_of([&] { c.recv(buf, 4, 1); });
    const auto waited = std::chrono::steady_clock::now() - start;
    CHECK(e.find("plait: recv of 4 floats on rank 0 of " + std::to_string(size) +
                 " from rank 1 waited 300 ms for rank 1 to send. a peer did not reach") == 0);
    CHECK(e.find("Fix: end the job (plait::run_or_abort calls MPI_Abort)") != std::string::npos);
    CHECK(waited >= std::chrono::milliseconds(300));
    CHECK(waited < std::chrono::seconds(10));
    CHECK(c.broken());
    CHECK(message_of([&] {
            c.barrier();
          }).find("barrier on rank 0 of " + std::to_string(size) + " was called on a broken mpi_comm") == 7);
  }
  comm().barrier();  // rank 1 never sent: its messages and c's pending receive stay on c, which nobody uses again
}

TEST_CASE("post does not wait for the receiver; take receives each pair's posts in order") {
  // Every rank posts to the next as many messages as may be in flight (post_depth), some large enough
  // that MPI holds them until received, before the previous rank takes any: posting must not wait for
  // the receiver. A second round wraps around the ring of in-flight messages.
  const std::size_t size = comm().size(), r = comm().rank();
  const std::size_t next = (r + 1) % size, prev = (r + size - 1) % size;
  const auto length = [](std::size_t k) { return k % 10 == 3 ? std::size_t(70000) : k % 7; };
  const auto datum = [](std::size_t k, std::size_t i, std::size_t from) {
    return float(k * 1000 + i % 1000) + float(from) * 0.25f;
  };
  std::size_t k = 0, wrong = 0;
  std::uint64_t ticket = 0;
  for (const std::size_t round : {plait::mpi_comm::post_depth, std::size_t(36)}) {
    std::vector<std::vector<float>> out(round);
    for (std::size_t j = 0; j < round; ++j) {
      out[j].resize(length(k + j));  // [len] @ rank r -> @ next, kept until wait_taken
      for (std::size_t i = 0; i < out[j].size(); ++i) out[j][i] = datum(k + j, i, r);
      ticket = comm().post(out[j].data(), out[j].size(), next);
      CHECK(ticket == k + j + 1);
    }
    for (std::size_t j = 0; j < round; ++j) {
      std::vector<float> in(length(k + j));  // [len] @ prev -> @ rank r
      comm().take(in.data(), in.size(), prev);
      for (std::size_t i = 0; i < in.size(); ++i) wrong += in[i] != datum(k + j, i, prev);
    }
    comm().wait_taken(next, ticket);
    k += round;
  }
  CHECK(wrong == 0);
  CHECK(message_of([&] {
          comm().wait_taken(next, ticket + 1);
        }).find("only " + std::to_string(k) + " messages were posted") != std::string::npos);
  comm().barrier();
}

TEST_CASE("take checks the length, and waits for a post only until the deadline") {
  plait::mpi_comm c(plait_test::world(), {.deadline = std::chrono::seconds(30)});
  const std::size_t r = c.rank();
  float three[3] = {1, 2, 3}, buf[4];
  if (r == 0) c.wait_taken(1, c.post(three, 3, 1));
  if (r == 1) {
    CHECK(message_of([&] { c.take(buf, 4, 0); })
              .find("take on rank 1 of " + std::to_string(c.size()) +
                    " from rank 0: a message of 3 floats met a recv of 4 floats") != std::string::npos);
    CHECK(c.broken());
  }
  plait::mpi_comm d(plait_test::world(), {.deadline = std::chrono::milliseconds(300)});
  if (r == 0)
    CHECK(message_of([&] { d.take(buf, 4, 1); })
              .rfind("plait: take of 4 floats on rank 0 of " + std::to_string(d.size()) +
                         " from rank 1 waited 300 ms for rank 1 to post.",
                     0) == 0);
  comm().barrier();
}
