// runtime/workers.hpp: device_workers runs a job on every device at once, device 0 on the calling
// thread, and returns when all are done; it rethrows the first device's exception by device order;
// its threads are reused from run to run.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <plait/runtime/workers.hpp>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace plait;

namespace {
struct seen {
  std::mutex m;
  std::vector<int> runs;               // per device: how many jobs ran
  std::vector<std::thread::id> where;  // per device: the thread of its last job
  explicit seen(std::size_t n) : runs(n), where(n) {}
};
void note(void* arg, std::size_t d) {
  auto& s = *static_cast<seen*>(arg);
  std::lock_guard lock(s.m);
  ++s.runs[d];
  s.where[d] = std::this_thread::get_id();
}
}  // namespace

TEST_CASE("every device runs each job once; device 0 on the caller; the threads are kept") {
  std::atomic<int> entered{0};
  device_workers w(4, [&](std::size_t) { ++entered; });
  CHECK(w.size() == 4);
  seen s(4);
  w.run(note, &s);
  CHECK(entered == 3);  // one enter per thread, devices 1..3
  CHECK(s.runs == std::vector<int>{1, 1, 1, 1});
  CHECK(s.where[0] == std::this_thread::get_id());
  CHECK(std::set<std::thread::id>(s.where.begin(), s.where.end()).size() == 4);
  const auto first = s.where;
  for (int k = 0; k < 50; ++k) w.run(note, &s);
  CHECK(s.runs == std::vector<int>{51, 51, 51, 51});
  CHECK(s.where == first);  // the same thread per device
  CHECK(entered == 3);
}

TEST_CASE("devices run at once: a job that waits for all devices completes") {
  device_workers w(3, [](std::size_t) {});
  std::atomic<int> arrived{0};
  w.run(
      [](void* a, std::size_t) {
        auto& n = *static_cast<std::atomic<int>*>(a);
        ++n;
        while (n.load() < 3) std::this_thread::yield();  // would hang if devices ran one after another
      },
      &arrived);
  CHECK(arrived == 3);
}

TEST_CASE("the first failing device's exception, by device order, after all have finished") {
  device_workers w(4, [](std::size_t) {});
  std::atomic<int> finished{0};
  const auto job = [](void* a, std::size_t d) {
    ++*static_cast<std::atomic<int>*>(a);
    if (d == 3) throw std::runtime_error("device 3");
    if (d == 1) throw std::runtime_error("device 1");
  };
  CHECK_THROWS_WITH_AS(w.run(job, &finished), "device 1", std::runtime_error);
  CHECK(finished == 4);
  // The errors are cleared: the next run succeeds.
  seen s(4);
  CHECK_NOTHROW(w.run(note, &s));
  CHECK(s.runs == std::vector<int>{1, 1, 1, 1});
  // Device 0's own exception comes first.
  CHECK_THROWS_WITH(
      w.run([](void*, std::size_t d) { throw std::runtime_error("device " + std::to_string(d)); }, nullptr),
      "device 0");
}

TEST_CASE("one device: no thread, the job runs on the caller") {
  device_workers w(1, [](std::size_t) { FAIL("no thread to enter"); });
  CHECK(w.size() == 1);
  seen s(1);
  w.run(note, &s);
  CHECK(s.runs[0] == 1);
  CHECK(s.where[0] == std::this_thread::get_id());
}
