// runtime/device_scope.hpp: on devices whose memory the host cannot read, the scope makes the other
// device current and device 0 (home) current again after, even when that fails; on host devices it
// does nothing.
#include <doctest/doctest.h>

#include <plait/runtime/device_scope.hpp>
#include <stdexcept>
#include <vector>

using namespace plait;

namespace {
std::vector<int> entered;  // the devices made current, in order

struct fake_context {
  int id;
  bool fails = false;
  void enter() const {
    if (fails) throw std::runtime_error("device lost");
    entered.push_back(id);
  }
};
template <bool Host>
struct fake_memory {
  static constexpr bool host_memory = Host;
  fake_context c;
  const fake_context& ctx() const { return c; }
};
}  // namespace

TEST_CASE("device memory: the other device for the scope, home after") {
  entered.clear();
  const fake_memory<false> home{{0}}, other{{3}};
  {
    device_scope<fake_memory<false>> scope(home, other);
    CHECK(entered == std::vector<int>{3});
  }
  CHECK(entered == std::vector<int>{3, 0});
}

TEST_CASE("a home device that fails to enter does not throw from the scope's end") {
  entered.clear();
  const fake_memory<false> home{{0, true}}, other{{2}};
  CHECK_NOTHROW([&] { device_scope<fake_memory<false>> scope(home, other); }());
  CHECK(entered == std::vector<int>{2});
  // Entering the other device reports its failure to the caller.
  const fake_memory<false> lost{{5, true}};
  CHECK_THROWS_WITH(device_scope<fake_memory<false>>(home, lost), "device lost");
}

TEST_CASE("host memory: nothing is entered") {
  entered.clear();
  const fake_memory<true> home{{0}}, other{{1}};
  { device_scope<fake_memory<true>> scope(home, other); }
  CHECK(entered.empty());
}
