// runtime/memory_plan.hpp: the memory plan of a model, known before place allocates anything, is what
// the devices hold after the first step (every device's total equals its planned_bytes, and the sum
// equals what the model's memory resource holds) under single_device, replicate, a sharded optimizer,
// pipelines (1F1B, zero bubble, interleaved), partition and a mesh, with SGD (no state), SGD with
// momentum and Adam; placed with the optimizer, no step allocates. place_options::memory_budget
// refuses a plan over it at place(...), at plan_optimizer and at a step, before allocating anything.
#include <doctest/doctest.h>

#include <cstdint>
#include <iostream>
#include <memory_resource>
#include <plait/plait.hpp>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

using namespace plait;

namespace {
// Counts what the model's arenas hold from it.
struct counting_resource : std::pmr::memory_resource {
  std::size_t allocations = 0, held = 0;
  void* do_allocate(std::size_t n, std::size_t a) override {
    ++allocations;
    held += n;
    return std::pmr::new_delete_resource()->allocate(n, a);
  }
  void do_deallocate(void* p, std::size_t n, std::size_t a) override {
    held -= n;
    std::pmr::new_delete_resource()->deallocate(p, n, a);
  }
  bool do_is_equal(const memory_resource& o) const noexcept override { return this == &o; }
};

constexpr auto net = input<12> >> linear<32> >> gelu >> linear<24> >> relu >> linear<16> >> plait::tanh >> linear<4>;
constexpr std::size_t batch = 16;
using layout = graph_layout<std::remove_cvref_t<decltype(net)>>;
constexpr std::size_t param_bytes = layout::param_buffer_size * sizeof(float);  // blocks aligned to 16 floats

struct data {
  std::vector<float> x = std::vector<float>(batch * 12);
  std::vector<std::int32_t> y = std::vector<std::int32_t>(batch);
  data() {
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 11) / 11.0f - 0.5f;
    for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int32_t(i % 4);
  }
  template <class M, class Opt>
  void step(M& m, Opt& opt) const {
    m.train_step(samples<shape<12>>{x.data(), batch}, class_labels{y.data(), batch}, cross_entropy, opt);
  }
};

std::size_t sum_of_totals(const memory_plan& p) {
  std::size_t n = 0;
  for (const auto& d : p.devices) n += d.total();
  return n;
}

template <class P, class Opt>
void check_plan_is_held(Opt opt) {
  const std::string policy = cat(P::name, " over ", P::device_count, " devices");
  CAPTURE(policy);
  const auto devices = host_devices(P::device_count);
  const place_options options{.max_batch = batch};
  const memory_plan before = plan_memory<P>(net, devices, options, opt);  // nothing placed yet
  REQUIRE(before.devices.size() == P::device_count);
  const std::size_t state = opt.state_per_param();
  for (const auto& d : before.devices) CHECK((d.usage[memory_use::optimizer_state] > 0) == (state > 0));

  counting_resource mem;
  auto m = place<P>(net, devices, {.max_batch = batch, .memory = &mem});
  // Before any step: what place allocated is the plan less the optimizer's state.
  const memory_plan placed = m.memory_plan();
  CHECK(mem.held == sum_of_totals(placed));
  CHECK(sum_of_totals(placed) + [&] {
    std::size_t s = 0;
    for (const auto& d : before.devices) s += d.usage[memory_use::optimizer_state];
    return s;
  }() == sum_of_totals(before));
  const memory_plan with_opt = m.memory_plan(opt);
  for (std::size_t l = 0; l < P::device_count; ++l) {
    CAPTURE(l);
    CHECK(placed.devices[l].usage[memory_use::optimizer_state] == 0);
    CHECK(with_opt.devices[l].usage == before.devices[l].usage);
    CHECK(with_opt.devices[l].runs_on == before.devices[l].runs_on);
  }

  data d;
  d.step(m, opt);  // plans the optimizer's state
  const memory_plan after = m.memory_plan();
  CHECK(mem.held == sum_of_totals(before));
  for (std::size_t l = 0; l < P::device_count; ++l) {
    CAPTURE(l);
    CHECK(after.devices[l].usage == before.devices[l].usage);
    CHECK(after.devices[l].total() == m.planned_bytes(l));
    CHECK(after.devices[l].usage[memory_use::optimizer_state] == m.optimizer_bytes(l));
    CHECK(after.devices[l].usage[memory_use::activations] == m.activation_bytes(l));
  }

  // Placed with the optimizer: its state is there before the first step, which allocates nothing.
  counting_resource planned_mem;
  auto planned = place<P>(net, devices, {.max_batch = batch, .memory = &planned_mem}, opt);
  CHECK(planned_mem.held == sum_of_totals(before));
  const std::size_t allocations = planned_mem.allocations;
  d.step(planned, opt);
  d.step(planned, opt);
  CHECK(planned_mem.allocations == allocations);
  CHECK(planned.gather_parameters() != m.gather_parameters());  // it trained a step more
  d.step(m, opt);
  CHECK(planned.gather_parameters() == m.gather_parameters());  // and the same steps as without planning ahead
}

template <class Opt>
void check_policies(Opt opt) {
  check_plan_is_held<single_device>(opt);
  check_plan_is_held<replicate<2>>(opt);
  check_plan_is_held<replicate<2, shard_optimizer>>(opt);
  check_plan_is_held<pipeline<2, microbatches<2>, one_f_one_b>>(opt);
  check_plan_is_held<pipeline<2, microbatches<4>, zb_h1>>(opt);
  check_plan_is_held<pipeline<2, microbatches<4>, interleaved_1f1b<2>>>(opt);
  check_plan_is_held<partition<2>>(opt);
  check_plan_is_held<replicate<2, pipeline<2, microbatches<2>, one_f_one_b>>>(opt);
}
}  // namespace

TEST_CASE("the plan before place is what every policy's devices hold after the first step: SGD") {
  check_policies(sgd{.lr = 0.05f});
}
TEST_CASE("... SGD with momentum (a float of state per parameter)") {
  check_policies(sgd{.lr = 0.05f, .momentum = 0.9f});
}
TEST_CASE("... Adam (two floats of state per parameter)") { check_policies(adam{.lr = 0.01f}); }

TEST_CASE("the plan printed before place, then placed within a budget") {
  // [docs:memory_plan]
  using policy = replicate<2, shard_optimizer>;
  const place_options options{.max_batch = 256, .memory_budget = std::size_t{4} << 20};  // 4 MiB per device
  const memory_plan plan = plan_memory<policy>(net, host_devices(2), options, adam{});   // allocates nothing
  std::cout << plan;  // a row per use, a column per device, the peak and the budget
  auto model = place<policy>(net, host_devices(2), options, adam{});  // over budget: refused; else state planned
  // [/docs:memory_plan]
  for (std::size_t l = 0; l < 2; ++l) CHECK(model.memory_plan().devices[l].usage == plan.devices[l].usage);
  CHECK(plan.peak() <= plan.budget);
}

TEST_CASE("the figures follow the policy: a sharded optimizer, a pipeline's stages, max_batch") {
  const place_options o{.max_batch = batch};
  const auto one = plan_memory(net, host_device(), o, adam{});
  const auto dp = plan_memory<replicate<2>>(net, host_devices(2), o, adam{});
  const auto zero = plan_memory<replicate<2, shard_optimizer>>(net, host_devices(2), o, adam{});
  const auto pp = plan_memory<pipeline<2, microbatches<2>, one_f_one_b>>(net, host_devices(2), o, adam{});
  const std::size_t state = one.devices[0].usage[memory_use::optimizer_state];
  CHECK(state == 2 * param_bytes);
  CHECK(one.devices[0].usage[memory_use::parameters] == param_bytes);
  CHECK(one.devices[0].usage[memory_use::gradients] == param_bytes);
  CHECK(dp.devices[1].usage[memory_use::optimizer_state] == state);
  CHECK(zero.devices[0].usage[memory_use::optimizer_state] + zero.devices[1].usage[memory_use::optimizer_state] ==
        state);  // each replica keeps the state of its shard
  CHECK(zero.devices[0].usage[memory_use::optimizer_state] < state);
  CHECK(zero.devices[0].usage[memory_use::gradient_shard] > 0);
  CHECK(pp.devices[0].usage[memory_use::parameters] + pp.devices[1].usage[memory_use::parameters] ==
        one.devices[0].usage[memory_use::parameters]);
  CHECK(pp.devices[1].usage[memory_use::stage_inputs] > 0);
  CHECK(pp.devices[1].usage[memory_use::input_gradients] > 0);
  CHECK(one.devices[0].usage[memory_use::input_gradients] == 0);
  const auto big = plan_memory(net, host_device(), {.max_batch = 4 * batch}, adam{});
  CHECK(big.devices[0].usage[memory_use::activations] > 2 * one.devices[0].usage[memory_use::activations]);
  CHECK(big.devices[0].usage[memory_use::parameters] == one.devices[0].usage[memory_use::parameters]);
  CHECK(one.peak() == one.devices[0].total());
  CHECK(pp.peak() == std::max(pp.devices[0].total(), pp.devices[1].total()));
}

TEST_CASE("the printed plan: a row per use held, a column per device, the totals and the budget") {
  auto m = place<pipeline<2, microbatches<2>, one_f_one_b>>(net, host_devices(2), {.max_batch = batch}, adam{});
  const memory_plan p = m.memory_plan();
  const std::string t = p.table();
  std::ostringstream os;
  os << p;
  CHECK(os.str() == t);
  for (const char* s : {"device 0", "device 1", "parameters", "gradients", "activations", "stage inputs",
                        "optimizer state", "total", "no budget"})
    CHECK_MESSAGE(t.find(s) != std::string::npos, s);
  CHECK(t.find("gradient shard") == std::string::npos);  // no device holds one
  CHECK(t.find(format_bytes(p.devices[1].total())) != std::string::npos);
  CHECK(format_bytes(512) == "512 B");
  CHECK(format_bytes(3 * 1024 * 1024 / 2) == "1.5 MiB");
  CHECK(format_bytes(2048, true) == "2.0 KiB (2048 bytes)");
  const auto turns = plan_memory<pipeline<2, microbatches<4>, interleaved_1f1b<2>>>(net, host_devices(2));
  CHECK(turns.table().find("stage 3@1") != std::string::npos);  // four stages taking turns on two devices
  CHECK(turns.peak() == std::max(turns.on_device(0).total(), turns.on_device(1).total()));
  CHECK(turns.peak() > turns.devices[0].total());
}

TEST_CASE("a budget under a device's plan is refused at place(...), before anything is allocated") {
  using P = pipeline<2, microbatches<2>, one_f_one_b>;
  const auto plan = plan_memory<P>(net, host_devices(2), {.max_batch = batch});
  const std::size_t need = plan.peak();
  const std::size_t heavy = plan.devices[0].total() == need ? 0 : 1;
  counting_resource mem;
  std::string text;
  try {
    place<P>(net, host_devices(2), {.max_batch = batch, .memory = &mem, .memory_budget = need - 1});
  } catch (const error& e) {
    text = e.what();
  }
  CHECK(mem.allocations == 0);
  const auto top = plan.devices[heavy].usage.largest(3);
  REQUIRE(top.size() == 3);
  CHECK(text == message(cat("device ", heavy, " would hold ", format_bytes(need, true),
                            " for place(...), over place_options.memory_budget of ", format_bytes(need - 1, true)),
                        cat("its largest uses are ", memory_use_name(top[0].first), " ", format_bytes(top[0].second),
                            ", ", memory_use_name(top[1].first), " ", format_bytes(top[1].second), " and ",
                            memory_use_name(top[2].first), " ", format_bytes(top[2].second)),
                        text.substr(text.find("Fix: ") + 5, text.size() - text.find("Fix: ") - 6)));
  CHECK(text.find("Fix: ") != std::string::npos);
  auto fits = place<P>(net, host_devices(2), {.max_batch = batch, .memory = &mem, .memory_budget = need});
  CHECK(fits.memory_plan().budget == need);
  CHECK(mem.allocations == 2);
}

TEST_CASE("the optimizer's state within the budget: refused at place, plan_optimizer and the step alike") {
  const auto bare = plan_memory(net, host_device(), {.max_batch = batch});
  const std::size_t budget = bare.peak() + param_bytes + 64;  // room for one float of state per parameter
  auto adam_opt = adam{};
  CHECK_THROWS_WITH_AS(place(net, host_device(), {.max_batch = batch, .memory_budget = budget}, adam_opt),
                       doctest::Contains("for place(...) and adam's state, over place_options.memory_budget"), error);
  auto m = place(net, host_device(), {.max_batch = batch, .memory_budget = budget});
  CHECK_THROWS_WITH_AS(m.plan_optimizer(adam_opt),
                       doctest::Contains(("plait: device 0 would hold " +
                                          format_bytes(m.memory_plan(adam_opt).peak(), true) + " for adam's state")
                                             .c_str()),
                       error);
  CHECK(m.optimizer_bytes() == 0);  // nothing allocated
  try {
    m.plan_optimizer(adam_opt);
  } catch (const error& e) {
    CHECK(std::string(e.what()).find("its largest uses are optimizer state") != std::string::npos);
    CHECK(std::string(e.what()).find("Fix: shard the optimizer's state") != std::string::npos);
  }
  const auto before = m.gather_parameters();
  data d;
  CHECK_THROWS_WITH_AS(d.step(m, adam_opt), doctest::Contains("for the optimizer's state, over"), error);
  CHECK(m.optimizer_bytes() == 0);
  CHECK(m.gather_parameters() == before);  // the step did not run
  auto momentum = sgd{.lr = 0.1f, .momentum = 0.9f};
  m.plan_optimizer(momentum);  // one float per parameter fits
  CHECK(m.optimizer_bytes() == param_bytes);
  d.step(m, momentum);
  CHECK(m.memory_plan().peak() <= budget);
  CHECK(m.gather_parameters() != before);
}
