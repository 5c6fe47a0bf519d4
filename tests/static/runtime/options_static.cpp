// runtime/options.hpp: place_options' and evaluation's defaults. Compiling is the test.
#include <plait/runtime/options.hpp>

namespace {
using namespace plait;

constexpr place_options o{};
static_assert(o.max_batch == 256 && o.seed == 0 && o.memory == nullptr && !o.cuda_graph);
constexpr place_options set{.max_batch = 8, .seed = 3};
static_assert(set.max_batch == 8 && set.seed == 3 && set.memory == nullptr);
constexpr evaluation e{};
static_assert(e.loss == 0 && e.accuracy == 0 && e.count == 0);
}  // namespace
