// core/step_count.hpp: a step count converts to and from its value and carries where a device reads
// it. Compiling is the test.
#include <plait/core/step_count.hpp>

namespace {
using namespace plait;

constexpr step_count three = 3;  // a count converts
static_assert(three.value == 3 && three.at == nullptr && three.scalars == nullptr);
static_assert(std::size_t(three) == 3 && three + 1 == 4);
constexpr std::size_t take(std::size_t t) { return t; }
static_assert(take(step_count{7}) == 7);  // an optimizer that takes a std::size_t accepts it
constexpr std::uint64_t word = 9;
constexpr step_count on_device{5, &word};
static_assert(on_device.value == 5 && *on_device.at == 9);
}  // namespace
