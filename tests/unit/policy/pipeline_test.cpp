// pipeline<S, microbatches<M>, Schedule>: equivalence with one device, memory by schedule, misuse.
//
// Tolerance: a pipeline accumulates each stage's gradients over micro-batches where one device sums
// the batch in one GEMM; the difference is float reassociation only. Parameters after 4 steps agree
// to 2e-5 relative (1e-6 absolute floor) with SGD.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <initializer_list>
#include <plait/plait.hpp>
#include <tuple>
#include <vector>

#include "equivalence.hpp"

using namespace plait;
using test::max_relative_difference;

namespace {
constexpr auto deep = input<10> >> linear<24> >> relu >> linear<24> >> plait::tanh >> linear<16> >> relu >>
                      linear<12> >> gelu >> linear<4>;
constexpr auto shallow = input<10> >> linear<16> >> relu >> linear<4>;
constexpr auto with_cuts = input<10> >> linear<20> >> relu >> cut >> linear<20> >> relu >> cut >> linear<4>;
// Deep enough for 8 stages (4 devices x 2 chunks).
constexpr auto block = linear<16> >> relu;
constexpr auto deeper =
    input<10> >> block >> block >> block >> block >> block >> block >> block >> block >> block >> linear<4>;

template <std::size_t In>
struct batch_set {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::uint64_t seed) : x(n * In), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(4));
  }
  samples<shape<In>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

template <class Policy, auto Net>
void check_equivalence(std::size_t batch) {
  auto single = place(Net, host_device(), {.max_batch = batch, .seed = 3});
  auto piped = place<Policy>(Net, host_devices(Policy::device_count), {.max_batch = batch, .seed = 3});
  auto o1 = sgd{.lr = 0.1f, .momentum = 0.9f}, o2 = o1;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const batch_set<10> b(batch, 50 + s);
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = piped.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(max_relative_difference(piped.gather_parameters(), single.parameters()) < 2e-5);
  const batch_set<10> probe(piped.rows_per_call(), 99);  // predict runs through the stages in evaluation mode
  const auto p1 = single.predict(probe.xs());
  const auto p2 = piped.predict(probe.xs());
  for (std::size_t i = 0; i < probe.y.size() * 4; ++i) CHECK(p2.data[i] == doctest::Approx(p1.data[i]).epsilon(1e-4));
}
}  // namespace

TEST_CASE_TEMPLATE("pipeline<p, m> trains as one device: deep MLP, balanced stages", P,
                   pipeline<2, microbatches<1>, gpipe>, pipeline<2, microbatches<4>, gpipe>,
                   pipeline<3, microbatches<8>, gpipe>, pipeline<4, microbatches<4>, gpipe>,
                   pipeline<2, microbatches<8>, one_f_one_b>, pipeline<3, microbatches<1>, one_f_one_b>,
                   pipeline<3, microbatches<4>, one_f_one_b>, pipeline<4, microbatches<8>, one_f_one_b>) {
  check_equivalence<P, deep>(32);
}

TEST_CASE_TEMPLATE("pipeline on a shallow MLP and at explicit cuts", P, pipeline<2, microbatches<4>, one_f_one_b>,
                   pipeline<2, microbatches<8>, gpipe>) {
  check_equivalence<P, shallow>(16);
  check_equivalence<pipeline<3, microbatches<4>, typename P::schedule>, with_cuts>(16);
}

// ZB-H1 for p in {2, 3, 4} and m in {p, 2p, 8}: as one device, and bit for bit as 1F1B with the same
// micro-batches (the same products, each parameter's gradient summed over the micro-batches in the
// same order; only when a layer's weight part runs changes).
TEST_CASE_TEMPLATE("pipeline<p, m, zb_h1> trains as one device and as 1F1B, bit for bit", P,
                   pipeline<2, microbatches<2>, zb_h1>, pipeline<2, microbatches<4>, zb_h1>,
                   pipeline<2, microbatches<8>, zb_h1>, pipeline<3, microbatches<3>, zb_h1>,
                   pipeline<3, microbatches<6>, zb_h1>, pipeline<3, microbatches<8>, zb_h1>,
                   pipeline<4, microbatches<4>, zb_h1>, pipeline<4, microbatches<8>, zb_h1>) {
  static_assert(P::splits_backward);
  check_equivalence<P, deep>(48);
  using ofob = pipeline<P::stage_count, microbatches<P::microbatch_count>, one_f_one_b>;
  CHECK(test::same_bits<P, ofob, deep>(48));
}

// Chunked schedules: p devices of V stages each. Each stage's gradients are summed over the
// micro-batches in their order, as a 1F1B pipeline of p x V stages (one per device) sums them: the
// same bits. Interleaved 1F1B needs m a multiple of p.
TEST_CASE_TEMPLATE("chunked pipelines train as one device and as 1F1B over as many stages, bit for bit", P,
                   pipeline<2, microbatches<2>, interleaved_1f1b<2>>, pipeline<2, microbatches<4>, interleaved_1f1b<2>>,
                   pipeline<2, microbatches<8>, interleaved_1f1b<2>>, pipeline<3, microbatches<3>, interleaved_1f1b<2>>,
                   pipeline<3, microbatches<6>, interleaved_1f1b<2>>, pipeline<4, microbatches<4>, interleaved_1f1b<2>>,
                   pipeline<4, microbatches<8>, interleaved_1f1b<2>>, pipeline<2, microbatches<8>, interleaved_1f1b<3>>,
                   pipeline<2, microbatches<2>, zb_v>, pipeline<2, microbatches<4>, zb_v>,
                   pipeline<2, microbatches<8>, zb_v>, pipeline<3, microbatches<3>, zb_v>,
                   pipeline<3, microbatches<6>, zb_v>, pipeline<3, microbatches<8>, zb_v>,
                   pipeline<4, microbatches<4>, zb_v>, pipeline<4, microbatches<8>, zb_v>) {
  static_assert(P::chunked && P::physical_device_count * P::chunk_count == P::device_count);
  check_equivalence<P, deeper>(48);
  using flat = pipeline<P::stage_count, microbatches<P::microbatch_count>, one_f_one_b>;
  CHECK(test::same_bits<P, flat, deeper>(48));
}

// spare_slots<K>: K more activation slots per stage, where the zero-bubble schedules read the
// activations they receive in place too (the sender's slot held until the receiver's W). The same
// arithmetic as copying them: as one device, and bit for bit as the same schedule without the option.
TEST_CASE_TEMPLATE("pipelines with spare slots read messages in place and train as without them, bit for bit", P,
                   pipeline<2, microbatches<8>, zb_h1, spare_slots<1>>,
                   pipeline<3, microbatches<6>, zb_h1, spare_slots<1>>,
                   pipeline<2, microbatches<8>, zb_v, spare_slots<1>>,
                   pipeline<3, microbatches<6>, zb_v, spare_slots<1>>,
                   pipeline<4, microbatches<8>, zb_v, spare_slots<2>>,
                   pipeline<2, microbatches<8>, one_f_one_b, spare_slots<1>>) {
  using without = pipeline<P::physical_device_count, microbatches<P::microbatch_count>, typename P::schedule>;
  static_assert(P::reads.activations && P::reads.gradients &&
                !(without::reads.activations && without::reads.gradients));
  constexpr std::size_t last = P::stage_count - 1;  // the fewest in flight: never capped by M here
  static_assert(P::slots[last] == without::slots[last] + P::spare_slot_count);
  check_equivalence<P, deeper>(48);
  CHECK(test::same_bits<P, without, deeper>(48));
}

TEST_CASE("spare slots hold one more micro-batch of activations per stage, never more than the step has") {
  // [docs:spare_slots]
  using zb = pipeline<2, microbatches<8>, zb_h1>;
  using zb_spare = pipeline<2, microbatches<8>, zb_h1, spare_slots<1>>;  // 3 slots per stage instead of 2
  static_assert(!zb::reads.activations && zb_spare::reads.activations && zb_spare::reads.gradients);
  static_assert(zb_spare::bubble_fraction == zb::bubble_fraction);  // the same plan, no copies
  // [/docs:spare_slots]
  auto a = place<zb>(deep, host_devices(2), {.max_batch = 64});
  auto b = place<zb_spare>(deep, host_devices(2), {.max_batch = 64});
  CHECK(2 * b.activation_bytes(0) == 3 * a.activation_bytes(0));
  CHECK(2 * b.activation_bytes(1) == 3 * a.activation_bytes(1));
  static_assert(pipeline<2, microbatches<2>, gpipe, spare_slots<3>>::slots[0] == 2);  // one per micro-batch at most
  static_assert(plan_of<pipeline<2, microbatches<8>, zb_v, spare_slots<1>>, test::graph_of<deeper>>::slots[3] == 2);
}

TEST_CASE("a chunked pipeline runs on its devices, its stages taking turns") {
  // [docs:chunked]
  using P = pipeline<2, microbatches<4>, interleaved_1f1b<2>>;  // 4 stages, 2 per device, looping
  static_assert(P::device_of(0) == 0 && P::device_of(1) == 1 && P::device_of(2) == 0 && P::device_of(3) == 1);
  // [/docs:chunked]
  static_assert(pipeline<2, microbatches<4>, zb_v>::device_of(3) == 0 &&
                pipeline<2, microbatches<4>, zb_v>::device_of(2) == 1);
  // [docs:chunked_place]
  auto m = place<P>(deeper, host_devices(2), {.max_batch = 32});  // 2 devices for 4 stages
  // [/docs:chunked_place]
  CHECK_THROWS_WITH_AS(place<P>(deeper, host_devices(1)), doctest::Contains("needs 2 devices but place was given 1"),
                       plait::error);
  const batch_set<10> b(32, 4);
  auto opt = sgd{};
  m.enable_trace();
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  // On each device one stage computes at a time: no two compute events of a device overlap.
  std::vector<std::pair<double, double>> busy[2];
  for (const auto& e : m.trace().events())
    if (e.row == trace_row::compute)
      busy[plan_of<P, test::graph_of<deeper>>::device_of[e.device]].push_back({e.begin_us, e.end_us});
  for (auto& d : busy) {
    std::sort(d.begin(), d.end());
    for (std::size_t i = 1; i < d.size(); ++i) CHECK(d[i].first >= d[i - 1].second);
  }
  std::size_t forwards[2] = {};
  for (const auto& e : m.trace().events())
    if (std::string(e.name).starts_with("forward")) ++forwards[plan_of<P, test::graph_of<deeper>>::device_of[e.device]];
  CHECK(forwards[0] == 2 * 2 * 4);  // 2 steps x 2 stages x 4 micro-batches
  CHECK(forwards[1] == 2 * 2 * 4);
  const auto p1 = m.predict(b.xs());  // inference runs the stages as a plain pipeline
  CHECK(std::isfinite(p1.data[0]));
}

TEST_CASE("zb_h1 keeps every stage's activations until W, and each layer's output gradient from B to W") {
  using zb = pipeline<2, microbatches<8>, zb_h1>;
  using ofob = pipeline<2, microbatches<8>, one_f_one_b>;
  static_assert(zb::peak_inflight_microbatches[0] == 2 && zb::peak_inflight_microbatches[1] == 2);
  auto a = place<zb>(deep, host_devices(2), {.max_batch = 64});
  auto b = place<ofob>(deep, host_devices(2), {.max_batch = 64});
  CHECK(a.activation_bytes(0) == b.activation_bytes(0));                       // 2 slots on stage 0 under both
  CHECK(a.activation_bytes(1) == 2 * b.activation_bytes(1));                   // stage 1: 2 slots instead of 1
  CHECK(a.planned_bytes(1) > b.planned_bytes(1) + a.activation_bytes(1) / 2);  // and the kept output gradients
  check_equivalence<pipeline<3, microbatches<4>, zb_h1>, with_cuts>(16);
}

TEST_CASE("uneven micro-batches are allowed only when asked for") {
  using even = pipeline<2, microbatches<4>, one_f_one_b>;
  auto m = place<even>(shallow, host_devices(2), {.max_batch = 32});
  const batch_set<10> b(30, 1);
  auto opt = sgd{};
  CHECK_THROWS_WITH_AS(m.train_step(b.xs(), b.ys(), cross_entropy, opt),
                       doctest::Contains("does not divide into 4 micro-batches"), plait::error);
  check_equivalence<pipeline<2, microbatches<4>, one_f_one_b, uneven_microbatches>, shallow>(30);
  using three = pipeline<3, microbatches<2>>;
  CHECK_THROWS_WITH_AS(place<three>(deep, host_devices(2)),
                       doctest::Contains("pipeline needs 3 devices but place was given 2"), plait::error);
}

TEST_CASE("1F1B plans less activation memory than GPipe, as its peak in flight says") {
  using gp = pipeline<2, microbatches<8>, gpipe>;
  using ofob = pipeline<2, microbatches<8>, one_f_one_b>;
  static_assert(gp::peak_inflight_microbatches[0] == 8 && gp::peak_inflight_microbatches[1] == 8);
  static_assert(ofob::peak_inflight_microbatches[0] == 2 && ofob::peak_inflight_microbatches[1] == 1);
  auto a = place<gp>(deep, host_devices(2), {.max_batch = 64});
  auto b = place<ofob>(deep, host_devices(2), {.max_batch = 64});
  CHECK(b.activation_bytes(0) * 4 == a.activation_bytes(0));  // 2 slots instead of 8
  CHECK(b.activation_bytes(1) * 8 == a.activation_bytes(1));  // 1 slot instead of 8
  CHECK(b.planned_bytes(0) < a.planned_bytes(0));
  // Each stage holds only its own layers' parameters.
  CHECK(a.parameters(0).size() + a.parameters(1).size() ==
        graph_layout<std::remove_const_t<decltype(deep)>>::param_buffer_size);
}

// One traced step of a two-stage pipeline of 4 micro-batches: per device, the events whose name
// starts with each prefix.
template <class P>
std::vector<std::array<std::size_t, 2>> traced_counts(std::initializer_list<const char*> prefixes) {
  auto m = place<P>(deep, host_devices(2), {.max_batch = 32});
  const batch_set<10> b(32, 4);
  auto opt = sgd{};
  m.enable_trace();
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  std::vector<std::array<std::size_t, 2>> n(prefixes.size());
  for (const auto& e : m.trace().events()) {
    const std::string name = e.name;
    std::size_t k = 0;
    for (const char* prefix : prefixes) n[k++][e.device] += name.starts_with(prefix);
  }
  return n;
}

TEST_CASE("the executed schedule is traced, one track per stage") {
  const auto n = traced_counts<pipeline<2, microbatches<4>, one_f_one_b>>({"forward", "backward", "send"});
  const auto [forwards, backwards, sends] = std::tuple{n[0], n[1], n[2]};
  CHECK(forwards[0] == 4);
  CHECK(forwards[1] == 4);
  CHECK(backwards[0] == 4);
  CHECK(backwards[1] == 4);
  CHECK(sends[0] + sends[1] == 8);  // 4 activations forward, 4 gradients back
}

TEST_CASE("zb_h1's executed trace shows each backward's two parts") {
  const auto n = traced_counts<pipeline<2, microbatches<4>, zb_h1>>({"backward_input", "backward_weight"});
  const auto [inputs, weights] = std::tuple{n[0], n[1]};
  CHECK(inputs[0] == 4);
  CHECK(inputs[1] == 4);
  CHECK(weights[0] == 4);
  CHECK(weights[1] == 4);
}
