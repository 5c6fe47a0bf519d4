// A layer that says splits_backward (core/concepts.hpp) runs either part of its backward alone: with
// dparams null, the input part gives the whole backward's dx; with dx null, the weight part gives
// its dparams (also accumulated). Predictive coding (runtime/predictive_coding.hpp) and zb_h1 take
// the parts at different times; predictive coding refuses a layer that does not say it, and also
// batchnorm2d and embedding, which do (they say pc_trainable = false).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include "gradcheck.hpp"

#include <plait/plait.hpp>
#include <plait/runtime/replica_sums.hpp>
#include <thread>

using namespace plait;

namespace {
template <class B>
void check_split(std::size_t batch, std::uint64_t seed) {
  static_assert(splits_backward_v<B>);
  constexpr std::size_t in = B::in_shape::size, out = B::out_shape::size;
  host_context<openmp> ctx{};
  ctx.threads = 2;
  const auto p = test::random_vector(B::param_count, seed);
  const auto x = test::random_vector(batch * in, seed + 1);
  std::vector<double> y(batch * out), saved(batch * B::saved_count + 1), state(state_count_of<B> + 1);
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch, true, state.data()});
  const auto dy = test::random_vector(batch * out, seed + 2);
  const auto backward = [&](bool input, bool weights, bool accumulate, std::vector<double>& dx,
                            std::vector<double>& dp) {
    auto g = dy;  // backward may overwrite dy
    double* dxp = input ? (B::in_place_grad ? (dx = g, g.data()) : dx.data()) : nullptr;
    B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), g.data(), dxp,
                                           weights ? dp.data() : nullptr, batch, accumulate, state.data()});
    if (input && B::in_place_grad) dx = g;
  };
  std::vector<double> dx_whole(batch * in), dp_whole(B::param_count + 1), dx_alone(batch * in, 7.0),
      dp_alone(B::param_count + 1), unused(B::param_count + 1), unused_dx(batch * in);
  backward(true, B::param_count > 0, false, dx_whole, dp_whole);
  backward(true, false, false, dx_alone, unused);  // the input part alone
  for (std::size_t i = 0; i < dx_whole.size(); ++i) CHECK(dx_alone[i] == doctest::Approx(dx_whole[i]).epsilon(1e-12));
  if constexpr (B::param_count > 0) {
    backward(false, true, false, unused_dx, dp_alone);  // the weight part alone
    for (std::size_t i = 0; i < B::param_count; ++i) CHECK(dp_alone[i] == doctest::Approx(dp_whole[i]).epsilon(1e-12));
    backward(false, true, true, unused_dx, dp_alone);  // and accumulated
    for (std::size_t i = 0; i < B::param_count; ++i)
      CHECK(dp_alone[i] == doctest::Approx(2 * dp_whole[i]).epsilon(1e-12));
  }
}

using sync_bn = std::remove_const_t<decltype(sync_batchnorm2d)>::bound<shape<3, 2, 4>>;

/// What check_split_bits found: whether each part alone gave the whole backward's bits.
struct split_bits {
  bool dx = false, dparams = false, accumulated = false;
};

/// The parts apart give bit for bit what the whole backward gives, on input x (token ids for an
/// embedding): the input part's dx (in dy's place for an in_place_grad layer, as the runtime passes
/// it), the weight part's dparams, and the weight part accumulated onto the same gradients as the
/// whole backward accumulated onto. `across`: the replica sum of this replica (synchronised batchnorm),
/// when every replica calls this at once with its share of the batch.
template <class B>
split_bits check_split_bits(const std::vector<double>& x, std::size_t batch, std::uint64_t seed,
                            replica_sum across = {}) {
  constexpr std::size_t in = B::in_shape::size, out = B::out_shape::size;
  host_context<openmp> ctx{};
  ctx.threads = 2;
  const auto p = test::random_vector(B::param_count, seed);
  std::vector<double> y(batch * out), saved(batch * B::saved_count + 1);
  auto state = test::initial_state<B>();
  forward_args<double> f{p.data(), x.data(), y.data(), saved.data(), batch, true, state.data()};
  f.replicas = across;
  B::forward(ctx, f);
  const auto dy = test::random_vector(batch * out, seed + 2);
  const auto start = test::random_vector(B::param_count, seed + 3);  // the gradients accumulated onto
  // One backward: the input's gradient into dx when `input`, the parameters' into dp when `weights`.
  const auto backward = [&](bool input, bool weights, bool accumulate, std::vector<double>& dx,
                            std::vector<double>& dp) {
    auto g = dy;  // backward may overwrite dy
    dx.assign(batch * in, 7.0);
    double* dxp = input ? (B::in_place_grad ? g.data() : dx.data()) : nullptr;
    backward_args<double> b{
        p.data(), x.data(),   y.data(),    saved.data(), g.data(), dxp, weights ? dp.data() : nullptr,
        batch,    accumulate, state.data()};
    b.replicas = across;
    B::backward(ctx, b);
    if (input && B::in_place_grad) dx.assign(g.begin(), g.begin() + std::ptrdiff_t(batch * in));
  };
  std::vector<double> dx_whole, dp_whole(B::param_count), dx_alone, dp_alone(B::param_count), none;
  std::vector<double> dp_whole_acc = start, dp_alone_acc = start, unused;
  backward(true, true, false, dx_whole, dp_whole);
  backward(true, false, false, dx_alone, unused);  // the input part alone
  backward(false, true, false, none, dp_alone);    // the weight part alone
  backward(true, true, true, none, dp_whole_acc);
  backward(false, true, true, none, dp_alone_acc);  // and accumulated
  return {dx_alone == dx_whole, dp_alone == dp_whole, dp_alone_acc == dp_whole_acc};
}

/// As a schedule that splits runs a layer (runtime/device_memory.hpp): the input part on dy with dparams
/// null and `kept` given, and later the weight part on a copy of the original dy with dx null and the
/// same `kept`. Both give the whole backward's bits: dx, dparams, and dparams accumulated.
template <class B>
split_bits check_split_kept_bits(std::size_t batch, std::uint64_t seed) {
  static_assert(splits_backward_v<B> && split_kept_count_of<B> > 0);
  constexpr std::size_t in = B::in_shape::size, out = B::out_shape::size;
  host_context<openmp> ctx{};
  ctx.threads = 2;
  const auto p = test::random_vector(B::param_count, seed);
  const auto x = test::random_vector(batch * in, seed + 1);
  std::vector<double> y(batch * out), saved(batch * B::saved_count + 1);
  auto state = test::initial_state<B>();
  B::forward(ctx, forward_args<double>{p.data(), x.data(), y.data(), saved.data(), batch, true, state.data()});
  const auto dy = test::random_vector(batch * out, seed + 2);
  const auto start = test::random_vector(B::param_count, seed + 3);
  std::vector<double> kept(batch * split_kept_count_of<B>, 9.0);
  const auto whole = [&](std::vector<double>& dx, std::vector<double>& dp, bool accumulate) {
    auto g = dy;
    dx.assign(batch * in, 7.0);
    B::backward(ctx, backward_args<double>{p.data(), x.data(), y.data(), saved.data(), g.data(), dx.data(), dp.data(),
                                           batch, accumulate, state.data()});
  };
  const auto parts = [&](std::vector<double>& dx, std::vector<double>& dp, bool accumulate) {
    auto g = dy;
    dx.assign(batch * in, 7.0);
    backward_args<double> input{p.data(),  x.data(), y.data(), saved.data(), g.data(),
                                dx.data(), nullptr,  batch,    accumulate,   state.data()};
    input.kept = kept.data();
    B::backward(ctx, input);
    auto g2 = dy;  // the output gradient the runtime kept before the input part
    backward_args<double> weight{p.data(), x.data(),  y.data(), saved.data(), g2.data(),
                                 nullptr,  dp.data(), batch,    accumulate,   state.data()};
    weight.kept = kept.data();
    B::backward(ctx, weight);
  };
  std::vector<double> dx_whole, dx_parts, dp_whole(B::param_count), dp_parts(B::param_count);
  std::vector<double> acc_whole = start, acc_parts = start;
  whole(dx_whole, dp_whole, false);
  parts(dx_parts, dp_parts, false);
  whole(dx_whole, acc_whole, true);
  parts(dx_parts, acc_parts, true);
  return {dx_parts == dx_whole, dp_parts == dp_whole, acc_parts == acc_whole};
}

template <class B>
void check_composite(std::size_t batch, std::uint64_t seed) {
  static_assert(splits_backward_v<B>);
  const auto kept = check_split_kept_bits<B>(batch, seed);
  CHECK(kept.dx);
  CHECK(kept.dparams);
  CHECK(kept.accumulated);
  // Without kept, each part alone computes from dy (as predictive coding and other callers ask).
  const auto alone = check_split_bits<B>(test::random_vector(batch * B::in_shape::size, seed + 1), batch, seed);
  CHECK(alone.dx);
  CHECK(alone.dparams);
  CHECK(alone.accumulated);
}

using test::bound_of;
}  // namespace

TEST_CASE("linear (fused activations), conv2d and layernorm run their input and weight parts apart") {
  check_split<linear_t<6, identity_fn>::bound<shape<5>>>(4, 1);
  check_split<linear_t<6, relu_fn>::bound<shape<5>>>(4, 2);
  check_split<linear_t<6, gelu_fn>::bound<shape<3, 5>>>(3, 3);
  check_split<linear_t<6, tanh_fn>::bound<shape<5>>>(4, 4);
  check_split<conv2d_t<3, 3, 1, 1>::bound<shape<2, 5, 5>>>(2, 5);
  check_split<conv2d_t<20, 3, 2, 0>::bound<shape<2, 7, 7>>>(2, 6);
  check_split<layernorm_t<>::bound<shape<9>>>(4, 7);
}

TEST_CASE("parameter-free layers: the input part is the whole backward") {
  check_split<activation_t<relu_fn>::bound<shape<8>>>(3, 8);
  check_split<activation_t<sigmoid_fn>::bound<shape<8>>>(3, 9);
  check_split<maxpool2d_t<2, 2>::bound<shape<2, 4, 4>>>(3, 10);
  check_split<avgpool2d_t<2, 2>::bound<shape<2, 4, 4>>>(3, 11);
  check_split<mean_pool_t::bound<shape<4, 6>>>(3, 12);
}

// batchnorm2d's parts recompute the batch's statistics from x, and the same per-channel sums of dy
// and dy * x_hat, with the code of the whole backward: the input part writes dx alone, the weight
// part dgamma and dbeta alone.
TEST_CASE("batchnorm2d runs its input and weight parts apart, bit for bit") {
  using B = batchnorm2d_t<>::bound<shape<3, 4, 5>>;
  check_split<B>(4, 13);
  for (std::uint64_t seed : {14, 15}) {
    const auto r = check_split_bits<B>(test::random_vector(4 * B::in_shape::size, seed + 1, 2, 5), 4, seed);
    CHECK(r.dx);
    CHECK(r.dparams);
    CHECK(r.accumulated);
  }
  const auto one = check_split_bits<batchnorm2d_t<>::bound<shape<2, 1, 1>>>(test::random_vector(6, 17), 3, 16);
  CHECK((one.dx && one.dparams && one.accumulated));  // one pixel per channel
}

// Synchronised statistics: the input part still makes both exchanges (the statistics of x, then the
// sums of dy) and the weight part the first; on one replica (no exchange) and on two at once, each
// replica's parts give its whole backward's bits.
TEST_CASE("sync_batchnorm2d runs its input and weight parts apart, on one replica and on two") {
  using B = sync_bn;
  constexpr std::size_t S = B::in_shape::size;
  const auto x = test::random_vector(5 * S, 21, -2, 3);
  const auto one = check_split_bits<B>(x, 5, 20);
  CHECK((one.dx && one.dparams && one.accumulated));

  replica_sums sums(2, B::replica_sum_count);
  split_bits r[2];
  auto replica = [&](std::size_t q) {  // shares of 2 and 3 samples
    const std::size_t at = q == 0 ? 0 : 2, n = q == 0 ? 2 : 3;
    const std::vector<double> share(x.begin() + std::ptrdiff_t(at * S), x.begin() + std::ptrdiff_t((at + n) * S));
    r[q] = check_split_bits<B>(share, n, 20, sums.of(q));
  };
  std::thread other(replica, 1);
  replica(0);
  other.join();
  for (const split_bits& q : r) CHECK((q.dx && q.dparams && q.accumulated));
}

// An embedding's input is token ids: the input part only writes dx's zeros (when asked), and the
// weight part is the whole backward's table gradient, ids repeated within and across samples.
TEST_CASE("embedding runs its input and weight parts apart, bit for bit") {
  using B = embedding_t<5, 6>::bound<shape<7>>;
  constexpr std::size_t batch = 3;
  std::vector<double> ids(batch * 7);
  splitmix64 rng(31);
  for (auto& v : ids) v = double(rng.below(5));
  const auto r = check_split_bits<B>(ids, batch, 30);
  CHECK(r.dx);
  CHECK(r.dparams);
  CHECK(r.accumulated);

  // The weight part indexes the table, so it checks the ids first; the input part indexes nothing.
  host_context<sequential> ctx{};
  ids[4] = 5;  // out of range
  std::vector<double> p(B::param_count), dy(batch * B::out_shape::size, 1.0), dp(B::param_count, 3.0),
      dx(ids.size(), 7.0);
  CHECK_THROWS_AS(B::backward(ctx, backward_args<double>{p.data(), ids.data(), nullptr, nullptr, dy.data(), nullptr,
                                                         dp.data(), batch, false}),
                  plait::error);
  CHECK(dp == std::vector<double>(B::param_count, 3.0));  // nothing written
  B::backward(
      ctx, backward_args<double>{p.data(), ids.data(), nullptr, nullptr, dy.data(), dx.data(), nullptr, batch, false});
  CHECK(dx == std::vector<double>(ids.size(), 0.0));
}

// A split inside a composite: the input part keeps the output gradient of every inner layer with
// parameters (and what a nested composite keeps), the weight part runs their weight parts from there.
TEST_CASE("residual, concat and add split their backward through their inner layers, bit for bit") {
  check_composite<bound_of<residual(linear<6> >> plait::tanh >> linear<5>), shape<5>>>(4, 40);
  check_composite<bound_of<(residual(linear<6> >> plait::tanh >> linear<3>, linear<3>) >> relu), shape<5>>>(3, 41);
  check_composite<bound_of<residual(conv2d<3, 3, 1, 1> >> batchnorm2d >> relu >> conv2d<3, 3, 1, 1> >> batchnorm2d),
                           shape<3, 5, 5>>>(2, 42);
  check_composite<
      bound_of<residual(conv2d<4, 3, 2, 1> >> relu >> conv2d<4, 3, 1, 1>, conv2d<4, 1, 2>), shape<2, 6, 6>>>(3, 43);
  check_composite<bound_of<concat(linear<4> >> relu, linear<3>), shape<5>>>(4, 44);
  check_composite<bound_of<add(linear<4> >> plait::tanh >> linear<4>, flatten >> linear<4>), shape<5>>>(2, 45);
  // Nested: a residual around branches, branches of a residual.
  check_composite<bound_of<residual(add(linear<5>, linear<5> >> relu) >> linear<5>), shape<5>>>(3, 46);
  check_composite<bound_of<concat(residual(linear<5> >> relu), linear<2>), shape<5>>>(3, 47);
  // A residual of parameter-free layers keeps nothing and splits trivially.
  static_assert(splits_backward_v<bound_of<residual(relu), shape<4>>>);
  static_assert(split_kept_count_of<bound_of<residual(relu), shape<4>>> == 0);
}

// lstm's input part runs the recurrence (dgates, dh, dx) and keeps dgates; its weight part reads them
// for dW_hh, the biases and dW_ih in the whole backward's order.
TEST_CASE("lstm splits its backward, keeping the gates' gradients, bit for bit") {
  check_composite<lstm_t<4>::bound<shape<3, 5>>>(3, 50);
  check_composite<lstm_t<3>::bound<shape<1, 2>>>(2, 51);  // one step: no W_hh gradient
  static_assert(split_kept_count_of<lstm_t<4>::bound<shape<3, 5>>> == 3 * 16);
}

TEST_CASE("dropout does not say it splits; predictive coding refuses composites, lstm, batchnorm2d and embedding") {
  static_assert(!splits_backward_v<dropout_t<0.5f>::bound<shape<8>>>);
  static_assert(splits_backward_v<lstm_t<4>::bound<shape<3, 5>>>);
  static_assert(!detail::pc_trainable_v<bound_of<residual(linear<4>), shape<4>>>);
  static_assert(!detail::pc_trainable_v<bound_of<concat(linear<4>, linear<2>), shape<4>>>);
  // Their backwards split (zb_h1 defers their weight part), but predictive coding needs per-sample
  // layers whose input is a value node: batchnorm2d couples the batch, an embedding reads token ids.
  static_assert(splits_backward_v<batchnorm2d_t<>::bound<shape<2, 4, 4>>>);
  static_assert(splits_backward_v<sync_bn>);
  static_assert(splits_backward_v<embedding_t<5, 6>::bound<shape<7>>>);
  static_assert(!detail::pc_trainable_v<batchnorm2d_t<>::bound<shape<2, 4, 4>>>);
  static_assert(!detail::pc_trainable_v<sync_bn>);
  static_assert(!detail::pc_trainable_v<embedding_t<5, 6>::bound<shape<7>>>);
  static_assert(!detail::pc_trainable_v<dropout_t<0.5f>::bound<shape<8>>>);
  static_assert(!detail::pc_trainable_v<lstm_t<4>::bound<shape<3, 5>>>);
  static_assert(detail::pc_trainable_v<linear_t<6, relu_fn>::bound<shape<5>>>);
  static_assert(detail::pc_trainable_v<conv2d_t<3, 3, 1, 1>::bound<shape<2, 5, 5>>>);
  static_assert(detail::pc_trainable_v<layernorm_t<>::bound<shape<9>>>);
  static_assert(detail::pc_trainable_v<maxpool2d_t<2, 2>::bound<shape<2, 4, 4>>>);
}
