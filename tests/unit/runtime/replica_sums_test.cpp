// runtime/replica_sums.hpp: replicas on their own threads each get the sum over replicas, the same
// bits everywhere, for calls one after another; a call over capacity is a plait error.
#include <doctest/doctest.h>

#include <plait/runtime/replica_sums.hpp>
#include <thread>
#include <vector>

using namespace plait;

TEST_CASE("every replica gets the sum over replicas, call after call") {
  constexpr std::size_t replicas = 3, n = 4;
  replica_sums sums(replicas, 8);
  std::vector<std::vector<double>> got(replicas);
  std::vector<std::thread> threads;
  for (std::size_t r = 0; r < replicas; ++r)
    threads.emplace_back([&, r] {
      const replica_sum call = sums.of(r);
      for (int round = 0; round < 20; ++round) {
        std::vector<double> data(n);
        for (std::size_t i = 0; i < n; ++i) data[i] = double(r + 1) * double(i + 1) + 0.1 * round;
        call(data.data(), n);
        got[r].insert(got[r].end(), data.begin(), data.end());
      }
    });
  for (auto& t : threads) t.join();
  for (int round = 0; round < 20; ++round)
    for (std::size_t i = 0; i < n; ++i) {
      double expected = 0;
      for (std::size_t r = 0; r < replicas; ++r) expected += double(r + 1) * double(i + 1) + 0.1 * round;
      CHECK(got[0][round * n + i] == expected);
    }
  CHECK(got[1] == got[0]);
  CHECK(got[2] == got[0]);
}

TEST_CASE("one replica: its own values; more than the capacity: a plait error") {
  replica_sums one(1, 2);
  std::vector<double> data{1.5, -2.0, 7.0};
  one.of(0)(data.data(), 2);
  CHECK(data == std::vector<double>{1.5, -2.0, 7.0});
  CHECK_THROWS_WITH_AS(one.of(0)(data.data(), 3),
                       doctest::Contains("plait: a layer summed 3 doubles across replicas, more than the 2 planned"),
                       error);
  CHECK_THROWS_AS(one.of(1), std::out_of_range);
}
