// What the policy tests share: random batches for a graph, the relative difference of two
// parameter vectors, and training a policy beside one device on the same batches.
//
// Tolerance convention: a difference relative to max(|p|, 0.05), so that parameters near zero are
// compared in absolute terms (1e-6 at a tolerance of 2e-5). The policies change only the order of
// float sums, never the maths.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <plait/plait.hpp>
#include <span>
#include <vector>

namespace test {

template <auto Net>
using graph_of = std::remove_cvref_t<decltype(Net)>;

/// A global batch for Net: inputs uniform in [lo, hi) (or token ids below `ids` when ids > 0),
/// labels uniform over the output's classes.
template <auto Net>
struct batch_set {
  using in = typename graph_of<Net>::input_shape;
  static constexpr std::size_t classes = plait::output_shape_t<graph_of<Net>>::size;
  std::vector<float> x;
  std::vector<std::int32_t> y;
  batch_set(std::size_t n, std::uint64_t seed, std::size_t ids = 0, float lo = -1, float hi = 1)
      : x(n * in::size), y(n) {
    plait::splitmix64 rng(seed);
    for (auto& v : x) v = ids ? float(rng.below(ids)) : rng.uniform(lo, hi);
    for (auto& v : y) v = std::int32_t(rng.below(classes));
  }
  plait::samples<in> xs() const { return {x.data(), y.size()}; }
  plait::class_labels ys() const { return {y.data(), y.size()}; }
};

/// Where a test body places its models: host devices here; tests/cuda gives CUDA devices to the same
/// bodies (one body, instantiated per backend).
struct on_host {
  static constexpr bool host_memory = true;
  static constexpr double tolerance_scale = 1;  // other backends: their GEMMs round differently from OpenBLAS
  static auto device() { return plait::host_device(); }
  static auto devices(std::size_t n) { return plait::host_devices(n); }
};

/// max over i of |a_i - b_i| / max(|b_i|, 0.05).
inline double max_relative_difference(std::span<const float> a, std::span<const float> b) {
  REQUIRE(a.size() == b.size());
  double worst = 0;
  for (std::size_t i = 0; i < a.size(); ++i)
    worst = std::max(worst, std::abs(double(a[i]) - double(b[i])) / std::max(0.05, std::abs(double(b[i]))));
  return worst;
}

/// The losses of a policy and of one device differ by at most this much of the loss (doctest's Approx
/// with scale 0: relative alone, however large or small the loss is).
inline constexpr double loss_tolerance = 1e-5;

/// Trains Net under Policy and on one device for `steps` steps on the same batches (their sizes
/// alternating between `batch` and `batch - odd`), checks the losses agree and, under replicate<N>
/// alone, that the replicas hold the same bits; returns the largest parameter difference.
template <class Policy, auto Net, class Opt, class On = on_host>
double train_both(Opt opt, std::size_t batch, std::size_t odd = 0, std::size_t ids = 0, int steps = 4) {
  auto single =
      plait::place(Net, plait::host_device(), {.max_batch = batch, .seed = 11});  // the reference: one host device
  auto multi = plait::place<Policy>(Net, On::devices(Policy::device_count), {.max_batch = batch, .seed = 11});
  auto o1 = opt, o2 = opt;
  for (int s = 0; s < steps; ++s) {
    const batch_set<Net> b(batch - odd * std::size_t(s % 2), 300 + std::uint64_t(s), ids);
    const float l1 = single.train_step(b.xs(), b.ys(), plait::cross_entropy, o1);
    const float l2 = multi.train_step(b.xs(), b.ys(), plait::cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(loss_tolerance * On::tolerance_scale).scale(0));  // relative to the loss
  }
  if constexpr (On::host_memory && requires { Policy::data_parallel_degree; }) {
    if constexpr (Policy::data_parallel_degree == Policy::device_count)  // replicas apply one averaged gradient
      for (std::size_t d = 1; d < Policy::device_count; ++d)
        CHECK(std::ranges::equal(multi.parameters(d), multi.parameters(0)));
  }
  return max_relative_difference(multi.gather_parameters(), single.gather_parameters());
}

inline constexpr double sgd_tolerance = 2e-5, adam_tolerance = 1e-4;

/// Trains Net under policies A and B on the same batches for `steps` steps (Adam); whether they end
/// with the same parameters bit for bit (schedules that only reorder independent work must).
template <class A, class B, auto Net, class On = on_host>
bool same_bits(std::size_t batch, std::size_t ids = 0, int steps = 3) {
  auto a = plait::place<A>(Net, On::devices(A::device_count), {.max_batch = batch, .seed = 11});
  auto b = plait::place<B>(Net, On::devices(B::device_count), {.max_batch = batch, .seed = 11});
  auto oa = plait::adam{.lr = 0.01f}, ob = oa;
  bool same = true;
  for (int s = 0; s < steps; ++s) {
    const batch_set<Net> x(batch, 500 + std::uint64_t(s), ids);
    same = a.train_step(x.xs(), x.ys(), plait::cross_entropy, oa) ==
               b.train_step(x.xs(), x.ys(), plait::cross_entropy, ob) &&
           same;
  }
  return same && std::ranges::equal(a.gather_parameters(), b.gather_parameters());
}

/// train_both with SGD (momentum) and with Adam, each within its tolerance.
template <class Policy, auto Net, class On = on_host>
void check_model(std::size_t batch, std::size_t odd, std::size_t ids = 0, double adam_limit = adam_tolerance) {
  const double s = train_both<Policy, Net, plait::sgd, On>(plait::sgd{.lr = 0.05f, .momentum = 0.9f}, batch, odd, ids);
  const double a = train_both<Policy, Net, plait::adam, On>(plait::adam{.lr = 0.01f}, batch, odd, ids);
  MESSAGE("worst relative difference ", s, " (sgd), ", a, " (adam)");
  CHECK(s < sgd_tolerance * On::tolerance_scale);
  CHECK(a < adam_limit * On::tolerance_scale);
}

}  // namespace test
