#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdint>
#include <plait/plait.hpp>

using namespace plait;

namespace {
struct counting_resource : std::pmr::memory_resource {
  std::size_t allocations = 0, bytes = 0, live = 0;
  void* do_allocate(std::size_t n, std::size_t a) override {
    ++allocations;
    ++live;
    bytes += n;
    return std::pmr::new_delete_resource()->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    --live;
    std::pmr::new_delete_resource()->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};
}  // namespace

TEST_CASE("arena: planned buffers are aligned, disjoint, zeroed, in one allocation") {
  counting_resource mem;
  {
    arena_plan plan;
    const auto a = plan.reserve<float>(3);
    const auto b = plan.reserve<double>(5);
    const auto c = plan.reserve<float>(0);
    CHECK(plan.bytes() == 2 * buffer_alignment);
    arena ar(plan.bytes(), &mem);
    CHECK(mem.allocations == 1);
    CHECK(reinterpret_cast<std::uintptr_t>(ar.at<float>(a)) % buffer_alignment == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(ar.at<double>(b)) % buffer_alignment == 0);
    CHECK(ar.at<std::byte>(b) - ar.at<std::byte>(a) == std::ptrdiff_t(buffer_alignment));
    CHECK(c == plan.bytes());
    CHECK(ar.at<double>(b)[4] == 0.0);
    arena moved = std::move(ar);
    CHECK(moved.bytes() == plan.bytes());
    CHECK(ar.bytes() == 0);
  }
  CHECK(mem.live == 0);
}
