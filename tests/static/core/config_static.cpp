// core/config.hpp: the version macros agree with each other; the kernel-function macro is empty
// outside nvcc. Compiling is the test.
#include <plait/core/config.hpp>
#include <string_view>

namespace {
constexpr std::string_view version = PLAIT_VERSION_STRING;
constexpr std::size_t digits(int n) { return n < 10 ? 1 : 1 + digits(n / 10); }
static_assert(version.size() ==
              digits(PLAIT_VERSION_MAJOR) + digits(PLAIT_VERSION_MINOR) + digits(PLAIT_VERSION_PATCH) + 2);
static_assert(version[0] - '0' == PLAIT_VERSION_MAJOR % 10 &&
              version[version.size() - 1] - '0' == PLAIT_VERSION_PATCH % 10);
static_assert(version.find('.') == digits(PLAIT_VERSION_MAJOR));

PLAIT_HD constexpr int twice(int x) { return 2 * x; }  // a plain constexpr function under g++
static_assert(twice(21) == 42);
PLAIT_ALWAYS_INLINE int add(int* PLAIT_RESTRICT a, const int* PLAIT_RESTRICT b) { return *a + *b; }
[[maybe_unused]] int (*const use)(int*, const int*) = add;
}  // namespace
