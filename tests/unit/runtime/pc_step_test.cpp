// Predictive coding (runtime/pc_step.hpp, runtime/predictive_coding.hpp): the fixed-prediction form
// gives backprop's gradients; the energy falls over the inference iterations; layer-parallel PC on
// 2, 3 and 4 devices gives one device's parameters bit for bit; replicate<2> gives one device's
// parameters on the same global batch; bad settings are refused before anything runs.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "../policy/equivalence.hpp"

using namespace plait;

namespace {
// Four layers that do work (after fusion: linear+relu, linear+tanh, linear+relu, linear).
constexpr auto mlp = input<8> >> linear<16> >> relu >> linear<12> >> plait::tanh >> linear<10> >> relu >> linear<4>;
// conv2d, pooling, flatten (a view: no value node of its own), layernorm, a standalone activation.
constexpr auto cnn = input<2, 8, 8> >> conv2d<4, 3, 1, 1> >> relu >> maxpool2d<2> >> conv2d<6, 3, 1, 1> >>
                     plait::tanh >> avgpool2d<2> >> flatten >> layernorm >> linear<10> >> relu >> linear<5>;

template <auto Net>
std::vector<float> copy_of(std::span<const float> s) {
  return {s.begin(), s.end()};
}

// PC's gradient (fixed prediction, T = layers, rate 1) against train_step's on the same weights.
template <auto Net>
void check_fixed_prediction_is_backprop(std::size_t iterations) {
  auto bp = place(Net, host_device(), {.max_batch = 16, .seed = 3});
  auto pc = place(Net, host_device(), {.max_batch = 16, .seed = 3});
  const test::batch_set<Net> b(16, 41);
  sgd none{.lr = 0.0f};
  bp.train_step(b.xs(), b.ys(), cross_entropy, none);
  pc.pc_step(b.xs(), b.ys(), cross_entropy, none,
             {.iterations = iterations, .rate = 1.0f, .variant = pc_variant::fixed_prediction});
  const auto g_bp = copy_of<Net>(bp.gradients()), g_pc = copy_of<Net>(pc.gradients());
  double worst = 0, scale = 0;
  for (std::size_t i = 0; i < g_bp.size(); ++i) {
    worst = std::max(worst, double(std::abs(g_bp[i] - g_pc[i])));
    scale = std::max(scale, double(std::abs(g_bp[i])));
  }
  MESSAGE("largest gradient difference ", worst, " of largest gradient ", scale);
  CHECK(scale > 1e-3);  // there is a gradient to compare
  CHECK(worst <= 1e-6 * scale + 1e-7);
}

// Three steps of Policy against one device, same seed and batches; the returned parameters of both.
template <class Policy, auto Net>
std::pair<std::vector<float>, std::vector<float>> train_both(pc_options o, std::size_t batch = 12) {
  auto one = place(Net, host_device(), {.max_batch = batch, .seed = 5});
  auto many = place<Policy>(Net, host_devices(Policy::device_count), {.max_batch = batch, .seed = 5});
  adam a1{.lr = 0.01f}, a2{.lr = 0.01f};
  for (int s = 0; s < 3; ++s) {
    const test::batch_set<Net> b(batch, 90 + std::uint64_t(s));
    const float e1 = one.pc_step(b.xs(), b.ys(), cross_entropy, a1, o);
    const float e2 = many.pc_step(b.xs(), b.ys(), cross_entropy, a2, o);
    CHECK(e2 == doctest::Approx(e1).epsilon(1e-5));
  }
  return {one.gather_parameters(), many.gather_parameters()};
}

constexpr pc_options variants[] = {
    {.iterations = 5, .rate = 0.1f},
    {.iterations = 4, .rate = 0.2f, .momentum = 0.5f},
    {.iterations = 3, .rate = 0.1f, .variant = pc_variant::incremental},
    {.iterations = 4, .rate = 1.0f, .variant = pc_variant::fixed_prediction},
};

template <class Policy, auto Net>
void check_bitwise(std::size_t batch = 12) {
  for (const pc_options& o : variants) {
    const auto [one, many] = train_both<Policy, Net>(o, batch);
    CHECK_MESSAGE(one == many, Policy::name, " ", to_string(o.variant), ", batch ", batch,
                  ": parameters differ from one device's");
  }
}
}  // namespace

TEST_CASE("fixed-prediction PC with T = layers and rate 1 gives backprop's gradients") {
  check_fixed_prediction_is_backprop<mlp>(4);
  check_fixed_prediction_is_backprop<cnn>(9);  // 10 layers, flatten a view
}

TEST_CASE("fewer fixed-prediction iterations than layers do not reach the first layer") {
  auto pc = place(mlp, host_device(), {.max_batch = 16, .seed = 3});
  const test::batch_set<mlp> b(16, 41);
  sgd none{.lr = 0.0f};
  pc.pc_step(b.xs(), b.ys(), cross_entropy, none,
             {.iterations = 2, .rate = 1.0f, .variant = pc_variant::fixed_prediction});
  const auto first = pc.layer_parameters<0>();
  const auto g = pc.gradients().subspan(0, first.size());
  double largest = 0;
  for (float v : g) largest = std::max(largest, double(std::abs(v)));
  CHECK(largest == 0.0);  // the error travels one layer per iteration
}

TEST_CASE("the energy falls over the inference iterations for a small rate") {
  for (const auto variant : {pc_variant::standard, pc_variant::fixed_prediction}) {
    auto m = place(mlp, host_device(), {.max_batch = 32, .seed = 8});
    sgd opt{.lr = 0.05f};
    std::vector<double> energies(21);
    const test::batch_set<mlp> b(32, 7);
    const float e = m.pc_step(b.xs(), b.ys(), cross_entropy, opt,
                              {.iterations = 20, .rate = 0.05f, .variant = variant, .energies = energies});
    CHECK(double(e) == doctest::Approx(energies.back()).epsilon(1e-5));
    if (variant == pc_variant::fixed_prediction) continue;  // its errors grow towards backprop's: no descent
    for (std::size_t t = 1; t < energies.size(); ++t) CHECK(energies[t] <= energies[t - 1]);
    MESSAGE("energy ", energies.front(), " -> ", energies.back());
    CHECK(energies.back() < 0.99 * energies.front());
  }
}

TEST_CASE("layer-parallel PC on 2, 3 and 4 devices gives one device's parameters, bit for bit") {
  check_bitwise<pipeline<2>, mlp>();
  check_bitwise<pipeline<3>, mlp>();
  check_bitwise<pipeline<4>, mlp>();
  check_bitwise<pipeline<2>, cnn>();
  check_bitwise<pipeline<3>, cnn>();
}

TEST_CASE("the opening forward streams in chunks of rows, and still gives one device's parameters bit for bit") {
  // pc_chunks: 1 chunk below 2 x pc_chunk_rows rows, then one per pc_chunk_rows, at most pc_forward_chunks.
  constexpr std::size_t R = pc_chunk_rows, K = pc_forward_chunks;
  CHECK(pc_chunks(2 * R - 1) == 1);
  CHECK(pc_chunks(3 * R + 5) == 3);  // uneven: the first chunk one row longer
  CHECK(pc_chunks(R * K * 3) == K);  // capped
  for (const std::size_t batch : {3 * R + 5, R * (K + 1) + 3}) {
    check_bitwise<pipeline<2>, mlp>(batch);
    check_bitwise<pipeline<4>, mlp>(batch);
  }
  check_bitwise<pipeline<3>, cnn>(2 * R + 1);
  // Under replicate<2, pipeline<2>> each replica chunks its own share (2 chunks each).
  const auto [one, mesh] = train_both<replicate<2, pipeline<2>>, mlp>(variants[0], 4 * R + 2);
  CHECK(test::max_relative_difference(one, mesh) < test::adam_tolerance);
}

TEST_CASE("replicate<2> of PC equals PC on one device on the same global batch") {
  for (const pc_options& o : variants) {
    const auto [one, two] = train_both<replicate<2>, mlp>(o);
    CHECK(test::max_relative_difference(one, two) < test::adam_tolerance);
    const auto [one_b, mesh] = train_both<replicate<2, pipeline<2>>, mlp>(o);
    CHECK(test::max_relative_difference(one_b, mesh) < test::adam_tolerance);
  }
  const auto [one, sharded] = train_both<replicate<2, shard_optimizer>, mlp>(variants[0]);
  CHECK(test::max_relative_difference(one, sharded) < test::adam_tolerance);
}

TEST_CASE("PC training lowers the loss, and the model predicts as trained") {
  auto m = place<pipeline<2>>(mlp, host_devices(2), {.max_batch = 64, .seed = 1});
  adam opt{.lr = 0.01f};
  const test::batch_set<mlp> b(64, 11);
  const float before = m.evaluate(b.xs(), b.ys(), cross_entropy).loss;
  for (int s = 0; s < 60; ++s) m.pc_step(b.xs(), b.ys(), cross_entropy, opt, {.iterations = 8, .rate = 0.1f});
  const float after = m.evaluate(b.xs(), b.ys(), cross_entropy).loss;
  MESSAGE("loss ", before, " -> ", after);
  CHECK(after < 0.5f * before);
}

TEST_CASE("bad settings are refused with a plait message, before anything runs") {
  auto m = place(mlp, host_device(), {.max_batch = 8, .seed = 1});
  sgd opt{.lr = 0.1f};
  const test::batch_set<mlp> b(8, 2);
  const auto params = m.gather_parameters();
  const auto refused = [&](pc_options o, const char* what) {
    try {
      m.pc_step(b.xs(), b.ys(), cross_entropy, opt, o);
      FAIL("accepted: ", what);
    } catch (const plait::error& e) {
      const std::string s = e.what();
      CHECK_MESSAGE(s.rfind("plait: ", 0) == 0, s);
      CHECK_MESSAGE(s.find(what) != std::string::npos, s);
    }
  };
  refused({.iterations = 0}, "iterations = 0");
  refused({.rate = -1.0f}, "inference rate");
  refused({.rate = NAN}, "inference rate");
  refused({.momentum = 1.0f}, "momentum");
  std::vector<double> three(3);
  refused({.iterations = 8, .energies = three}, "places for energies");
  CHECK(m.gather_parameters() == params);
  m.guard_steps({.max_norm = 1.0f});
  refused({}, "guard_steps");
}

namespace {
// An inference rate too large for the weights: rate * (1 + |W|^2) far above 2 at every hidden node.
template <class Policy>
std::string diverged(float rate, bool nan_input) {
  auto m = place<Policy>(mlp, host_devices(Policy::device_count), {.max_batch = 16, .seed = 4});
  std::vector<float> p = m.gather_parameters();
  for (float& v : p) v *= 6.0f;
  m.set_parameters(p);
  test::batch_set<mlp> b(16, 12);
  std::vector<float> xs(b.xs().data, b.xs().data + 16 * 8);
  if (nan_input) xs[3] = NAN;
  sgd opt{.lr = 0.0f};
  try {
    m.pc_step(samples<shape<8>>{xs.data(), 16}, b.ys(), cross_entropy, opt, {.iterations = 8, .rate = rate});
  } catch (const plait::error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST_CASE("a step whose inference diverges is reported, on one device and layer-parallel") {
  for (const std::string& s : {diverged<single_device>(0.9f, false), diverged<pipeline<2>>(0.9f, false)}) {
    CHECK_MESSAGE(s.rfind("plait: pc_step's energy rose over its 8 inference iterations", 0) == 0, s);
    CHECK_MESSAGE(s.find("Fix: lower pc_options::rate") != std::string::npos, s);
  }
  const std::string nan = diverged<pipeline<2>>(0.01f, true);
  CHECK_MESSAGE(nan.find("energy became non-finite") != std::string::npos, nan);
  CHECK(diverged<single_device>(0.001f, false).empty());  // the same weights, a rate they allow: no report
  CHECK(pc_energy_settled(1.0, 0.5, 4));
  CHECK(pc_energy_settled(1.0, 1.0, 4));
  CHECK_FALSE(pc_energy_settled(1.0, 1.1, 4));
  CHECK_FALSE(pc_energy_settled(1.0, INFINITY, 4));
  CHECK_FALSE(pc_energy_settled(NAN, 0.5, 4));
  CHECK(pc_energy_settled(1.0, 1.5, 4, 0.5f));  // momentum's overshoot, up to 1 / (1 - m)^2
  CHECK_FALSE(pc_energy_settled(1.0, 4.5, 4, 0.5f));
}

namespace {
// Five layers of equal forward work, cut 3 + 2: in an iteration the first layer costs nothing (it
// reads the data: its prediction is kept, it has no input-gradient term) and every other layer its
// prediction and its term, so both stages do the work of two layers.
constexpr auto balanced = input<64> >> linear<64> >> relu >> linear<64> >> relu >> linear<64> >> relu >> cut >>
                          linear<64> >> relu >> linear<64>;
using balanced_graph = std::remove_cvref_t<decltype(balanced)>;
}  // namespace

TEST_CASE(
    "layer-parallel PC plans no bubble past the first forward; a backprop pipeline of one micro-batch idles half") {
  using pc = pc_plan<plan_of<pipeline<2>, balanced_graph>>;
  constexpr auto t = pc::planned_timeline<8>(pc_variant::standard);
  constexpr double pc_bubble = t.bubble_fraction();
  constexpr double backprop_bubble = plan_of<pipeline<2>, balanced_graph>::bubble_fraction;
  MESSAGE("planned bubble: layer-parallel PC (T = 8) ", pc_bubble, ", GPipe with one micro-batch ", backprop_bubble);
  // The opening forward streams in pc_forward_chunks chunks, so device 1 waits for one chunk of
  // device 0's forward (3 layers / 8), not all of it: 0.032 planned (0.08 when it waited for the
  // whole pass); what is left is that and the stages' unequal weight parts.
  CHECK(pc_bubble < 0.04);
  CHECK(backprop_bubble > 0.4);
  // Every iteration's errors of device 0 and device 1 are planned side by side.
  constexpr auto progs = pc::step_programs<8>(pc_variant::standard);
  std::vector<double> ends[2];
  for (std::size_t d = 0; d < 2; ++d)
    for (std::size_t k = 0; k < progs[d].size(); ++k)
      if (progs[d][k].op == opcode::pc_errors) ends[d].push_back(t.end[d][k]);
  REQUIRE(ends[0].size() == 8);
  REQUIRE(ends[1].size() == 8);
  for (std::size_t i = 2; i < 8; ++i) CHECK(std::abs(ends[0][i] - ends[1][i]) < 0.1 * (ends[0][i] - ends[0][i - 1]));
}

TEST_CASE("executed: both stages compute in every iteration, and the trace says so") {
  // [docs:trace]
  auto m = place<pipeline<2>>(balanced, host_devices(2), {.max_batch = 512, .seed = 2});
  const test::batch_set<balanced> b(512, 5);
  sgd opt{.lr = 0.01f};
  m.enable_trace();
  m.pc_step(b.xs(), b.ys(), cross_entropy, opt, {.iterations = 8, .rate = 0.1f});
  m.write_trace("pc_executed_trace.json");  // executed: one track per device
  // planned, before anything runs (512 rows: the opening forward in 4 chunks)
  write_planned_pc_trace<pipeline<2>, balanced_graph, 8>("pc_planned_trace.json", pc_variant::standard, 512);
  // [/docs:trace]
  std::size_t errors[2] = {}, forwards[2] = {};
  for (const trace_event& e : m.trace().events()) {
    if (e.row != trace_row::compute) continue;
    errors[e.device] += std::string(e.name).find("pc_errors") != std::string::npos;
    forwards[e.device] += std::string(e.name).find("forward") != std::string::npos;
  }
  CHECK(errors[0] == 8);
  CHECK(errors[1] == 8);
  CHECK(forwards[0] == pc_forward_chunks);  // one per chunk (4 of them hold rows)
  CHECK(forwards[1] == pc_forward_chunks);
}
