// predict and evaluate (runtime/inference.hpp) on host devices: the shared cases against one device,
// and, from the executed trace, that every device of a policy works at once.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <plait/plait.hpp>
#include <vector>

#include "policy/equivalence.hpp"

using on_backend = test::on_host;
#include "runtime/inference_cases.hpp"

using namespace plait;

namespace {
constexpr auto wide = input<256> >> linear<1024> >> relu >> linear<1024> >> relu >> linear<8>;

/// Whether, in one predict call's executed trace, a forward of device 0 and one of device 1 overlap in
/// time. On a loaded machine a worker may start late, so a few calls are tried.
template <class Policy>
bool devices_overlap_in_predict() {
  auto m = place<Policy>(wide, host_devices(2), {.max_batch = 256});
  const test::batch_set<wide> b(256, 3);
  m.enable_trace();
  for (int attempt = 0; attempt < 10; ++attempt) {
    m.predict(b.xs());
    const auto events = m.trace().events();
    for (const trace_event& a : events)
      for (const trace_event& c : events)
        if (a.device == 0 && c.device == 1 && std::string_view(a.name).starts_with("forward") &&
            std::string_view(c.name).starts_with("forward") && a.begin_us < c.end_us && c.begin_us < a.end_us)
          return true;
  }
  return false;
}
}  // namespace

TEST_CASE("predict under replicate<2> and pipeline<2, m=4> runs on both devices at once") {
  CHECK(devices_overlap_in_predict<replicate<2>>());
  CHECK(devices_overlap_in_predict<pipeline<2, microbatches<4>>>());
}

TEST_CASE("predict's executed trace: each replica's forward on its rows, gathers by the devices that end the graph") {
  auto m = place<replicate<2, pipeline<2, microbatches<2>>>>(inference_cases::mlp, host_devices(4), {.max_batch = 16});
  const test::batch_set<inference_cases::mlp> b(16, 5);
  m.enable_trace();
  m.predict(b.xs());
  std::vector<int> forwards(4), gathers(4);
  for (const trace_event& e : m.trace().events()) {
    forwards[e.device] += std::string_view(e.name).starts_with("forward");
    gathers[e.device] += std::string_view(e.name) == "gather";
  }
  CHECK(forwards == std::vector<int>{2, 2, 2, 2});  // every device: its stage, on two micro-batches
  CHECK(gathers == std::vector<int>{0, 2, 0, 2});   // the last stage of each replica hands its rows over
}

TEST_CASE("predict and evaluate refuse what they cannot hold, with a plait message") {
  auto m = place<replicate<2>>(inference_cases::mlp, host_devices(2), {.max_batch = 8});
  const test::batch_set<inference_cases::mlp> b(9, 1);
  CHECK_THROWS_WITH_AS(m.predict(b.xs()), doctest::Contains("plait: predict is given a batch of 9 samples, more than max_batch = 8"),
                       plait::error);
  CHECK_THROWS_WITH_AS(m.predict({b.x.data(), 0}), doctest::Contains("plait: predict is given an empty batch"), plait::error);
  CHECK_THROWS_WITH_AS(m.evaluate(b.xs(), class_labels{b.y.data(), 3}, cross_entropy),
                       doctest::Contains("plait: evaluate is given 9 samples but 3 targets"), plait::error);
  // evaluate chunks what predict cannot hold at once
  CHECK(m.evaluate(b.xs(), b.ys(), cross_entropy).count == 9);
}
