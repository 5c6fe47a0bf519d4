// runtime/local_groups.hpp: host devices meet in a local_group: make(members, threads) gives a group
// of that many ranks, whose handles are Communicators that sum across threads; a stage waits for a
// message spinning where every compute thread has a core, yielding the core soon otherwise.
#include <doctest/doctest.h>

#include <plait/runtime/local_groups.hpp>
#include <thread>
#include <vector>

using namespace plait;

using groups = local_groups<host<sequential>>;
static_assert(std::is_same_v<groups::comm, local_comm> && Communicator<groups::comm>);

TEST_CASE("a group of the members' count, its ranks in order, summing across threads") {
  const host_context<sequential> a{.index = 0}, b{.index = 1}, c{.index = 2};
  const std::vector<const host_context<sequential>*> members{&a, &b, &c};
  auto group = groups::make(members, 3, false);
  REQUIRE(group != nullptr);
  std::vector<std::vector<float>> bufs(3, std::vector<float>(5));
  std::vector<std::size_t> ranks(3), sizes(3);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < 3; ++r)
    threads.emplace_back([&, r] {
      groups::comm comm = group->comm(r);
      ranks[r] = comm.rank();
      sizes[r] = comm.size();
      for (std::size_t i = 0; i < 5; ++i) bufs[r][i] = float(r * 10 + i);
      comm.all_reduce(bufs[r].data(), 5);
    });
  for (auto& t : threads) t.join();
  CHECK(ranks == std::vector<std::size_t>{0, 1, 2});
  CHECK(sizes == std::vector<std::size_t>{3, 3, 3});
  for (std::size_t i = 0; i < 5; ++i) CHECK(bufs[0][i] == float(30 + 3 * i));
  CHECK(bufs[1] == bufs[0]);
  CHECK(bufs[2] == bufs[0]);
  CHECK_THROWS_AS(group->comm(3), error);
}

TEST_CASE("messages are awaited spinning only where the compute threads fit the cores") {
  const host_context<sequential> a{.index = 0}, b{.index = 1};
  const std::vector<const host_context<sequential>*> members{&a, &b};
  const unsigned cores = available_cores();
  REQUIRE(cores >= 1);
  CHECK(groups::make(members, cores, false)->options().spin_message == local_options::message_spin_dedicated);
  CHECK(groups::make(members, 1, false)->options().spin_message == local_options::message_spin_dedicated);
  CHECK(groups::make(members, cores + 1, false)->options().spin_message == local_options{}.spin_message);
  CHECK(local_options{}.spin_message < local_options::message_spin_dedicated);
  // a collective's entry spins as long only where the compute threads run the collectives, each on a core
  CHECK(groups::make(members, cores, true)->options().spin == local_options::message_spin_dedicated);
  CHECK(groups::make(members, cores, false)->options().spin == local_options{}.spin);
  CHECK(groups::make(members, cores + 1, true)->options().spin == local_options{}.spin);
}

TEST_CASE("the collectives run on the compute threads where those fill the cores, in one process") {
  const std::size_t cores = available_cores();
  CHECK(groups::collectives_inline(collectives_on::automatic, cores, 1));
  CHECK(groups::collectives_inline(collectives_on::automatic, cores + 3, 1));
  CHECK(groups::collectives_inline(collectives_on::automatic, cores - 1, 1) == (cores == 1));
  CHECK_FALSE(groups::collectives_inline(collectives_on::automatic, cores, 2));  // across processes: a worker
  CHECK(groups::collectives_inline(collectives_on::compute, 1, 4));
  CHECK_FALSE(groups::collectives_inline(collectives_on::worker, cores + 3, 1));
}

TEST_CASE("the cores a process may run on: its affinity, capped by a cgroup's CPU quota") {
  const unsigned cores = available_cores();
  CHECK(cores >= 1);
  if (std::thread::hardware_concurrency() > 0) CHECK(cores <= std::thread::hardware_concurrency());
  CHECK(detail::cores_of_quota("200000", "100000") == 2);  // docker --cpus=2
  CHECK(detail::cores_of_quota("150000", "100000") == 2);  // 1.5 CPUs: 2 threads may run at once
  CHECK(detail::cores_of_quota("50000", "100000") == 1);
  CHECK(detail::cores_of_quota("max", "100000") == 0);  // cgroup v2: no quota
  CHECK(detail::cores_of_quota("-1", "100000") == 0);   // cgroup v1: no quota
  CHECK(detail::cores_of_quota("", "") == 0);
}
