// Proves that a training step allocates nothing after its first call: every global operator new
// of the process is counted, and so is the model's memory resource.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <plait/plait.hpp>
#include <vector>

#include "counting_new.hpp"

namespace {
std::atomic<std::size_t>& news = plait::test::new_calls;
}

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

constexpr auto plain_net = input<1, 8, 8> >> flatten >> linear<32> >> gelu >> linear<16> >> plait::tanh >> linear<4>;
// With a host stage (on<cpu>): its buffers are planned at place(...) too.
constexpr auto staged_net = input<1, 8, 8> >> on<cpu>(plait::tanh >> dropout<0.1f> >> flatten) >> linear<32> >> gelu
                            >> linear<16> >> plait::tanh >> linear<4>;

// With a frozen layer: the optimizer steps the trainable runs only.
constexpr auto frozen_net = input<1, 8, 8> >> flatten >> frozen(linear<32>) >> gelu >> linear<16> >> plait::tanh
                            >> linear<4>;

template <class System, class Policy = single_device, auto Net = plain_net, class Opt>
void check_no_allocation(Opt opt, step_guard_options guard = {}) {
  constexpr auto net = Net;
  counting_resource mem;
  auto m = place<Policy>(net, host_devices<System>(Policy::device_count, 2 / Policy::device_count),
                         {.max_batch = 32, .memory = &mem});
  CHECK(mem.allocations == Policy::device_count);  // one arena per device
  m.guard_steps(guard);
  std::vector<float> x(32 * 64);
  std::vector<std::int32_t> y(32);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) / 13.0f - 0.5f;
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int32_t(i % 4);
  m.train_step(samples<shape<1, 8, 8>>{x.data(), 32}, class_labels{y.data(), 32}, cross_entropy,
               opt);  // plans opt state
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
  check_no_allocation<sequential,
                      replicate<2, shard_optimizer, buckets<bucket_plan{.bytes = 4096, .first_bytes = 1024}>>>(adam{});
}

TEST_CASE("a step with a host stage allocates nothing after its first call") {
  check_no_allocation<sequential, single_device, staged_net>(adam{});
  check_no_allocation<sequential, pipeline<2, microbatches<2>, gpipe, uneven_microbatches>, staged_net>(
      sgd{.lr = 0.01f});
}

TEST_CASE("a guarded step (clipping, the non-finite check) allocates nothing after its first call") {
  check_no_allocation<sequential>(sgd{.lr = 0.01f}, {.max_norm = 0.01f, .skip_nonfinite = true});
  check_no_allocation<sequential, replicate<2>>(adam{}, {.max_norm = 0.01f});
  check_no_allocation<sequential, pipeline<2, microbatches<2>, gpipe, uneven_microbatches>>(sgd{.lr = 0.01f},
                                                                                            {.skip_nonfinite = true});
}

TEST_CASE("a step with frozen layers allocates nothing after its first call") {
  check_no_allocation<sequential, single_device, frozen_net>(adam{});
  check_no_allocation<sequential, replicate<2>, frozen_net>(sgd{.lr = 0.01f, .momentum = 0.9f}, {.max_norm = 0.01f});
}

TEST_CASE("an accumulated step allocates nothing after its first call") {
  auto m = place<replicate<2>>(plain_net, host_devices(2), {.max_batch = 8});
  std::vector<float> x(32 * 64, 0.25f);
  std::vector<std::int32_t> y(32, 1);
  sgd opt{.lr = 0.01f, .momentum = 0.9f};
  m.guard_steps({.max_norm = 0.01f});
  m.accumulate_step(samples<shape<1, 8, 8>>{x.data(), 32}, class_labels{y.data(), 32}, cross_entropy, opt, 4);
  const std::size_t new_calls = news.load();
  for (std::size_t n : {std::size_t{32}, std::size_t{30}})
    m.accumulate_step(samples<shape<1, 8, 8>>{x.data(), n}, class_labels{y.data(), n}, cross_entropy, opt, 4);
  CHECK(news.load() == new_calls);
}

TEST_CASE("the counter sees allocations (the test can fail)") {
  const std::size_t before = news.load();
  auto* v = new std::vector<int>(10);
  CHECK(news.load() >= before + 2);
  delete v;
}
