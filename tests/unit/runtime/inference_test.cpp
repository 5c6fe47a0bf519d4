// predict and evaluate (runtime/inference.hpp) on host devices: the shared cases against one device,
// and, from the executed trace, that every device of a policy works at once.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <plait/plait.hpp>
#include <vector>

#include "policy/equivalence.hpp"

using on_backend = test::on_host;
#include "runtime/inference_cases.hpp"

using namespace plait;

namespace {
// A layer that copies its input and, in evaluation, waits until `expected` devices have been inside
// its forward at the same time (or a deadline passes). Devices that run one after another never meet;
// devices working at once do. With SkipFirst the first call of a predict does not wait (a pipeline's
// first stage must send its first micro-batch before the second stage can come). Host devices only.
struct meeting {
  std::mutex m;
  std::condition_variable cv;
  int inside = 0, most = 0, calls = 0, expected = 2;
  void arrive(bool skip_first) {
    std::unique_lock lock(m);
    most = std::max(most, ++inside);
    cv.notify_all();
    if (!(skip_first && calls++ == 0)) cv.wait_for(lock, std::chrono::seconds(10), [&] { return most >= expected; });
    --inside;
  }
};
meeting meet;

template <bool SkipFirst>
struct rendezvous_t {
  static constexpr bool is_layer = true;
  template <Shape In>
  struct bound {
    using in_shape = In;
    using out_shape = In;
    static constexpr std::size_t param_count = 0, saved_count = 0, flops = In::size;
    static constexpr bool is_view = false, in_place_grad = true;
    template <class T, class Rng>
    static void init(T*, Rng&) {}
    template <class Ctx, class T>
    static void forward(const Ctx&, const forward_args<T>& a) {
      std::copy(a.x, a.x + a.batch * In::size, a.y);
      if (!a.training) meet.arrive(SkipFirst);
    }
    template <class Ctx, class T>
    static void backward(const Ctx&, const backward_args<T>& a) {
      if (a.dx) std::copy(a.dy, a.dy + a.batch * In::size, a.dx);
    }
  };
};
constexpr rendezvous_t<false> rendezvous{};
constexpr rendezvous_t<true> rendezvous_after_first{};

/// The most devices that were inside the rendezvous layer's forward at once during one predict.
template <class Policy, auto Net>
int devices_at_once(int expected) {
  auto m = place<Policy>(Net, host_devices(Policy::device_count), {.max_batch = 16});
  const test::batch_set<Net> b(16, 3);
  meet.most = meet.calls = 0;
  meet.expected = expected;
  m.predict(b.xs());
  return meet.most;
}
constexpr auto replicated = input<8> >> linear<8> >> rendezvous >> linear<4>;
// Stage 0 meets from its second micro-batch on, stage 1 from its first: both must run at once.
constexpr auto staged = input<8> >> linear<8> >> rendezvous_after_first >> cut >> rendezvous >> linear<4>;
}  // namespace

TEST_CASE("predict under replicate<2> and pipeline<2, m=4> runs on both devices at once") {
  CHECK(devices_at_once<replicate<2>, replicated>(2) == 2);
  CHECK(devices_at_once<pipeline<2, microbatches<4>>, staged>(2) == 2);
  // The same layer on one device never sees a second one: the count is of devices, not of calls.
  CHECK(devices_at_once<single_device, replicated>(1) == 1);
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
  CHECK_THROWS_WITH_AS(m.predict(b.xs()),
                       doctest::Contains("plait: predict is given a batch of 9 samples, more than max_batch = 8"),
                       plait::error);
  CHECK_THROWS_WITH_AS(m.predict({b.x.data(), 0}), doctest::Contains("plait: predict is given an empty batch"),
                       plait::error);
  CHECK_THROWS_WITH_AS(m.evaluate(b.xs(), class_labels{b.y.data(), 3}, cross_entropy),
                       doctest::Contains("plait: evaluate is given 9 samples but 3 targets"), plait::error);
  // evaluate chunks what predict cannot hold at once
  CHECK(m.evaluate(b.xs(), b.ys(), cross_entropy).count == 9);
}
