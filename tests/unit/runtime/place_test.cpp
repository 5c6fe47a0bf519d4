// runtime/place.hpp: place<Policy>(graph, devices, options) builds the model of that policy (single_device
// when none is named), with the options given; too few devices is a plait error naming the policy and
// both counts; what place refuses at compile time is in tests/fail (place_not_a_policy, place_not_a_backend,
// no_input).
#include <doctest/doctest.h>

#include <plait/plait.hpp>
#include <type_traits>

using namespace plait;

namespace {
constexpr auto net = input<6> >> linear<8> >> relu >> linear<3>;
using G = std::remove_cvref_t<decltype(net)>;
static_assert(detail::placeable<single_device, G, host<sequential>>() &&
              detail::placeable<replicate<2>, G, host<openmp>>());
}  // namespace

TEST_CASE("without a policy: one device, single_device") {
  auto m = place(net, host_device(), {.max_batch = 12, .seed = 5});
  static_assert(std::is_same_v<decltype(m), model<single_device, G, host<sequential>>>);
  CHECK(m.max_batch() == 12);
  CHECK(m.local_device_count() == 1);
  CHECK(m.parameter_count() == 6 * 8 + 8 + 8 * 3 + 3);
  CHECK(m.steps() == 0);
}

TEST_CASE("the policy named, on as many devices as it needs, or more") {
  auto m = place<replicate<2>>(net, host_devices(2), {.max_batch = 8});
  static_assert(std::is_same_v<decltype(m), model<replicate<2>, G, host<sequential>>>);
  CHECK(m.local_device_count() == 2);
  auto more = place<replicate<2>>(net, host_devices(3), {.max_batch = 8});
  CHECK(more.local_device_count() == 2);
}

TEST_CASE("too few devices: the policy, both counts, and the fix") {
  CHECK_THROWS_WITH_AS(
      place<replicate<3>>(net, host_devices(2), {.max_batch = 8}),
      "plait: replicate needs 3 devices but place was given 2. each logical device of the policy runs on "
      "a device of its own. Fix: pass at least 3 devices to place(...), e.g. host_devices(3).",
      error);
}

TEST_CASE("the seed of the options: the same seed, the same parameters; another, others") {
  auto a = place(net, host_device(), {.max_batch = 4, .seed = 9});
  auto b = place(net, host_device(), {.max_batch = 4, .seed = 9});
  auto c = place(net, host_device(), {.max_batch = 4, .seed = 10});
  CHECK(a.gather_parameters() == b.gather_parameters());
  CHECK(a.gather_parameters() != c.gather_parameters());
}
