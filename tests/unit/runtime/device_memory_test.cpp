// runtime/device_memory.hpp: a device's memory is planned once, in one arena: its bytes are the sum
// of the parts the header lists (each rounded to the buffer alignment), for a whole graph and for
// one pipeline stage; initial parameters are the same on every device that holds a layer.
#include <doctest/doctest.h>

#include <memory_resource>
#include <plait/plait.hpp>
#include <vector>

using namespace plait;

namespace {
constexpr auto net = input<4> >> linear<8> >> relu >> linear<3>;
using G = std::remove_cvref_t<decltype(net)>;
using memory = device_memory<G, host<sequential>>;
static_assert(graph_layout<G>::param_offsets[1] == 48 && graph_layout<G>::param_buffer_size == 80);

struct counting_resource : std::pmr::memory_resource {
  std::size_t bytes = 0, allocations = 0;
  void* do_allocate(std::size_t n, std::size_t a) override {
    bytes += n;
    ++allocations;
    return std::pmr::new_delete_resource()->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    std::pmr::new_delete_resource()->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};

constexpr std::size_t aligned(std::size_t floats) { return round_up(floats * sizeof(float), buffer_alignment); }
}  // namespace

TEST_CASE("the whole graph on one host device: params, grads, activations per slot, gradients, losses") {
  counting_resource r;
  memory m({.owned = {0, 2}, .rows = 5, .slots = 2}, host_context<sequential>{}, &r);
  const std::size_t per_slot = aligned(5 * 8) + aligned(5 * 3);  // the two layers' outputs; nothing saved
  const std::size_t expected = 2 * aligned(80)                   // params, grads
                               + 2 * per_slot                    // two slots
                               + 2 * aligned(5 * 8)              // ping-pong gradients of the widest edge
                               + aligned(5);                     // per-sample losses
  CHECK(m.planned_bytes() == expected);
  CHECK(m.activation_bytes() == 2 * per_slot);
  CHECK(m.optimizer_bytes() == 0);
  CHECK(r.allocations == 1);  // one arena
  CHECK(r.bytes == m.planned_bytes());
  CHECK(m.param_lo() == 0);
  CHECK(m.param_size() == 80);
  CHECK(m.layer_params(1) == m.params() + 48);
  CHECK(m.recv_input(0) == nullptr);  // host memory: layer 0 reads the caller's input
  CHECK(m.input_grad(1) == nullptr);  // nothing to send back
}

TEST_CASE("a later pipeline stage: its parameters only, and its input and input gradient per slot") {
  counting_resource r;
  memory m({.owned = {1, 2}, .rows = 5, .slots = 1}, host_context<sequential>{}, &r);
  const std::size_t expected = 2 * aligned(80 - 48)                                // params, grads of layer 1
                               + aligned(5 * 8) + aligned(5 * 8) + aligned(5 * 3)  // in, dx, the output
                               + 2 * aligned(5 * 8) + aligned(5);
  CHECK(m.planned_bytes() == expected);
  CHECK(r.bytes == expected);
  CHECK(m.activation_bytes() == aligned(5 * 3));
  CHECK(m.param_lo() == 48);
  CHECK(m.param_size() == 32);
  CHECK(m.layer_params(1) == m.params());
  CHECK(m.recv_input(0) != nullptr);
  CHECK(m.input_grad(0) != nullptr);
}

TEST_CASE("more rows and slots plan proportionally more activation memory") {
  counting_resource r;
  memory small({.owned = {0, 2}, .rows = 4, .slots = 1}, host_context<sequential>{}, &r);
  memory big({.owned = {0, 2}, .rows = 4, .slots = 3}, host_context<sequential>{}, &r);
  CHECK(big.activation_bytes() == 3 * small.activation_bytes());
  CHECK(big.planned_bytes() - small.planned_bytes() == 2 * small.activation_bytes());
}

TEST_CASE("initial parameters depend on the seed only, and a stage holds the whole graph's values") {
  counting_resource r;
  memory whole({.owned = {0, 2}, .rows = 2, .slots = 1}, host_context<sequential>{}, &r);
  memory again({.owned = {0, 2}, .rows = 3, .slots = 2}, host_context<sequential>{}, &r);
  memory stage({.owned = {1, 2}, .rows = 2, .slots = 1}, host_context<sequential>{}, &r);
  memory other({.owned = {0, 2}, .rows = 2, .slots = 1}, host_context<sequential>{}, &r);
  whole.init_parameters(7);
  again.init_parameters(7);
  stage.init_parameters(7);
  other.init_parameters(8);
  const std::vector<float> a(whole.params(), whole.params() + 80), b(again.params(), again.params() + 80);
  CHECK(a == b);
  CHECK(std::vector<float>(stage.params(), stage.params() + 32) == std::vector<float>(a.begin() + 48, a.end()));
  CHECK(std::vector<float>(other.params(), other.params() + 80) != a);
  // The padding after layer 0's 40 parameters stays zero.
  for (std::size_t k = 40; k < 48; ++k) CHECK(a[k] == 0.0f);
}
