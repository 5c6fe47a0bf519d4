// policy/policy.hpp: the Policy concepts, and a policy's figures with their defaults. Compiling is
// the test.
#include <plait/policy/policy.hpp>
#include <plait/policy/single_device.hpp>

#include "../toy_layers.hpp"

namespace {
using namespace plait;

using G = std::remove_cvref_t<decltype(input<4> >> test::resize<2>{})>;

struct bare {
  static constexpr std::size_t device_count = 2;
  static constexpr const char* name = "bare";
};
struct stated {
  static constexpr std::size_t device_count = 6;
  static constexpr const char* name = "stated";
  static constexpr std::size_t microbatch_count = 4;
  static constexpr std::size_t data_parallel_degree = 3;
  static constexpr std::size_t tensor_parallel_degree = 2;
  template <class>
  using device_graph = int;
};
struct nameless {
  static constexpr std::size_t device_count = 1;
};
struct not_empty {
  static constexpr std::size_t device_count = 1;
  static constexpr const char* name = "x";
  int state;
};

static_assert(Policy<bare> && Policy<stated> && Policy<single_device>);
static_assert(!Policy<nameless> && !Policy<not_empty> && !Policy<int>);
// PolicyFor needs stages, owned and programs for the graph.
static_assert(PolicyFor<single_device, G> && !PolicyFor<bare, G>);

// Defaults: one micro-batch, no data or tensor parallelism, the graph unchanged.
static_assert(microbatch_count_of<bare> == 1 && data_parallel_degree_of<bare> == 1 &&
              tensor_parallel_degree_of<bare> == 1);
static_assert(microbatch_count_of<stated> == 4 && data_parallel_degree_of<stated> == 3 &&
              tensor_parallel_degree_of<stated> == 2);
static_assert(std::is_same_v<device_graph_of<bare, G>::type, G> &&
              std::is_same_v<device_graph_of<stated, G>::type, int>);

static_assert(stage_range{}.first == 0 && stage_range{}.last == 0);
}  // namespace
