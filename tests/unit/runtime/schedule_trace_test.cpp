// The planned step of every policy as a Chrome trace (runtime/schedule_trace.hpp), and the planned
// figures it is drawn from (policy/plan.hpp).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <plait/plait.hpp>
#include <sstream>
#include <string>

using namespace plait;

namespace {
constexpr auto net = input<16> >> linear<32> >> relu >> linear<32> >> relu >> linear<8> >> relu >> linear<4>;
using graph = std::remove_cvref_t<decltype(net)>;

std::string read(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// Writes the policy's planned trace and checks it: one forward and one backward event for each
/// forward and backward instruction, on the device that runs it, none overlapping on one device.
template <class Policy>
void check_planned_trace() {
  using plan = plan_of<Policy, graph>;
  const auto events = planned_events<Policy, graph>();
  std::size_t expected = 0;
  for (const auto& p : plan::programs)
    for (const instruction& i : p) expected += i.op == opcode::forward || i.op == opcode::backward;
  CHECK(events.size() == expected);
  for (const trace_event& a : events) {
    CHECK(a.device < plan::device_count);
    CHECK(a.end_us >= a.begin_us);  // a stage of views only (a gathered column's join) takes no time
    for (const trace_event& b : events)
      if (&a != &b && a.device == b.device) CHECK((a.end_us <= b.begin_us || b.end_us <= a.begin_us));
  }
  const auto path =
      std::filesystem::temp_directory_path() / ("plait_planned_" + std::to_string(plan::device_count) + ".json");
  write_planned_trace<Policy, graph>(path);
  const std::string text = read(path);
  CHECK(text.find("planned") != std::string::npos);
  CHECK(text.find("\"device " + std::to_string(plan::device_count - 1) + "\"") != std::string::npos);
  std::filesystem::remove(path);
}
}  // namespace

TEST_CASE_TEMPLATE("every policy's planned step is written as a trace", Policy, single_device, replicate<2>,
                   replicate<2, shard_optimizer>, partition<2>, pipeline<2, microbatches<4>, one_f_one_b>,
                   pipeline<3, microbatches<6>>, replicate<2, pipeline<2, microbatches<2>>>, replicate<2, partition<2>>,
                   pipeline<2, microbatches<2>, gpipe, partition<2>>) {
  check_planned_trace<Policy>();
}

TEST_CASE("a pipeline's planned bubble is the schedule's formula; replicas and shards have none") {
  // Equal stages: (p - 1) / (m + p - 1) for GPipe and 1F1B. The balanced cut of `net` is not equal, so
  // compare the stage-equal figure the policy states with the formula, and the graph's with the plan's.
  CHECK(pipeline<2, microbatches<4>, one_f_one_b>::bubble_fraction == doctest::Approx(1.0 / 5.0));
  CHECK(plan_of<pipeline<2, microbatches<4>, one_f_one_b>, graph>::bubble_fraction ==
        doctest::Approx(pipeline<2, microbatches<4>, one_f_one_b>::planned_timeline<graph>.bubble_fraction()));
  CHECK(plan_of<replicate<2>, graph>::bubble_fraction == doctest::Approx(0.0));
  CHECK(plan_of<partition<2>, graph>::bubble_fraction == doctest::Approx(0.0));
}
