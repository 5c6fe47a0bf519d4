// predict and evaluate under every policy, against one host device: the bodies are written once and
// instantiated per backend (`on_backend`: host devices in tests/unit/runtime/inference_test.cpp,
// virtual CUDA devices in tests/cuda/inference_cuda_test.cu).
//
// Every policy runs its inference program (policy/plan.hpp): rows split over replicas, streamed
// through pipeline stages in micro-batches, shards of a partition together. Predictions are compared
// row by row with a relative tolerance (the policies change which rows share a matrix product, which
// may change how a GEMM rounds); accuracy must be equal.
#pragma once

#include <doctest/doctest.h>

#include <plait/plait.hpp>
#include <vector>

#include "policy/equivalence.hpp"

namespace inference_cases {

using test::batch_set;
using test::max_relative_difference;

inline constexpr auto mlp =
    plait::input<12> >> plait::linear<32> >> plait::relu >> plait::linear<16> >> plait::tanh >> plait::linear<4>;
// A first stage far heavier than the second: the second reads each micro-batch's activation while the
// first is still computing the next one, which is only right when every read waits for its write.
inline constexpr auto slow_first = plait::input<64> >> plait::linear<512> >> plait::relu >> plait::linear<512> >>
                                   plait::relu >> plait::cut >> plait::linear<4>;

/// Trains one step on both models (so parameters are not the initial ones), then predicts and
/// evaluates n rows for n in `counts` on both; returns the worst relative difference of predictions.
template <class Policy, auto Net, class On>
double predict_both(std::initializer_list<std::size_t> counts, std::size_t max_batch = 24) {
  auto single = plait::place(Net, plait::host_device(), {.max_batch = max_batch, .seed = 7});
  auto multi = plait::place<Policy>(Net, On::devices(Policy::device_count), {.max_batch = max_batch, .seed = 7});
  auto o1 = plait::sgd{.lr = 0.05f, .momentum = 0.9f}, o2 = o1;
  const batch_set<Net> train(max_batch, 41);
  single.train_step(train.xs(), train.ys(), plait::cross_entropy, o1);
  multi.train_step(train.xs(), train.ys(), plait::cross_entropy, o2);
  constexpr std::size_t classes = plait::output_shape_t<test::graph_of<Net>>::size;
  double worst = 0;
  for (std::size_t n : counts) {
    const batch_set<Net> b(n, 500 + n);
    const std::vector<float> expected(single.predict(b.xs()).data, single.predict(b.xs()).data + n * classes);
    const auto got = multi.predict(b.xs());
    REQUIRE(got.count == n);
    worst = std::max(worst, max_relative_difference({got.data, n * classes}, expected));
    const auto e1 = single.evaluate(b.xs(), b.ys(), plait::cross_entropy);
    const auto e2 = multi.evaluate(b.xs(), b.ys(), plait::cross_entropy);
    CHECK(e2.count == n);
    CHECK(e2.loss == doctest::Approx(e1.loss).epsilon(1e-5 * On::tolerance_scale));
    CHECK(e2.accuracy == e1.accuracy);
  }
  // evaluate over more rows than one call holds: chunked, the same figures.
  const batch_set<Net> many(3 * max_batch + 5, 77);
  const auto e1 = single.evaluate(many.xs(), many.ys(), plait::cross_entropy);
  const auto e2 = multi.evaluate(many.xs(), many.ys(), plait::cross_entropy);
  CHECK(e2.loss == doctest::Approx(e1.loss).epsilon(1e-5 * On::tolerance_scale));
  CHECK(e2.accuracy == e1.accuracy);
  return worst;
}

inline constexpr double tolerance = 1e-5;

TEST_CASE_TEMPLATE("predict and evaluate under every policy equal one device, from 1 row to max_batch", Policy,
                   plait::single_device, plait::replicate<2>, plait::replicate<3, plait::shard_optimizer>,
                   plait::pipeline<2, plait::microbatches<4>>,
                   plait::pipeline<3, plait::microbatches<4>, plait::one_f_one_b>, plait::partition<2>,
                   plait::replicate<2, plait::pipeline<2, plait::microbatches<2>>>,
                   plait::replicate<2, plait::partition<2>>,
                   plait::pipeline<2, plait::microbatches<2>, plait::gpipe, plait::partition<2>>) {
  // 1 row: under replicate<2> one replica has none, and a pipeline's later micro-batches are empty.
  CHECK(predict_both<Policy, mlp, on_backend>({1, 5, 24}) < tolerance * on_backend::tolerance_scale);
}

TEST_CASE_TEMPLATE("a slow first stage: every micro-batch's activation is read after it is written", Policy,
                   plait::pipeline<2, plait::microbatches<4>>,
                   plait::pipeline<2, plait::microbatches<8>, plait::one_f_one_b>,
                   plait::replicate<2, plait::pipeline<2, plait::microbatches<4>>>) {
  CHECK(predict_both<Policy, slow_first, on_backend>({64, 61, 3}, 64) < tolerance * on_backend::tolerance_scale);
}

// Batch normalisation keeps running statistics per replica (each normalises its own share in
// training); predict gives every row the first replica's, whichever replica computes it.
inline constexpr auto bn_cnn = plait::input<2, 6, 6> >> plait::conv2d<4, 3, 1, 1> >> plait::batchnorm2d >>
                               plait::relu >> plait::flatten >> plait::linear<3>;

TEST_CASE_TEMPLATE("batch normalisation under replicate: every row is predicted with the first replica's statistics",
                   Policy, plait::replicate<2>, plait::replicate<2, plait::pipeline<2, plait::microbatches<2>>>) {
  auto m = plait::place<Policy>(bn_cnn, on_backend::devices(Policy::device_count), {.max_batch = 16, .seed = 3});
  auto opt = plait::sgd{.lr = 0.05f};
  for (int s = 0; s < 3; ++s) {  // the replicas' shares differ: so do their running statistics
    const batch_set<bn_cnn> b(16, 60 + std::uint64_t(s), 0, -1.0f + float(s), 2.0f + float(s));
    m.train_step(b.xs(), b.ys(), plait::cross_entropy, opt);
  }
  const batch_set<bn_cnn> probe(16, 9);
  const std::vector<float> together(m.predict(probe.xs()).data, m.predict(probe.xs()).data + 16 * 3);
  for (std::size_t r = 0; r < 16; ++r) {  // one row alone goes to the first replica
    const auto alone = m.predict({probe.x.data() + r * 72, 1});
    CHECK(max_relative_difference({alone.data, 3}, {together.data() + r * 3, 3}) <
          tolerance * on_backend::tolerance_scale);
  }
}

}  // namespace inference_cases
