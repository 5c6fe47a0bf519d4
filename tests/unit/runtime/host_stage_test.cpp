// The host stage (on<cpu>(...), graph/host_stage_layers.hpp, runtime/host_stage.hpp): a graph's leading
// layers run on the host in the input's path and hand their output to the device that holds the next
// layer. On host devices the stage runs with that device's own kernels, so a graph with the marks
// must train to the same bits as the same graph without them, under every policy: the host stage
// runs exactly once per micro-batch, with the same random draws, and backward stops where it begins.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <plait/plait.hpp>
#include <vector>

using namespace plait;

namespace {
// [docs:host_stage]
constexpr auto marked = input<2, 6> >> on<cpu>(plait::tanh >> dropout<0.25> >> flatten)  // on the host
                        >> linear<16> >> relu >> linear<8> >> gelu >> linear<4>;         // on the devices
// [/docs:host_stage]
constexpr auto plain =
    input<2, 6> >> plait::tanh >> dropout<0.25> >> flatten >> linear<16> >> relu >> linear<8> >> gelu >> linear<4>;
using marked_graph = std::remove_const_t<decltype(marked)>;
using marked_layout = graph_layout<marked_graph>;
using plain_layout = graph_layout<std::remove_const_t<decltype(plain)>>;

static_assert(host_stage_layers<marked_layout>::size == 3 && host_stage_layers<plain_layout>::size == 0);
static_assert(host_stage_layers<marked_layout>::leading && host_stage_layers<marked_layout>::untrained);
static_assert(host_stage_layers<marked_layout>::out_width == 12 && host_stage_layers<plain_layout>::out_width == 12);
static_assert(marked_layout::parameter_count == plain_layout::parameter_count);
// A mark after a device layer, and a layer with parameters in the host stage, are seen as such.
static_assert(
    !host_stage_layers<
        graph_layout<std::remove_const_t<decltype(input<4> >> relu >> on<cpu>(plait::tanh) >> linear<2>)>>>::leading);
static_assert(!host_stage_layers<
              graph_layout<std::remove_const_t<decltype(input<4> >> on<cpu>(linear<4>) >> linear<2>)>>>::untrained);
// Under placement, on<cpu> layers belong to the device of the layers after them.
constexpr auto fed = input<6> >> on<cpu>(plait::tanh) >> on<1>(linear<8> >> relu) >> on<0>(linear<4>);
using fed_graph = std::remove_const_t<decltype(fed)>;
static_assert(placement<2>::owned<fed_graph>[1].first == 0 &&
              placement<2>::owned<fed_graph>[1].last == 2);  // linear >> relu: one layer
static_assert(placement<2>::owned<fed_graph>[0].first == 2);

struct data {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  explicit data(std::size_t n, std::uint64_t seed = 5) : x(n * 12), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-2, 2);
    for (auto& v : y) v = std::int32_t(rng.below(4));
  }
  samples<shape<2, 6>> xs(std::size_t at, std::size_t n) const { return {x.data() + at * 12, n}; }
  class_labels ys(std::size_t at, std::size_t n) const { return {y.data() + at, n}; }
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// A host stage that ends in a layer that computes (it writes straight into the staging buffer).
constexpr auto marked_flat = input<2, 6> >> on<cpu>(flatten >> plait::tanh >> dropout<0.25>) >> linear<8> >> linear<4>;
constexpr auto plain_flat = input<2, 6> >> flatten >> plait::tanh >> dropout<0.25> >> linear<8> >> linear<4>;
static_assert(host_stage_layers<graph_layout<std::remove_const_t<decltype(marked_flat)>>>::size == 3);

// Trains the marked and the plain graph under Policy on the same batches; returns nothing, checks bits.
template <class Policy, class Opt, auto Marked = marked, auto Plain = plain>
void check_same_bits(Opt opt, std::size_t batch = 16) {
  const data d(batch * 4);
  auto a = place<Policy>(Marked, host_devices(Policy::device_count), {.max_batch = batch, .seed = 9});
  auto b = place<Policy>(Plain, host_devices(Policy::device_count), {.max_batch = batch, .seed = 9});
  auto oa = opt, ob = opt;
  for (std::size_t s = 0; s < 4; ++s) {
    const float la = a.train_step(d.xs(s * batch, batch), d.ys(s * batch, batch), cross_entropy, oa);
    const float lb = b.train_step(d.xs(s * batch, batch), d.ys(s * batch, batch), cross_entropy, ob);
    CHECK(la == lb);
  }
  CHECK(same_bits(a.gather_parameters(), b.gather_parameters()));
  const std::size_t n = a.rows_per_call();
  const auto pa = a.predict(d.xs(0, n)), pb = b.predict(d.xs(0, n));
  CHECK(std::equal(pa.data, pa.data + n * 4, pb.data));
  const evaluation ea = a.evaluate(d.xs(0, batch * 4), d.ys(0, batch * 4), cross_entropy);
  const evaluation eb = b.evaluate(d.xs(0, batch * 4), d.ys(0, batch * 4), cross_entropy);
  CHECK(ea.loss == eb.loss);
  CHECK(ea.accuracy == eb.accuracy);
}
}  // namespace

TEST_CASE("a host stage trains to the same bits as the same layers on the device") {
  SUBCASE("one device, SGD") { check_same_bits<single_device>(sgd{.lr = 0.1f, .momentum = 0.9f}); }
  SUBCASE("one device, Adam") { check_same_bits<single_device>(adam{.lr = 1e-2f}); }
  SUBCASE("one device, micro-batches (pipeline<1, m=4>)") {
    check_same_bits<pipeline<1, microbatches<4>>>(adam{.lr = 1e-2f});
  }
  SUBCASE("replicate<2>: each replica's host stage on its rows") { check_same_bits<replicate<2>>(adam{.lr = 1e-2f}); }
  SUBCASE("pipeline<2, m=4>: the first stage's device runs it") {
    check_same_bits<pipeline<2, microbatches<4>, one_f_one_b>>(sgd{.lr = 0.1f});
  }
  SUBCASE("replicate<2, pipeline<2, m=2>>") {
    check_same_bits<replicate<2, pipeline<2, microbatches<2>>>>(sgd{.lr = 0.1f});
  }
  SUBCASE("a host stage ending in a layer that computes, pipeline<1, m=4> and replicate<2>") {
    check_same_bits<pipeline<1, microbatches<4>>, adam, marked_flat, plain_flat>(adam{.lr = 1e-2f});
    check_same_bits<replicate<2>, adam, marked_flat, plain_flat>(adam{.lr = 1e-2f});
  }
}

TEST_CASE("the host stage draws its random numbers as the device would, and not in evaluation") {
  // Dropout in the host stage is a per-step augmentation: two steps on the same batch see different
  // masks (the losses differ), and predict (evaluation mode) is deterministic.
  const data d(8);
  auto m = place(marked, host_device(), {.max_batch = 8, .seed = 3});
  auto opt = sgd{.lr = 0.0f};  // parameters stay: only the masks change
  const float l0 = m.train_step(d.xs(0, 8), d.ys(0, 8), cross_entropy, opt);
  const float l1 = m.train_step(d.xs(0, 8), d.ys(0, 8), cross_entropy, opt);
  CHECK(l0 != l1);
  const std::vector<float> p0(m.predict(d.xs(0, 8)).data, m.predict(d.xs(0, 8)).data + 32);
  const auto p1 = m.predict(d.xs(0, 8));
  CHECK(std::equal(p0.begin(), p0.end(), p1.data));
}

TEST_CASE("a model with a host stage plans it at place and reports the same parameters") {
  auto m = place(marked, host_device(), {.max_batch = 8});
  CHECK(m.parameter_count() == plain_layout::parameter_count);
  // The device's planned memory holds the host stage's output (in[k]) but none of its activations.
  auto p = place(plain, host_device(), {.max_batch = 8});
  CHECK(m.activation_bytes() < p.activation_bytes());
}
