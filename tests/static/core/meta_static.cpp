// core/meta.hpp: type lists, compile-time loops, round_up. Compiling is the test.
#include <array>
#include <plait/core/meta.hpp>

namespace {
using namespace plait;

using l = type_list<int, char, double>;
static_assert(l::size == 3 && type_list<>::size == 0);
static_assert(std::is_same_v<type_at_t<0, l>, int> && std::is_same_v<type_at_t<1, l>, char> &&
              std::is_same_v<type_at_t<2, l>, double>);
static_assert(!dependent_false<int>);

// static_for calls I = 0..N-1 in order.
static_assert([] {
  std::array<std::size_t, 5> order{};
  std::size_t at = 0;
  static_for<5>([&]<std::size_t I>() { order[at++] = I; });
  return at == 5 && order[0] == 0 && order[1] == 1 && order[4] == 4;
}());
static_assert([] {
  std::size_t calls = 0;
  static_for<0>([&]<std::size_t>() { ++calls; });
  return calls == 0;
}());

static_assert(round_up(0, 16) == 0 && round_up(1, 16) == 16 && round_up(16, 16) == 16 && round_up(17, 16) == 32);
static_assert(round_up(10, 3) == 12 && round_up(9, 3) == 9 && round_up(5, 1) == 5);
}  // namespace
