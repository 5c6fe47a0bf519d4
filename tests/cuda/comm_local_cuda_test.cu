// The local communicator on CUDA devices (comm/cuda/local_group.hpp): every operation on 1..4 virtual
// devices of GPU 0 and, where the machine has two GPUs or more, on ranks spread over distinct GPUs.
// Each rank is a host thread enqueueing on its own stream. Inputs reach each buffer late (a spin
// kernel, then a copy, on the rank's stream), and results are read back by later work on the same
// stream, so a missing wait on an event reads stale data. Sums are checked bit for bit against the
// host's sum in rank order, on every rank.
#include "cuda_test_main.hpp"

#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <plait/backend/cuda/backend.hpp>
#include <plait/comm/cuda/local_group.hpp>
#include <string>
#include <thread>
#include <vector>

using namespace plait;
using cuda_detail::cuda_check;

namespace {

// [n] floats on one GPU (one float more, so that n = 0 still has an address).
class device_buffer {
 public:
  device_buffer(int device, std::size_t n) : device_(device) {
    cuda_check(cudaSetDevice(device), "cudaSetDevice", device);
    cuda_check(cudaMalloc(reinterpret_cast<void**>(&data_), (n + 1) * sizeof(float)), "cudaMalloc (test)", device);
  }
  device_buffer(device_buffer&& o) noexcept : device_(o.device_), data_(std::exchange(o.data_, nullptr)) {}
  device_buffer(const device_buffer&) = delete;
  ~device_buffer() {
    if (data_) (void)cudaFree(data_);
  }
  float* get() const { return data_; }

 private:
  int device_;
  float* data_ = nullptr;
};

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Rank q's input element i: a float in [-1, 1) with a full mantissa, so that the order of the adds shows.
float value(std::size_t q, std::size_t i, std::uint64_t salt) {
  return float(mix(salt * 1000003 + q * 7919 + i) >> 40) * 0x1p-23f - 1.0f;
}

std::vector<float> values(std::size_t q, std::size_t n, std::uint64_t salt) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = value(q, i, salt);
  return v;
}

// The sum in rank order, as the host's reduce_chunk adds it.
std::vector<float> sum_of(std::size_t size, std::size_t n, std::uint64_t salt) {
  std::vector<float> s = values(0, n, salt);
  for (std::size_t q = 1; q < size; ++q)
    for (std::size_t i = 0; i < n; ++i) s[i] += value(q, i, salt);
  return s;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

__global__ void spin(long long cycles) {
  const long long start = clock64();
  while (clock64() - start < cycles) {}
}

// One configuration: a rank per entry of `gpus`, each with its cuda_context (its own stream).
struct ranks {
  std::vector<int> gpus;
  std::vector<cuda_context> ctx;
  cuda_local_group group;
  explicit ranks(std::vector<int> g, cuda_local_options options = {})
      : gpus(g), ctx(device_set<plait::cuda>{g, g.size()}.contexts()), group(ctx, options) {}
  std::size_t size() const { return gpus.size(); }

  // f(r, comm, stream) on a thread per rank with its GPU current; rethrows the first exception.
  template <class F>
  void run(const F& f) {
    std::vector<std::exception_ptr> errors(size());
    std::vector<std::thread> threads;
    for (std::size_t r = 0; r < size(); ++r)
      threads.emplace_back([&, r] {
        try {
          ctx[r].enter();
          f(r, group.comm(r), ctx[r].stream());
        } catch (...) {
          errors[r] = std::current_exception();
        }
      });
    for (std::thread& t : threads) t.join();
    for (const std::exception_ptr& e : errors)
      if (e) std::rethrow_exception(e);
  }

  // Rank r's buffers of n floats each, holding `fill` (or nothing).
  std::vector<device_buffer> buffers(std::size_t n, const std::vector<std::vector<float>>& fill = {}) {
    std::vector<device_buffer> b;
    for (std::size_t r = 0; r < size(); ++r) {
      b.emplace_back(gpus[r], n);
      if (!fill.empty() && !fill[r].empty())
        cuda_check(cudaMemcpy(b[r].get(), fill[r].data(), fill[r].size() * sizeof(float), cudaMemcpyHostToDevice),
                   "cudaMemcpy (test)");
    }
    cuda_check(cudaDeviceSynchronize(), "cudaDeviceSynchronize (test)");
    return b;
  }
};

// On r's stream: a wait of about (size - r) x 0.2 ms, then [n] src -> dst: the input arrives late.
void arrive_late(std::size_t r, std::size_t size, cudaStream_t s, float* dst, const float* src, std::size_t n) {
  spin<<<1, 1, 0, s>>>((long long)(size - r) * 400000);
  cuda_check(cudaGetLastError(), "spin (test)");
  if (n)
    cuda_check(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, s), "cudaMemcpyAsync (test)");
}

// [n] @ device -> host, enqueued on s after everything there, then waited for.
std::vector<float> download(const float* p, std::size_t n, cudaStream_t s) {
  std::vector<float> h(n);
  if (n)
    cuda_check(cudaMemcpyAsync(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost, s), "cudaMemcpyAsync (test)");
  cuda_check(cudaStreamSynchronize(s), "cudaStreamSynchronize (test)");
  return h;
}

std::vector<std::size_t> sizes_for(std::size_t size) {
  std::vector<std::size_t> n = {0, 1, 1027, std::size_t{1} << 18, (std::size_t{1} << 18) + 3};  // 1 MiB, and uneven
  if (size > 2) n.push_back(size - 1);  // fewer floats than ranks
  return n;
}

std::vector<std::vector<int>> configurations() {
  int count = 0;
  cuda_check(cudaGetDeviceCount(&count), "cudaGetDeviceCount (test)");
  std::vector<std::vector<int>> c;
  for (std::size_t size = 1; size <= 4; ++size) c.push_back(std::vector<int>(size, 0));  // virtual devices on GPU 0
  if (count >= 2)
    for (std::size_t size = 2; size <= 4; ++size) {  // distinct GPUs, round robin
      std::vector<int> g(size);
      for (std::size_t r = 0; r < size; ++r) g[r] = int(r % std::size_t(count));
      c.push_back(g);
    }
  return c;
}

std::string name_of(const std::vector<int>& gpus) {
  std::string s = "GPUs";
  for (int g : gpus) s += " " + std::to_string(g);
  return s;
}

// body(k, size) for every configuration of at least `least` ranks, its name captured for messages.
template <class F>
void for_each_configuration(std::size_t least, cuda_local_options options, F body) {
  for (const std::vector<int>& gpus : configurations()) {
    if (gpus.size() < least) continue;
    const std::string config = name_of(gpus);
    CAPTURE(config);
    ranks k(gpus, options);
    body(k, k.size());
  }
}

}  // namespace

TEST_CASE("all_reduce: every rank holds the sum in rank order, bit for bit") {
  for_each_configuration(1, {}, [&](ranks& k, std::size_t size) {
    for (std::size_t n : sizes_for(size)) {
      CAPTURE(n);
      std::vector<std::vector<float>> in(size), got(size);
      for (std::size_t r = 0; r < size; ++r) in[r] = values(r, n, 1);
      const auto src = k.buffers(n, in), buf = k.buffers(n);
      // [docs:all_reduce]
      k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t stream) {
        arrive_late(r, size, stream, buf[r].get(), src[r].get(), n);  // [n] @ rank r, ready later on its stream
        comm.all_reduce(buf[r].get(), n);                             // enqueued on `stream`: returns at once
        got[r] = download(buf[r].get(), n, stream);                   // later work on `stream` sees the sum
      });
      // [/docs:all_reduce]
      const std::vector<float> want = sum_of(size, n, 1);
      for (std::size_t r = 0; r < size; ++r) CHECK(same_bits(got[r], want));
    }
  });
}

TEST_CASE("reduce_scatter: rank r holds chunk r of the sum, out of place and in place") {
  for_each_configuration(1, {}, [&](ranks& k, std::size_t size) {
    for (std::size_t n : sizes_for(size))
      for (bool in_place : {false, true}) {
        CAPTURE(n);
        CAPTURE(in_place);
        std::vector<std::vector<float>> in(size), got(size);
        for (std::size_t r = 0; r < size; ++r) in[r] = values(r, n, 2);
        const auto src = k.buffers(n, in), buf = k.buffers(n), out = k.buffers(n);
        k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t stream) {
          const chunk mine = chunk_of(n, size, r);
          float* o = in_place ? buf[r].get() + mine.begin : out[r].get();  // [chunk r] @ rank r
          arrive_late(r, size, stream, buf[r].get(), src[r].get(), n);
          comm.reduce_scatter(buf[r].get(), o, n);
          got[r] = download(o, mine.size(), stream);
        });
        const std::vector<float> sum = sum_of(size, n, 2);
        for (std::size_t r = 0; r < size; ++r) {
          const chunk mine = chunk_of(n, size, r);
          CHECK(same_bits(got[r], std::vector<float>(sum.begin() + mine.begin, sum.begin() + mine.end)));
        }
      }
  });
}

TEST_CASE("all_gather: every rank holds the chunks in rank order, out of place and in place") {
  for_each_configuration(1, {}, [&](ranks& k, std::size_t size) {
    for (std::size_t n : sizes_for(size))
      for (bool in_place : {false, true}) {
        CAPTURE(n);
        CAPTURE(in_place);
        std::vector<std::vector<float>> mine_values(size), stale(size), got(size);
        std::vector<float> want(n);
        for (std::size_t r = 0; r < size; ++r) {
          const chunk mine = chunk_of(n, size, r);
          const std::vector<float> all = values(r, n, 3);
          mine_values[r].assign(all.begin() + mine.begin, all.begin() + mine.end);
          std::copy(all.begin() + mine.begin, all.begin() + mine.end, want.begin() + mine.begin);
          stale[r] = values(r, n, 99);  // what `out` holds before: overwritten everywhere
        }
        const auto src = k.buffers(n, mine_values), in = k.buffers(n), out = k.buffers(n, stale);
        k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t stream) {
          const chunk mine = chunk_of(n, size, r);
          float* i = in_place ? out[r].get() + mine.begin : in[r].get();  // [chunk r] @ rank r
          arrive_late(r, size, stream, i, src[r].get(), mine.size());
          comm.all_gather(i, out[r].get(), n);
          got[r] = download(out[r].get(), n, stream);
        });
        for (std::size_t r = 0; r < size; ++r) CHECK(same_bits(got[r], want));
      }
  });
}

TEST_CASE("broadcast: every rank holds the root's buffer, for every root") {
  for_each_configuration(1, {}, [&](ranks& k, std::size_t size) {
    for (std::size_t n : sizes_for(size))
      for (std::size_t root = 0; root < size; ++root) {
        CAPTURE(n);
        CAPTURE(root);
        std::vector<std::vector<float>> in(size), got(size);
        for (std::size_t r = 0; r < size; ++r) in[r] = values(r, n, 4);
        const auto src = k.buffers(n, in), buf = k.buffers(n);
        k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t stream) {
          arrive_late(r, size, stream, buf[r].get(), src[r].get(), n);
          comm.broadcast(buf[r].get(), n, root);
          got[r] = download(buf[r].get(), n, stream);
        });
        for (std::size_t r = 0; r < size; ++r) CHECK(same_bits(got[r], in[root]));
      }
  });
}

TEST_CASE("barrier: work after it on any stream sees work before it on every stream") {
  for_each_configuration(1, {}, [&](ranks& k, std::size_t size) {
    std::vector<std::vector<float>> mark(size), got(size);
    for (std::size_t r = 0; r < size; ++r) mark[r] = {float(r + 1)};
    const auto src = k.buffers(1, mark), flag = k.buffers(1), seen = k.buffers(size);
    k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t stream) {
      arrive_late(r, size, stream, flag[r].get(), src[r].get(), 1);  // [1] = r + 1 @ rank r, late
      comm.barrier();
      for (std::size_t q = 0; q < size; ++q)  // every rank's flag -> seen[q] @ rank r
        cuda_check(cudaMemcpyPeerAsync(seen[r].get() + q, k.gpus[r], flag[q].get(), k.gpus[q], sizeof(float), stream),
                   "cudaMemcpyPeerAsync (test)");
      got[r] = download(seen[r].get(), size, stream);
    });
    std::vector<float> want(size);
    for (std::size_t q = 0; q < size; ++q) want[q] = float(q + 1);
    for (std::size_t r = 0; r < size; ++r) CHECK(same_bits(got[r], want));
  });
}

TEST_CASE("send/recv around a ring; the sender may overwrite its buffer once send returns") {
  for_each_configuration(2, {}, [&](ranks& k, std::size_t size) {
    for (std::size_t n : sizes_for(size)) {
      CAPTURE(n);
      std::vector<std::vector<float>> in(size), got(size);
      for (std::size_t r = 0; r < size; ++r) in[r] = values(r, n, 5);
      const auto src = k.buffers(n, in), out = k.buffers(n), back = k.buffers(n);
      k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t stream) {
        const std::size_t next = (r + 1) % size, prev = (r + size - 1) % size;
        arrive_late(r, size, stream, out[r].get(), src[r].get(), n);
        const auto receive = [&] {
          spin<<<1, 1, 0, stream>>>(800000);  // the receiver's copy runs late
          comm.recv(back[r].get(), n, prev);
        };
        if (r != 0) receive();
        comm.send(out[r].get(), n, next);
        if (n)
          cuda_check(cudaMemsetAsync(out[r].get(), 0xff, n * sizeof(float), stream),
                     "cudaMemsetAsync (test)");  // reused at once
        if (r == 0) receive();
        got[r] = download(back[r].get(), n, stream);
      });
      for (std::size_t r = 0; r < size; ++r) CHECK(same_bits(got[r], in[(r + size - 1) % size]));
    }
  });
}

TEST_CASE("post/take: messages in order per pair, buffers reusable after wait_taken") {
  constexpr std::size_t per_peer = 3;
  const auto salt = [](std::size_t j, std::size_t to) { return 1000 + j * 64 + to; };
  for_each_configuration(2, {}, [&](ranks& k, std::size_t size) {
    for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{1027}, std::size_t{1} << 18}) {
      CAPTURE(n);
      const std::size_t slots = size * per_peer;  // [peer][j] messages of n floats @ each rank
      std::vector<std::vector<float>> in(size), got(size);
      for (std::size_t r = 0; r < size; ++r)
        for (std::size_t p = 0; p < size; ++p)
          for (std::size_t j = 0; j < per_peer; ++j) {
            const std::vector<float> v = values(r, n, salt(j, p));
            in[r].insert(in[r].end(), v.begin(), v.end());
          }
      const auto src = k.buffers(slots * n, in), posted = k.buffers(slots * n), taken = k.buffers(slots * n);
      k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t stream) {
        std::vector<std::uint64_t> tickets(size);
        for (std::size_t j = 0; j < per_peer; ++j)
          for (std::size_t p = 0; p < size; ++p) {
            if (p == r) continue;
            const std::size_t at = (p * per_peer + j) * n;
            arrive_late(r, size, stream, posted[r].get() + at, src[r].get() + at, n);
            tickets[p] = comm.post(posted[r].get() + at, n, p);
          }
        spin<<<1, 1, 0, stream>>>(800000);  // the copies of the takes run late
        for (std::size_t p = 0; p < size; ++p)
          for (std::size_t j = 0; j < per_peer && p != r; ++j) comm.take(taken[r].get() + (p * per_peer + j) * n, n, p);
        for (std::size_t p = 0; p < size; ++p)
          if (p != r) comm.wait_taken(p, tickets[p]);
        if (n)
          cuda_check(cudaMemsetAsync(posted[r].get(), 0xff, slots * n * sizeof(float), stream),
                     "cudaMemsetAsync (test)");
        got[r] = download(taken[r].get(), slots * n, stream);
      });
      for (std::size_t r = 0; r < size; ++r)
        for (std::size_t p = 0; p < size; ++p)
          for (std::size_t j = 0; j < per_peer && p != r; ++j) {
            CAPTURE(r);
            CAPTURE(p);
            CAPTURE(j);
            const auto first = got[r].begin() + std::ptrdiff_t((p * per_peer + j) * n);
            CHECK(same_bits(std::vector<float>(first, first + std::ptrdiff_t(n)), values(p, n, salt(j, r))));
          }
    }
  });
}

TEST_CASE("a rank that never comes: the others' all_reduce throws at the deadline, naming it") {
  for_each_configuration(2, {.deadline = std::chrono::milliseconds(200)}, [&](ranks& k, std::size_t size) {
    const auto buf = k.buffers(1000);
    const std::size_t absent = size - 1;
    std::vector<std::string> said(size);
    std::vector<double> waited(size);
    k.run([&](std::size_t r, cuda_local_comm comm, cudaStream_t) {
      if (r == absent) return;
      const auto start = std::chrono::steady_clock::now();
      try {
        comm.all_reduce(buf[r].get(), 1000);
        said[r] = "no error";
      } catch (const plait::error& e) {
        said[r] = e.what();
      }
      waited[r] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
    for (std::size_t r = 0; r < absent; ++r) {
      CAPTURE(said[r]);
      CHECK(said[r].find("plait: all_reduce on rank " + std::to_string(r)) == 0);
      CHECK(said[r].find("rank " + std::to_string(absent) + ".") != std::string::npos);
      CHECK(waited[r] > 0.15);
      CHECK(waited[r] < 10.0);
    }
    std::string late;
    try {
      k.group.comm(absent).all_reduce(buf[absent].get(), 1000);
    } catch (const plait::error& e) {
      late = e.what();
    }
    CHECK(late.find("was called on a broken cuda_local_group") != std::string::npos);
  });
}

TEST_CASE("mismatched collectives throw on every rank; a group from (GPU, stream) pairs; refusals") {
  cuda_context a(0, 0), b(1, 0);
  {
    // [docs:group]
    cuda_local_group group(
        {{a.device, a.stream()}, {b.device, b.stream()}});  // rank = (GPU, stream); or group(contexts)
    // [/docs:group]
    CHECK(group.size() == 2);
    CHECK(group.direct(0, 1));
    CHECK(group.comm(1).stream() == b.stream());
    device_buffer x(0, 11), y(0, 11);
    std::string said[2];
    std::thread t0([&] {
      try {
        group.comm(0).all_reduce(x.get(), 10);
      } catch (const plait::error& e) {
        said[0] = e.what();
      }
    });
    std::thread t1([&] {
      try {
        group.comm(1).all_reduce(y.get(), 11);
      } catch (const plait::error& e) {
        said[1] = e.what();
      }
    });
    t0.join();
    t1.join();
    CHECK(said[0].find("met rank 1's all_reduce of 11 floats") != std::string::npos);
    CHECK(said[1].find("met rank 0's all_reduce of 10 floats") != std::string::npos);
    CHECK_THROWS_WITH_AS(group.comm(2), doctest::Contains("ranks are 0 .. size - 1"), plait::error);
  }
  CHECK_THROWS_WITH_AS(cuda_local_group(std::vector<cuda_local_rank>{}), doctest::Contains("no ranks"), plait::error);
  CHECK_THROWS_WITH_AS(cuda_local_group(std::vector<cuda_local_rank>{{999, a.stream()}}),
                       doctest::Contains("names CUDA device 999"), plait::error);
}
