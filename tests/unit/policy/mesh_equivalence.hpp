// The equivalence check of the mesh tests (mesh_test.cpp, pipeline_partition_test.cpp): a policy
// trains, predicts and evaluates as one device on the same batches.
//
// Tolerance: as replicate_test and partition_test (float reassociation of the sums over replicas,
// micro-batches and shards): 2e-5 relative for SGD, 1e-4 for Adam, 1e-6 absolute floor.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <plait/plait.hpp>
#include <vector>

#include "equivalence.hpp"

namespace test::mesh {
using namespace plait;

inline constexpr auto mlp = input<12> >> linear<24> >> relu >> linear<16> >> plait::tanh >> linear<8> >> linear<5>;

// ---- equivalence ----------------------------------------------------------------------------------
struct batch_set {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::uint64_t seed) : x(n * 12), y(n) {
    splitmix64 rng(seed);
    for (auto& v : x) v = rng.uniform(-1, 1);
    for (auto& v : y) v = std::int32_t(rng.below(5));
  }
  samples<shape<12>> xs() const { return {x.data(), y.size()}; }
  class_labels ys() const { return {y.data(), y.size()}; }
};

inline const batch_set& b_eval() {
  static const batch_set b(40, 99);
  return b;
}

template <class Policy, class Opt, class Net = decltype(mlp)>
void check_equivalence(Opt opt, double tolerance, Net net = mlp) {
  constexpr std::size_t batch = 24;
  auto single = place(net, host_device(), {.max_batch = batch, .seed = 13});
  auto mesh = place<Policy>(net, host_devices(Policy::device_count), {.max_batch = batch, .seed = 13});
  auto o1 = opt, o2 = opt;
  for (std::uint64_t s = 0; s < 4; ++s) {
    const batch_set b(batch, 70 + s);
    const float l1 = single.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = mesh.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(1e-5));
  }
  CHECK(max_relative_difference(mesh.gather_parameters(), single.gather_parameters()) < tolerance);
  // Devices of equal inner rank hold bitwise the same parameters.
  if constexpr (requires { Policy::inner_device_count; }) {
    constexpr std::size_t I = Policy::inner_device_count;
    for (std::size_t d = I; d < Policy::device_count; ++d)
      CHECK(std::ranges::equal(mesh.parameters(d), mesh.parameters(d % I)));
  }
  // Prediction in chunks of what one device's activations hold (a replica's micro-batch).
  const std::size_t n = mesh.rows_per_call();
  const batch_set t(n, 5);
  const auto p1 = single.predict(t.xs());
  const std::vector<float> expected(p1.data, p1.data + n * 5);
  CHECK(max_relative_difference({mesh.predict(t.xs()).data, n * 5}, expected) < tolerance);
  CHECK(mesh.evaluate(b_eval().xs(), b_eval().ys(), cross_entropy).loss ==
        doctest::Approx(single.evaluate(b_eval().xs(), b_eval().ys(), cross_entropy).loss).epsilon(1e-4));
}
}  // namespace test::mesh
