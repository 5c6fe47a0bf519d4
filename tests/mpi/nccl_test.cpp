// Tests of include/plait/comm/nccl/comm.hpp, run under mpiexec -n 1 and -n 2 (tests/mpi/CMakeLists.txt). They need
// one GPU per rank: where no CUDA device answers, or a node has fewer GPUs than ranks, every rank exits 77
// (CTest: skipped) and the lowest such rank prints one line saying why. Host C++: device buffers through
// cudaMalloc / cudaMemcpy, every call checked.
#define DOCTEST_CONFIG_IMPLEMENT
#include <cuda_runtime_api.h>
#include <doctest/doctest.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <plait/nccl.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "skip_alike.hpp"

using plait::chunk;
using plait::chunk_of;
using plait::nccl_comm;
using plait::cuda_detail::cuda_check;

// nccl_comm is a Communicator, and offers the enqueue-only forms a runtime overlaps with compute.
template <class C>
concept stream_communicator = requires(C& c, float* buf, const float* in, std::size_t n) {
  c.all_reduce_async(buf, n);
  c.reduce_scatter_async(in, buf, n);
  c.all_gather_async(in, buf, n);
  c.broadcast_async(buf, n, n);
  c.send_async(in, n, n);
  c.recv_async(buf, n, n);
  c.synchronize();
  { c.stream() } -> std::same_as<cudaStream_t>;
  { c.device() } -> std::same_as<int>;
};
static_assert(plait::Communicator<nccl_comm>);
static_assert(stream_communicator<nccl_comm>);
static_assert(!std::is_copy_constructible_v<nccl_comm> && !std::is_move_constructible_v<nccl_comm>);

namespace {

plait::mpi_world* the_world = nullptr;
plait::mpi_comm* the_mpi = nullptr;
nccl_comm* the_nccl = nullptr;
nccl_comm& comm() { return *the_nccl; }

// [n] floats @ this rank's GPU.
class device_buffer {
 public:
  explicit device_buffer(std::size_t n) : n_(n) {
    if (n) cuda_check(cudaMalloc(&p_, n * sizeof(float)), "cudaMalloc", comm().device());
  }
  explicit device_buffer(const std::vector<float>& v) : device_buffer(v.size()) { upload(v); }
  ~device_buffer() {
    if (p_) (void)cudaFree(p_);
  }
  device_buffer(const device_buffer&) = delete;
  device_buffer& operator=(const device_buffer&) = delete;
  float* get() const { return p_; }
  void upload(const std::vector<float>& v) {
    if (!v.empty())
      cuda_check(cudaMemcpy(p_, v.data(), v.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy to the GPU",
                 comm().device());
  }
  std::vector<float> download(std::size_t offset = 0) const {
    std::vector<float> v(n_ - offset);
    if (!v.empty())
      cuda_check(cudaMemcpy(v.data(), p_ + offset, v.size() * sizeof(float), cudaMemcpyDeviceToHost),
                 "cudaMemcpy from the GPU", comm().device());
    return v;
  }

 private:
  float* p_ = nullptr;
  std::size_t n_ = 0;
};

// Sizes: empty, one float, fewer than the ranks, odd (uneven chunks over 2 ranks: the grouped path), a
// multiple of 2 (NCCL's ReduceScatter / AllGather), large.
const std::size_t sizes[] = {0, 1, 2, 5, 7, 1000, 1001, std::size_t{1} << 20, (std::size_t{1} << 20) + 3};

// Rank q's value at i: a multiple of 1/1024 in [1, 2), so sums of a few ranks are exact in float.
float value(std::size_t q, std::size_t i) { return 1.0f + float((i * 7 + q * 13) % 1024) / 1024.0f; }
float sum_at(std::size_t i) {
  float s = 0;
  for (std::size_t q = 0; q < comm().size(); ++q) s += value(q, i);
  return s;
}
std::vector<float> values_of(std::size_t q, std::size_t n, std::size_t offset = 0) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = value(q, offset + i);
  return v;
}
template <class Expect>
std::size_t first_mismatch(const std::vector<float>& got, std::size_t offset, const Expect& expect) {
  for (std::size_t i = 0; i < got.size(); ++i)
    if (got[i] != expect(offset + i)) return i;
  return got.size();
}
std::size_t owner_of(std::size_t i, std::size_t n) {
  for (std::size_t q = 0;; ++q)
    if (chunk_of(n, comm().size(), q).end > i) return q;
}

// Whether every rank holds the same bits (FNV-1a of the bytes, compared over MPI).
bool same_bits_everywhere(const std::vector<float>& v) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char b : std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)))
    h = (h ^ b) * 1099511628211ull;
  std::vector<std::uint64_t> all(the_mpi->size());
  the_mpi->all_gather_bytes(&h, all.data(), sizeof h);
  for (std::uint64_t x : all)
    if (x != h) return false;
  return true;
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

TEST_CASE("nccl_comm numbers its ranks like the mpi_comm it started from, one GPU each") {
  CHECK(comm().rank() == the_mpi->rank());
  CHECK(comm().size() == the_mpi->size());
  CHECK(comm().device() == int(the_world->local_rank()));
  CHECK(comm().stream() != nullptr);
  CHECK(comm().native() != nullptr);
}

TEST_CASE("all_reduce sums every rank's buffer, with the same bits on every rank") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    device_buffer buf(values_of(comm().rank(), n));
    comm().all_reduce(buf.get(), n);
    const std::vector<float> got = buf.download();
    CHECK(first_mismatch(got, 0, sum_at) == n);
    CHECK(same_bits_everywhere(got));
  }
}

TEST_CASE("reduce_scatter leaves each rank its chunk of the sum, for even and uneven n, in place too") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    const chunk mine = chunk_of(n, comm().size(), comm().rank());
    device_buffer in(values_of(comm().rank(), n));  // [n] @ every rank
    device_buffer out(mine.size());                 // [chunk r] @ rank r
    comm().reduce_scatter(in.get(), out.get(), n);
    CHECK(first_mismatch(out.download(), mine.begin, sum_at) == mine.size());
    in.upload(values_of(comm().rank(), n));
    comm().reduce_scatter(in.get(), in.get() + mine.begin, n);  // in place: out == in + chunk.begin
    const std::vector<float> got = in.download(mine.begin);
    CHECK(first_mismatch(std::vector<float>(got.begin(), got.begin() + long(mine.size())), mine.begin, sum_at) ==
          mine.size());
  }
}

TEST_CASE("all_gather puts every rank's chunk in rank order, for even and uneven n, in place too") {
  for (std::size_t n : sizes) {
    CAPTURE(n);
    const chunk mine = chunk_of(n, comm().size(), comm().rank());
    const auto expect = [n](std::size_t i) { return value(owner_of(i, n), i); };
    device_buffer in(values_of(comm().rank(), mine.size(), mine.begin));  // [chunk r] @ rank r
    device_buffer out(n);                                                 // [n] @ every rank
    comm().all_gather(in.get(), out.get(), n);
    const std::vector<float> got = out.download();
    CHECK(first_mismatch(got, 0, expect) == n);
    CHECK(same_bits_everywhere(got));
    std::vector<float> start(n, -1.0f);  // in place: this rank's chunk already at out + begin
    for (std::size_t i = mine.begin; i < mine.end; ++i) start[i] = value(comm().rank(), i);
    out.upload(start);
    comm().all_gather(out.get() + mine.begin, out.get(), n);
    CHECK(first_mismatch(out.download(), 0, expect) == n);
  }
}

TEST_CASE("broadcast copies the root's buffer to every rank, from each root") {
  for (std::size_t root = 0; root < comm().size(); ++root)
    for (std::size_t n : {std::size_t{1}, std::size_t{1001}, std::size_t{1} << 20}) {
      CAPTURE(root);
      CAPTURE(n);
      device_buffer buf(values_of(comm().rank(), n));
      comm().broadcast(buf.get(), n, root);
      CHECK(first_mismatch(buf.download(), 0, [root](std::size_t i) { return value(root, i); }) == n);
    }
}

TEST_CASE("barrier returns on every rank") {
  for (int i = 0; i < 3; ++i) comm().barrier();
  CHECK_FALSE(comm().broken());
}

TEST_CASE("the asynchronous forms only enqueue; synchronize waits for all of them") {
  const std::size_t n = 4099;
  device_buffer a(values_of(comm().rank(), n)), b(values_of(comm().rank(), n));
  device_buffer gathered(n);
  const chunk mine = chunk_of(n, comm().size(), comm().rank());
  comm().all_reduce_async(a.get(), n);
  comm().all_reduce_async(b.get(), n);
  comm().all_gather_async(a.get() + mine.begin, gathered.get(), n);  // ordered after a's all_reduce on stream()
  comm().synchronize();
  CHECK(first_mismatch(a.download(), 0, sum_at) == n);
  CHECK(first_mismatch(b.download(), 0, sum_at) == n);
  CHECK(first_mismatch(gathered.download(), 0, sum_at) == n);
}

TEST_CASE("send and recv pass a message around the ring") {
  if (comm().size() < 2) return;  // a rank does not message itself
  const std::size_t r = comm().rank(), p = comm().size(), next = (r + 1) % p, prev = (r + p - 1) % p;
  for (std::size_t n : {std::size_t{1}, std::size_t{1000}, std::size_t{1} << 20}) {
    CAPTURE(n);
    device_buffer out(values_of(r, n)), in(n);  // [n] @ rank r -> @ next
    if (r % 2 == 0)
      comm().send(out.get(), n, next), comm().recv(in.get(), n, prev);  // blocking send returns once received:
    else
      comm().recv(in.get(), n, prev),
          comm().send(out.get(), n, next);  // even ranks send first, odd ranks receive first
    CHECK(first_mismatch(in.download(), 0, [prev](std::size_t i) { return value(prev, i); }) == n);
  }
}

TEST_CASE("post and take deliver in order without blocking the sender, both directions at once") {
  if (comm().size() < 2) return;
  const std::size_t r = comm().rank(), p = comm().size(), next = (r + 1) % p, prev = (r + p - 1) % p;
  const std::size_t n = 3001, messages = 5;
  std::vector<std::unique_ptr<device_buffer>> out, in;
  std::uint64_t ticket = 0;
  for (std::size_t k = 0; k < messages; ++k) {  // every rank posts all before it takes any
    out.push_back(std::make_unique<device_buffer>(values_of(r + k, n)));
    ticket = comm().post(out.back()->get(), n, next);
  }
  CHECK(ticket == messages);
  for (std::size_t k = 0; k < messages; ++k) {
    in.push_back(std::make_unique<device_buffer>(n));
    comm().take(in.back()->get(), n, prev);
    CHECK(first_mismatch(in.back()->download(), 0, [&](std::size_t i) { return value(prev + k, i); }) == n);
  }
  comm().wait_taken(next, ticket);
  CHECK(message_of([&] { comm().wait_taken(next, ticket + 1); }).rfind("plait: wait_taken on rank", 0) == 0);
}

TEST_CASE("misuse is refused before NCCL sees it, and leaves the communicator usable") {
  std::vector<float> host(16, 1.0f);
  CHECK(message_of([&] { comm().all_reduce(host.data(), host.size()); }).find("got a host buffer of 16 floats") !=
        std::string::npos);
  CHECK(message_of([&] { comm().all_reduce(nullptr, 4); }).find("got a null buffer for 4 floats") != std::string::npos);
  device_buffer one(1);
  CHECK(message_of([&] { comm().send(one.get(), 1, comm().rank()); }).find("with itself as the peer") !=
        std::string::npos);
  CHECK(message_of([&] { comm().broadcast(one.get(), 1, comm().size()); }).find("from root") != std::string::npos);
  CHECK_FALSE(comm().broken());
  comm().barrier();
}

TEST_CASE("a rank that skips a collective gives the others plait's deadline error, not a hang") {
  if (comm().size() < 2) return;
  const std::size_t last = comm().size() - 1;
  std::string error;
  {
    nccl_comm short_lived(*the_mpi, {.deadline = std::chrono::seconds(2)});
    device_buffer buf(values_of(comm().rank(), 1000));
    short_lived.all_reduce(buf.get(), 1000);  // every rank: the communicator works
    if (comm().rank() != last) {
      const auto start = std::chrono::steady_clock::now();
      error = message_of([&] { short_lived.all_reduce(buf.get(), 1000); });  // the last rank never joins
      CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(30));
      CHECK(short_lived.broken());
      CHECK(message_of([&] { short_lived.barrier(); }).find("was called on a broken nccl_comm") != std::string::npos);
    }
    the_mpi->barrier();  // the skipping rank waits here until the others have given up
  }  // destroyed: the broken ones abort; the healthy one's finalize ends within its deadline
  if (comm().rank() != last) {
    CAPTURE(error);
    CHECK(error.rfind(plait::cat("plait: all_reduce of 1000 floats on rank ", comm().rank(), " of ", comm().size(),
                                 " (CUDA device "),
                      0) == 0);
    CHECK(error.find("waited 2000 ms for the other") != std::string::npos);
    CHECK(error.find("NCCL_DEBUG=INFO") != std::string::npos);
  }
}

namespace {

// Why this job cannot run the tests, or "" when it can.
std::string skip_reason(const plait::mpi_world& world) {
  if (!plait::cuda_detail::cuda_device_answers())
    return "no CUDA device answers (cudaGetDeviceCount), and an nccl_comm needs one GPU per rank";
  int count = 0;
  cuda_check(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
  if (std::size_t(count) < world.local_size())
    return plait::cat(world.local_size(), " ranks run on this node, which has ", count, " CUDA device",
                      count == 1 ? "" : "s", ", and NCCL needs one GPU per rank");
  return "";
}

}  // namespace

int main(int argc, char** argv) {
  return plait::run_or_abort([&] {
    plait::mpi_world world(&argc, &argv);
    plait::mpi_comm mpi(world, {.deadline = std::chrono::seconds(60)});
    if (plait::test::skip_alike(world, mpi, skip_reason(world))) return 77;
    int failed = 0;
    {
      nccl_comm comm(mpi, {.deadline = std::chrono::seconds(60)});
      cuda_check(cudaSetDevice(comm.device()), "cudaSetDevice",
                 comm.device());  // the buffers' device (construction set it too)
      the_world = &world, the_mpi = &mpi, the_nccl = &comm;
      doctest::Context context(argc, argv);
      failed = context.run() != 0 ? 1 : 0;
      the_nccl = nullptr;
      if (comm.broken())
        plait::fail("the test's nccl_comm broke", "a test case left the ranks out of step",
                    "read the first failure above");
    }
    float any = float(failed);  // every rank exits alike: non-zero when any rank failed a check
    mpi.all_reduce(&any, 1);
    if (any > 0 && world.rank() == 0) std::fprintf(stderr, "plait test: a check failed on at least one rank\n");
    return any > 0 ? 1 : 0;
  });
}
