// Proves that a training step allocates nothing after its first call: every global operator new
// of the process is counted, and so is the model's memory resource.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <plait/plait.hpp>
#include <vector>

// The replacements below pair operator new with free by design; g++ cannot see that.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace {
std::atomic<std::size_t> news{0};
}

void* operator new(std::size_t n) {
  ++news;
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return ::operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  ++news;
  const std::size_t al = static_cast<std::size_t>(a);
  if (void* p = std::aligned_alloc(al, (n + al - 1) / al * al)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return ::operator new(n, a); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

using namespace plait;

namespace {
struct counting_resource : std::pmr::memory_resource {
  std::size_t allocations = 0;
  void* do_allocate(std::size_t n, std::size_t a) override {
    ++allocations;
    return std::pmr::new_delete_resource()->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    std::pmr::new_delete_resource()->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};

template <class System, class Policy = single_device, class Opt>
void check_no_allocation(Opt opt) {
  constexpr auto net = input<1, 8, 8> >> flatten >> linear<32> >> gelu >> linear<16> >> plait::tanh >> linear<4>;
  counting_resource mem;
  auto m = place<Policy>(net, host_devices<System>(Policy::device_count, 2 / Policy::device_count),
                         {.max_batch = 32, .memory = &mem});
  CHECK(mem.allocations == Policy::device_count);  // one arena per device
  std::vector<float> x(32 * 64);
  std::vector<std::int32_t> y(32);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) / 13.0f - 0.5f;
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int32_t(i % 4);
  m.train_step(samples<shape<1, 8, 8>>{x.data(), 32}, class_labels{y.data(), 32}, cross_entropy, opt);  // plans opt state
  const std::size_t arena_allocs = mem.allocations, new_calls = news.load();
  for (std::size_t n : {std::size_t{32}, std::size_t{7}, std::size_t{32}, std::size_t{Policy::device_count}})
    m.train_step(samples<shape<1, 8, 8>>{x.data(), n}, class_labels{y.data(), n}, cross_entropy, opt);
  CHECK(mem.allocations == arena_allocs);
  CHECK(news.load() == new_calls);
  m.predict(samples<shape<1, 8, 8>>{x.data(), 32 / Policy::device_count});
  CHECK(news.load() == new_calls);
}
}  // namespace

TEST_CASE("train_step allocates nothing after its first call") {
  check_no_allocation<sequential>(sgd{.lr = 0.01f, .momentum = 0.9f});
  check_no_allocation<sequential>(adam{});
  check_no_allocation<openmp>(adamw{});
}

TEST_CASE("a data-parallel step allocates nothing after its first call either") {
  check_no_allocation<sequential, replicate<2>>(sgd{.lr = 0.01f, .momentum = 0.9f});
  check_no_allocation<sequential, replicate<2, shard_optimizer, buckets<bucket_plan{.bytes = 4096, .first_bytes = 1024}>>>(adam{});
}

TEST_CASE("the counter sees allocations (the test can fail)") {
  const std::size_t before = news.load();
  auto* v = new std::vector<int>(10);
  CHECK(news.load() >= before + 2);
  delete v;
}
