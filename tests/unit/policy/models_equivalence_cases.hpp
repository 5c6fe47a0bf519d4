#pragma once
// The body of the conv-model equivalence tests, written once and instantiated per backend: the
// including file names `on_backend` (test::on_host in tests/unit/policy/models_equivalence_test.cpp,
// CUDA devices in tests/cuda/models_equivalence_cuda_test.cu).
//
// Equivalence of replicate and pipeline with one device on convolutional models: a small CNN,
// residual blocks with and without a projection, and a CNN with dropout and layernorm. Each policy
// trains on the same global batches as one device for 4 steps, with SGD (momentum) and with Adam,
// and the parameters must agree. A CNN with batchnorm2d, whose statistics are each micro-batch's,
// is compared under zb_h1 with 1F1B and with replicate<M> instead (see its test case). Sequence
// models: models_equivalence_sequence_test.cpp.
//
// Tolerance: the policies change only the order of float sums (a replica's share, a micro-batch's
// gradients accumulated), never the maths; dropout's masks do not depend on the policy. Every
// parameter agrees to 2e-5 relative to max(|p|, 0.05) with SGD, as in replicate_test and
// pipeline_test, and to 1e-4 with Adam, whose update divides by sqrt(v) and so enlarges rounding
// differences in weights whose gradient is nearly zero. Measured worst: 9e-7 with SGD, 3e-6 with
// Adam.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <plait/plait.hpp>
#include <utility>
#include <vector>

#include "equivalence.hpp"

using namespace plait;
using test::check_model;

namespace {

// (a) A small CNN.
constexpr auto cnn = input<3, 8, 8> >> conv2d<6, 3, 1, 1> >> relu >> maxpool2d<2> >> flatten >> linear<10>;
// (b) Residual blocks without batchnorm: the identity shortcut, fused with the relu after the add,
// then a projection shortcut (3 -> 5 channels, stride 2), then average pooling.
constexpr auto resnet =
    input<3, 8, 8> >> residual(conv2d<3, 3, 1, 1> >> relu >> conv2d<3, 3, 1, 1>) >> relu >>
    residual(conv2d<5, 3, 2, 1> >> relu >> conv2d<5, 3, 1, 1>, conv2d<5, 1, 2>) >> avgpool2d<2> >> flatten >> linear<6>;
// (d) Dropout (two streams) and layernorm after a convolution and a linear layer.
constexpr auto noisy = input<3, 8, 8> >> conv2d<4, 3, 1, 1> >> relu >> dropout<0.25f> >> flatten >> linear<24> >>
                       relu >> layernorm >> dropout<0.5f, 1> >> linear<5>;
// (e) The CNN with batchnorm2d after its convolution; and cut before batchnorm2d, on the second stage.
constexpr auto bn_cnn =
    input<3, 8, 8> >> conv2d<6, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2> >> flatten >> linear<10>;
constexpr auto bn_cnn_cut =
    input<3, 8, 8> >> conv2d<6, 3, 1, 1> >> cut >> batchnorm2d >> relu >> maxpool2d<2> >> flatten >> linear<10>;
// An explicit stage cut, for the two-stage pipelines.
constexpr auto cnn_cut = input<3, 8, 8> >> conv2d<6, 3, 1, 1> >> relu >> maxpool2d<2> >> cut >> flatten >> linear<10>;

}  // namespace

// replicate<3> on 26 and 25 samples: shares of 9, 9, 8 and 9, 8, 8.
TEST_CASE_TEMPLATE("replicate<N> trains conv, residual and dropout models as one device", P, replicate<2>,
                   replicate<3>) {
  SUBCASE("cnn") { check_model<P, cnn, on_backend>(26, 1); }
  SUBCASE("residual") { check_model<P, resnet, on_backend>(26, 1); }
  SUBCASE("dropout and layernorm") { check_model<P, noisy, on_backend>(26, 1); }
}

// Stages balanced by FLOPs: the cuts fall where the graph's costs put them (after the first
// convolution, after the first residual block).
TEST_CASE_TEMPLATE("pipeline<S, microbatches<4>> trains conv, residual and dropout models as one device", P,
                   pipeline<2, microbatches<4>, gpipe>, pipeline<2, microbatches<4>, one_f_one_b>,
                   pipeline<3, microbatches<4>, one_f_one_b>, pipeline<2, microbatches<4>, zb_h1>,
                   pipeline<3, microbatches<6>, zb_h1>) {
  SUBCASE("cnn") { check_model<P, cnn, on_backend>(24, 0); }
  SUBCASE("residual") { check_model<P, resnet, on_backend>(24, 0); }
  SUBCASE("dropout and layernorm") { check_model<P, noisy, on_backend>(24, 0); }
}

TEST_CASE_TEMPLATE("a pipeline cut explicitly after the CNN's features trains as one device", S, gpipe, one_f_one_b,
                   zb_h1) {
  check_model<pipeline<2, microbatches<4>, S>, cnn_cut, on_backend>(24, 0);
}

// ZB-H1 defers the weight part of conv2d, linear and layernorm to W; residual blocks, whose backward
// does not split, run whole in B. Either way the same products in the same order as 1F1B.
TEST_CASE_TEMPLATE("zb_h1 trains conv, residual and dropout models bit for bit as 1F1B", P,
                   pipeline<2, microbatches<4>, zb_h1>, pipeline<3, microbatches<8>, zb_h1>) {
  using ofob = pipeline<P::stage_count, microbatches<P::microbatch_count>, one_f_one_b>;
  CHECK(test::same_bits<P, ofob, cnn, on_backend>(24));
  CHECK(test::same_bits<P, ofob, resnet, on_backend>(24));
  CHECK(test::same_bits<P, ofob, noisy, on_backend>(24));
}

// Chunked schedules: 2 devices of 2 stages each, bit for bit as 1F1B over 4 stages, and as one device.
TEST_CASE_TEMPLATE("chunked schedules train residual and dropout models bit for bit as 1F1B over as many stages", P,
                   pipeline<2, microbatches<4>, interleaved_1f1b<2>>, pipeline<2, microbatches<4>, zb_v>) {
  using flat = pipeline<P::stage_count, microbatches<P::microbatch_count>, one_f_one_b>;
  CHECK(test::same_bits<P, flat, resnet, on_backend>(24));
  CHECK(test::same_bits<P, flat, noisy, on_backend>(24));
  check_model<P, noisy, on_backend>(24, 0);
}

namespace {
// batchnorm2d normalises each micro-batch with its own statistics, so a pipeline of M micro-batches
// trains as replicate<M> does (the same M shares of the batch, each normalised with its own), not as
// one device, which normalises the whole batch at once. Trains Net under both on the same batches
// (4 steps of `batch`), checks the losses agree, and returns both parameter vectors.
template <class Policy, auto Net, class On, class Opt>
std::pair<std::vector<float>, std::vector<float>> train_beside_replicas(Opt opt, std::size_t batch) {
  using replicas = replicate<Policy::microbatch_count>;
  auto piped = place<Policy>(Net, On::devices(Policy::device_count), {.max_batch = batch, .seed = 11});
  auto reps = place<replicas>(Net, On::devices(replicas::device_count), {.max_batch = batch, .seed = 11});
  auto o1 = opt, o2 = opt;
  for (int s = 0; s < 4; ++s) {
    const test::batch_set<Net> b(batch, 300 + std::uint64_t(s));
    const float l1 = reps.train_step(b.xs(), b.ys(), cross_entropy, o1);
    const float l2 = piped.train_step(b.xs(), b.ys(), cross_entropy, o2);
    CHECK(l2 == doctest::Approx(l1).epsilon(test::loss_tolerance * On::tolerance_scale).scale(0));
  }
  return {piped.gather_parameters(), reps.gather_parameters()};
}
}  // namespace

// ZB-H1 defers batchnorm2d's weight part to W, as conv2d's: bit for bit as 1F1B (with Adam), with the
// stages balanced by FLOPs and with batchnorm2d on the second stage, whose W waits a micro-batch.
// Against replicate<4> (train_beside_replicas): every parameter within the tolerances with SGD; with
// Adam every one but the convolution's bias, whose gradient is zero up to rounding (batchnorm2d
// subtracts each channel's mean) and which Adam, dividing by sqrt(v), moves by about lr in the
// direction of that rounding noise (measured 2e-2 apart; the rest 2e-7, as every parameter with SGD).
TEST_CASE("zb_h1 trains a CNN with batchnorm2d bit for bit as 1F1B, and as replicate<M> for M micro-batches") {
  using P = pipeline<2, microbatches<4>, zb_h1>;
  using ofob = pipeline<2, microbatches<4>, one_f_one_b>;
  CHECK(test::same_bits<P, ofob, bn_cnn, on_backend>(24));
  CHECK(test::same_bits<P, ofob, bn_cnn_cut, on_backend>(24));
  const auto [piped_sgd, reps_sgd] =
      train_beside_replicas<P, bn_cnn, on_backend>(sgd{.lr = 0.05f, .momentum = 0.9f}, 24);
  auto [piped_adam, reps_adam] = train_beside_replicas<P, bn_cnn, on_backend>(adam{.lr = 0.01f}, 24);
  constexpr std::ptrdiff_t conv_bias = 6 * 3 * 3 * 3;  // after the convolution's [6, 3, 3, 3] weights
  for (auto* v : {&piped_adam, &reps_adam}) v->erase(v->begin() + conv_bias, v->begin() + conv_bias + 6);
  const double s = test::max_relative_difference(piped_sgd, reps_sgd);
  const double a = test::max_relative_difference(piped_adam, reps_adam);
  MESSAGE("worst relative difference ", s, " (sgd), ", a, " (adam, without the convolution's bias)");
  CHECK(s < test::sgd_tolerance * on_backend::tolerance_scale);
  CHECK(a < test::adam_tolerance * on_backend::tolerance_scale);
}
