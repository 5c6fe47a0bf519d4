// runtime/comm_queue.hpp: a device's communication worker runs posted tasks in posting order, on its
// own thread (or at once without one); wait_for and wait return only when the tasks are done; a
// task's exception comes back from wait(), and the tasks after it do not run.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <plait/runtime/comm_queue.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace plait;

namespace {
struct task_log {
  std::vector<int> order;  // written by the worker only, read after wait
  std::atomic<int> entered{0};
  std::thread::id ran_on;
};

comm_task record(task_log& l, std::uint16_t id) {
  comm_task t;
  t.run = [](void* arg, const instruction& what) {
    auto& l = *static_cast<task_log*>(arg);
    l.order.push_back(what.buffer);
    l.ran_on = std::this_thread::get_id();
  };
  t.arg = &l;
  t.what.buffer = id;
  return t;
}
}  // namespace

TEST_CASE("tasks run in posting order on the worker thread; wait returns when all are done") {
  task_log l;
  std::atomic<bool> entered{false};
  comm_queue q(true, [&] { entered = true; });
  for (std::uint16_t k = 0; k < 200; ++k) q.post(record(l, k), k % 3 == 0);
  q.wait();
  CHECK(entered);
  REQUIRE(l.order.size() == 200);
  for (std::size_t k = 0; k < 200; ++k) CHECK(l.order[k] == int(k));
  CHECK(l.ran_on != std::this_thread::get_id());
}

TEST_CASE("more tasks than the ring holds, waited on in turn") {
  task_log l;
  comm_queue q(true, [] {});
  for (int round = 0; round < 3; ++round) {
    for (std::uint16_t k = 0; k < comm_queue::capacity; ++k) q.post(record(l, std::uint16_t(round * 1000 + k)));
    q.wait();
  }
  REQUIRE(l.order.size() == 3 * comm_queue::capacity);
  CHECK(l.order.back() == 2000 + int(comm_queue::capacity) - 1);
}

TEST_CASE("wait_for(ticket) returns once that task and those before it have run") {
  std::atomic<bool> release{false};
  std::atomic<int> done{0};
  struct args {
    std::atomic<bool>* release;
    std::atomic<int>* done;
  } a{&release, &done};
  comm_task slow;
  slow.arg = &a;
  slow.run = [](void* p, const instruction&) {
    auto& a = *static_cast<args*>(p);
    while (!a.release->load()) std::this_thread::sleep_for(std::chrono::microseconds(100));
    ++*a.done;
  };
  comm_task quick = slow;
  quick.run = [](void* p, const instruction&) { ++*static_cast<args*>(p)->done; };
  comm_queue q(true, [] {});
  const std::size_t first = q.post(slow);
  const std::size_t second = q.post(quick);
  CHECK(second == first + 1);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(done == 0);  // the quick task waits behind the slow one
  release = true;
  q.wait_for(second);
  CHECK(done == 2);
  q.wait();
}

TEST_CASE("a task's exception is rethrown by wait, once; later tasks are skipped") {
  task_log l;
  comm_queue q(true, [] {});
  q.post(record(l, 1));
  comm_task bad;
  bad.run = [](void*, const instruction&) { throw std::runtime_error("lost peer"); };
  q.post(bad);
  q.post(record(l, 2));
  CHECK_THROWS_WITH_AS(q.wait(), "lost peer", std::runtime_error);
  CHECK(l.order == std::vector<int>{1});
  CHECK_NOTHROW(q.wait());  // the error was handed over
}

TEST_CASE("without a thread, tasks run at once on the posting thread") {
  task_log l;
  bool entered = false;
  comm_queue q(false, [&] { entered = true; });
  CHECK(q.post(record(l, 7)) == 0);
  CHECK(l.order == std::vector<int>{7});  // before any wait
  CHECK(l.ran_on == std::this_thread::get_id());
  CHECK_FALSE(entered);
  comm_task bad;
  bad.run = [](void*, const instruction&) { throw std::runtime_error("at once"); };
  CHECK_THROWS_WITH(q.post(bad), "at once");
  CHECK_NOTHROW(q.wait());
}
