// graph/fusion.hpp: a pair with a fusion rule becomes one layer of the chain, a pair without stays
// two. Compiling is the test.
#include <plait/graph/chain.hpp>
#include <type_traits>

#include "../toy_layers.hpp"

namespace plait {
// A rule for the test: same<1> after same<0> becomes same<10>.
template <>
struct fusion<test::same<0>, test::same<1>> {
  using type = test::same<10>;
};
}  // namespace plait

namespace {
using namespace plait;
using test::same;

static_assert(has_fusion<same<0>, same<1>> && !has_fusion<same<1>, same<0>> && !has_fusion<same<0>, same<0>>);
static_assert(std::is_same_v<fused_t<same<0>, same<1>>, same<10>>);

constexpr auto fused = input<4> >> same<0>{} >> same<1>{};
static_assert(std::is_same_v<std::remove_const_t<decltype(fused)>, chain<shape<4>, same<10>>>);
constexpr auto kept = input<4> >> same<1>{} >> same<0>{};
static_assert(std::is_same_v<std::remove_const_t<decltype(kept)>, chain<shape<4>, same<1>, same<0>>>);
// Only the last layer fuses with the next: the rule applies across a sub-graph's seam too.
constexpr auto seam = input<4> >> same<2>{} >> same<0>{} >> (same<1>{} >> same<2>{});
static_assert(std::is_same_v<std::remove_const_t<decltype(seam)>, chain<shape<4>, same<2>, same<10>, same<2>>>);
}  // namespace
