// core/signature.hpp: a hash of (policy, graph) types, the same for the same types only. Compiling is
// the test.
#include <plait/plait.hpp>

namespace signature_checks {
using namespace plait;
using a = std::remove_const_t<decltype(input<4> >> linear<8> >> relu >> linear<2>)>;
using b = std::remove_const_t<decltype(input<4> >> linear<8> >> gelu >> linear<2>)>;
using a_again = std::remove_const_t<decltype(input<4> >> linear<8> >> relu >> linear<2>)>;
static_assert(signature_of<replicate<2>, a> == signature_of<replicate<2>, a_again>);
static_assert(signature_of<replicate<2>, a> != signature_of<replicate<2>, b>);
static_assert(signature_of<replicate<2>, a> != signature_of<replicate<4>, a>);
static_assert(signature_of<replicate<2>, a> != signature_of<pipeline<2>, a>);
static_assert(model<replicate<2>, a, host<sequential>>::signature == signature_of<replicate<2>, a>);
// The order of the types counts.
static_assert(signature_of<int, float> != signature_of<float, int>);
// FNV-1a itself: the offset basis for the empty string, and a published value ("a").
static_assert(detail::fnv1a("") == 14695981039346656037ull);
static_assert(detail::fnv1a("a") == 0xaf63dc4c8601ec8cull);
}  // namespace signature_checks
