// Convolutions on host devices through oneDNN (kernels/conv_host.hpp), against conv2d's im2col + GEMM
// path (im2col_forward, im2col_backward) in double: forward, input gradient, weight and bias
// gradients, over odd geometries, one and two threads; both conv2d's float path on the host (oneDNN
// where it takes the geometry) and oneDNN for every part (detail::onednn). Also: the parts of
// backward apart give the whole backward's bits, gradients accumulate, the device's thread count is
// oneDNN's (also under replicate<2>), a oneDNN failure names the primitive and the shape, and calls
// that have run before allocate nothing large.
//
// Tolerance: each element of the oneDNN result within 1e-5 of the sum of the magnitudes of the terms
// that make it (the same operation on |x|, |w|, |dy|), a bound that scales with the element's own
// magnitude and the length of its sum. Float against double; measured worst: 2.2e-7.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <plait/plait.hpp>
#include <string>
#include <thread>
#include <vector>

#include "counting_new.hpp"
#include "gradcheck.hpp"

using namespace plait;

namespace {

template <class T>
std::vector<T> cast(const std::vector<double>& v) {
  return std::vector<T>(v.begin(), v.end());
}

std::vector<double> magnitudes(std::vector<double> v) {
  for (auto& e : v) e = std::abs(e);
  return v;
}

/// y, dx and the parameters' gradient of bound layer B on p, x, dy.
template <class T>
struct results {
  std::vector<T> y, dx, dp;
};

/// Through conv2d's im2col + GEMM path in double.
template <class B>
results<double> reference(const std::vector<double>& p, const std::vector<double>& x, const std::vector<double>& dy,
                          std::size_t batch) {
  host_context<sequential> ctx{};
  results<double> r{std::vector<double>(batch * B::out_shape::size), std::vector<double>(batch * B::in_shape::size),
                    std::vector<double>(B::param_count)};
  std::vector<double> saved(batch * B::saved_count), state(B::state_count), g = dy;
  B::im2col_forward(ctx, forward_args<double>{p.data(), x.data(), r.y.data(), saved.data(), batch});
  B::im2col_backward(ctx, backward_args<double>{p.data(), x.data(), r.y.data(), saved.data(), g.data(), r.dx.data(),
                                                r.dp.data(), batch, false, state.data()});
  return r;
}

/// Through B::forward and B::backward in float on ctx: oneDNN. dx or dp left out where not wanted.
template <class B, class Ctx>
results<float> native(const Ctx& ctx, const std::vector<float>& p, const std::vector<float>& x,
                      const std::vector<float>& dy, std::size_t batch, bool want_dx = true, bool want_dp = true,
                      results<float> r = {}) {
  if (r.y.empty()) r.y.assign(batch * B::out_shape::size, -7.0f);
  if (r.dx.empty()) r.dx.assign(batch * B::in_shape::size, -7.0f);
  if (r.dp.empty()) r.dp.assign(B::param_count, -7.0f);
  std::vector<float> saved(batch * B::saved_count), state(B::state_count), g = dy;
  B::forward(ctx, forward_args<float>{p.data(), x.data(), r.y.data(), saved.data(), batch});
  B::backward(
      ctx, backward_args<float>{p.data(), x.data(), r.y.data(), saved.data(), g.data(), want_dx ? r.dx.data() : nullptr,
                                want_dp ? r.dp.data() : nullptr, batch, false, state.data()});
  return r;
}

double worst = 0;  // the largest error seen, relative to the bound's magnitude

void check_close(const std::vector<float>& got, const std::vector<double>& want, const std::vector<double>& magnitude,
                 const char* what) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - want[i]), bound = 1e-5 * (magnitude[i] + 1e-30);
    worst = std::max(worst, err / (magnitude[i] + 1e-30));
    if (err > bound) {
      FAIL_CHECK(what, "[", i, "]: oneDNN ", got[i], ", im2col ", want[i], " (bound ", bound, ")");
      return;
    }
  }
}

template <std::size_t Out, std::size_t K, std::size_t S, std::size_t P, class In>
void check_geometry(unsigned threads, std::size_t batch, std::uint64_t seed) {
  using B = typename conv2d_t<Out, K, S, P>::template bound<In>;
  CAPTURE(Out);
  CAPTURE(K);
  CAPTURE(S);
  CAPTURE(P);
  CAPTURE(In::dims[0]);
  CAPTURE(batch);
  CAPTURE(threads);
  const auto p = test::random_vector(B::param_count, seed), x = test::random_vector(batch * In::size, seed + 1),
             dy = test::random_vector(batch * B::out_shape::size, seed + 2);
  const auto want = reference<B>(p, x, dy, batch);
  const auto size = reference<B>(magnitudes(p), magnitudes(x), magnitudes(dy), batch);
  host_context<openmp> ctx{};
  ctx.threads = threads;
  ctx.enter();
  const auto got = native<B>(ctx, cast<float>(p), cast<float>(x), cast<float>(dy), batch);
  check_close(got.y, want.y, size.y, "y");
  check_close(got.dx, want.dx, size.dx, "dx");
  check_close(got.dp, want.dp, size.dp, "dW, db");
  // oneDNN for every part, also where conv2d takes im2col's (1x1 windows, dx for C < 16).
  results<float> all{std::vector<float>(got.y.size()), std::vector<float>(got.dx.size()),
                     std::vector<float>(B::param_count)};
  const auto pf = cast<float>(p), xf = cast<float>(x), dyf = cast<float>(dy);
  detail::onednn::forward(B::shape_for(batch), pf.data(), pf.data() + B::weight_count, xf.data(), all.y.data());
  detail::onednn::backward(B::shape_for(batch), xf.data(), pf.data(), dyf.data(), all.dx.data(), all.dp.data(),
                           all.dp.data() + B::weight_count, false);
  check_close(all.y, want.y, size.y, "oneDNN's y");
  check_close(all.dx, want.dx, size.dx, "oneDNN's dx");
  check_close(all.dp, want.dp, size.dp, "oneDNN's dW, db");
  // The parts apart (a zero-bubble schedule's B and W): the whole backward's bits.
  const auto dx_only = native<B>(ctx, cast<float>(p), cast<float>(x), cast<float>(dy), batch, true, false);
  const auto dp_only = native<B>(ctx, cast<float>(p), cast<float>(x), cast<float>(dy), batch, false, true);
  CHECK(dx_only.dx == got.dx);
  CHECK(dp_only.dp == got.dp);
  CHECK(std::all_of(dx_only.dp.begin(), dx_only.dp.end(), [](float v) { return v == -7.0f; }));
  CHECK(std::all_of(dp_only.dx.begin(), dp_only.dx.end(), [](float v) { return v == -7.0f; }));
}

std::ptrdiff_t process_threads() {
  namespace fs = std::filesystem;
  return std::distance(fs::directory_iterator("/proc/self/task"), fs::directory_iterator{});
}

/// This process's threads while a replicate<2> model of Net on two 1-thread host devices lives,
/// after three steps.
template <auto Net>
std::ptrdiff_t threads_beside_replicas() {
  auto m = place<replicate<2>>(Net, host_devices(2, 1), {.max_batch = 8, .seed = 1});
  std::vector<float> x(8 * 16 * 12 * 12);
  std::vector<std::int32_t> y(8);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 11) / 11.0f - 0.5f;
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int32_t(i % 4);
  auto opt = sgd{.lr = 0.01f};
  for (int i = 0; i < 3; ++i)
    m.train_step(samples<shape<16, 12, 12>>{x.data(), 8}, class_labels{y.data(), 8}, cross_entropy, opt);
  return process_threads();
}

}  // namespace

// First in this file: no thread of the process has started an OpenMP team before it. Two 1-thread
// devices under replicate<2> run their convolutions with no team: the process has as many threads as
// with a model without convolutions (a team of two on either device would add one).
TEST_CASE("replicate<2> on two 1-thread devices runs each device's convolutions on its own thread") {
  if (std::getenv("PLAIT_MAX_THREADS")) return;  // capped: every team is one thread anyway
  constexpr auto convs =
      input<16, 12, 12> >> conv2d<16, 3, 1, 1> >> relu >> conv2d<16, 3, 1, 1> >> flatten >> linear<4>;
  constexpr auto dense = input<16, 12, 12> >> flatten >> linear<16> >> relu >> linear<4>;
  CHECK(threads_beside_replicas<convs>() == threads_beside_replicas<dense>());
}

// Which path conv2d takes on the host in float (kernels/conv_host.hpp): oneDNN for K > 1, its dx too
// for C >= 16; im2col + OpenBLAS for the rest, where it measured faster.
using host_float = conv_impl<host<sequential>, float>;
static_assert(host_float::takes(3, 3) && !host_float::takes_data(3, 3) && host_float::takes_data(16, 3));
static_assert(!host_float::takes(16, 1) && !host_float::takes_data(16, 1));
static_assert(!conv_impl<host<sequential>, double>::takes(16, 3));

TEST_CASE("oneDNN's convolution gives the im2col path's y, dx, dW and db on odd geometries") {
  for (unsigned threads : {1u, 2u}) {
    check_geometry<2, 3, 1, 0, shape<1, 6, 6>>(threads, 1, 1);       // C = 1, batch 1
    check_geometry<4, 3, 1, 1, shape<3, 7, 5>>(threads, 3, 2);       // same padding, H != W, odd batch
    check_geometry<3, 3, 2, 1, shape<3, 9, 6>>(threads, 2, 3);       // stride 2 with padding, odd sizes
    check_geometry<2, 2, 2, 0, shape<2, 5, 7>>(threads, 5, 4);       // stride 2 drops the last row and column
    check_geometry<2, 3, 2, 0, shape<1, 7, 8>>(threads, 3, 5);       // K > stride, no padding
    check_geometry<5, 1, 1, 0, shape<3, 4, 3>>(threads, 2, 6);       // K = 1
    check_geometry<5, 1, 2, 0, shape<3, 5, 4>>(threads, 3, 7);       // K = 1, stride 2 (a projection shortcut)
    check_geometry<1, 3, 1, 1, shape<4, 5, 7>>(threads, 3, 8);       // Out = 1
    check_geometry<2, 5, 1, 2, shape<2, 3, 2>>(threads, 2, 9);       // kernel wider than the image
    check_geometry<3, 3, 3, 2, shape<1, 4, 1>>(threads, 1, 10);      // windows wholly in the padding
    check_geometry<20, 3, 1, 1, shape<17, 6, 5>>(threads, 3, 11);    // channels past one block of 16
    check_geometry<16, 3, 1, 1, shape<16, 12, 12>>(threads, 7, 12);  // example 04's inner convolution
  }
  MESSAGE("worst error relative to the terms' magnitude: ", worst);
}

TEST_CASE("oneDNN's weight gradients accumulate onto the previous ones") {
  using B = conv2d_t<16, 3, 1, 1>::bound<shape<3, 8, 8>>;
  host_context<sequential> ctx{};
  ctx.enter();
  const std::size_t batch = 3;
  const auto p = cast<float>(test::random_vector(B::param_count, 1)),
             x = cast<float>(test::random_vector(batch * 192, 2)),
             dy = cast<float>(test::random_vector(batch * B::out_shape::size, 3));
  const auto once = native<B>(ctx, p, x, dy, batch);
  std::vector<float> saved(batch * B::saved_count), state(B::state_count), y(once.y.size()), g = dy, dp = once.dp;
  B::backward(ctx, backward_args<float>{p.data(), x.data(), y.data(), saved.data(), g.data(), nullptr, dp.data(), batch,
                                        true, state.data()});
  for (std::size_t i = 0; i < dp.size(); ++i) CHECK(dp[i] == once.dp[i] + once.dp[i]);  // one float add each
}

// Each thread count gets its own primitives; the threads oneDNN runs on are the calling device's
// OpenMP team: counted as this process's threads while the devices' threads live (libgomp starts a
// team's threads at its first parallel region of more than one thread and keeps them with the thread
// that asked). Two 1-thread devices start none; a 2-thread device starts one.
TEST_CASE("oneDNN runs on the device's threads: two 1-thread devices one each, a 2-thread device two") {
  if (std::getenv("PLAIT_MAX_THREADS")) return;  // capped (sanitizer runs): no team of two to see
  using B = conv2d_t<16, 3, 1, 1>::bound<shape<16, 16, 16>>;
  const std::size_t batch = 8;
  const auto p = cast<float>(test::random_vector(B::param_count, 1)),
             x = cast<float>(test::random_vector(batch * B::in_shape::size, 2)),
             dy = cast<float>(test::random_vector(batch * B::out_shape::size, 3));
  const auto device = [&](unsigned threads, std::atomic<int>& ran, const std::atomic<bool>& go) {
    host_context<sequential> ctx{};
    ctx.threads = threads;
    ctx.enter();
    for (int i = 0; i < 3; ++i) native<B>(ctx, p, x, dy, batch);
    ran.fetch_add(1);
    while (!go.load()) std::this_thread::yield();  // alive while the threads are counted
  };
  const auto before = process_threads();
  {
    std::atomic<int> ran{0};
    std::atomic<bool> go{false};
    std::thread a(device, 1u, std::ref(ran), std::cref(go)), b(device, 1u, std::ref(ran), std::cref(go));
    while (ran.load() < 2) std::this_thread::yield();
    CHECK(process_threads() == before + 2);  // the two devices, no OpenMP team
    go = true;
    a.join();
    b.join();
  }
  {
    std::atomic<int> ran{0};
    std::atomic<bool> go{false};
    std::thread a(device, 2u, std::ref(ran), std::cref(go));
    while (ran.load() < 1) std::this_thread::yield();
    CHECK(process_threads() == before + 2);  // the device and its team's second thread
    go = true;
    a.join();
  }
}

TEST_CASE("a oneDNN failure names the primitive and the shape") {
  // A shape no conv2d makes: an output larger than the window's positions (oneDNN refuses it).
  const conv_shape bad{2, 3, 5, 5, 4, 3, 1, 0, 9, 9};
  std::vector<float> w(4 * 3 * 9), b(4), x(2 * 75), y(2 * 4 * 81);
  try {
    detail::onednn::forward(bad, w.data(), b.data(), x.data(), y.data());
    FAIL("oneDNN took a shape it should refuse");
  } catch (const error& e) {
    const std::string m = e.what();
    CHECK_MESSAGE(m.rfind("plait: oneDNN could not create its forward primitive for a convolution of batch 2, "
                          "[3, 5, 5] -> [4, 9, 9], 3x3 window, stride 1, padding 0. oneDNN answered: ",
                          0) == 0,
                  m);
    CHECK_MESSAGE(m.find(". Fix: check the oneDNN installation") != std::string::npos, m);
  }
}

// oneDNN builds its argument map on the heap in every execute (and set_data_handle): small nodes of its
// own. Everything sized by the tensors (primitives, their descriptors, re-laid-out copies, scratchpads)
// is made at the first call of a (shape, batch, threads) and never again.
TEST_CASE("a convolution that has run before allocates nothing large; a new batch size makes its primitives") {
  using B = conv2d_t<16, 3, 1, 1>::bound<shape<16, 16, 16>>;
  host_context<sequential> ctx{};
  ctx.enter();
  const auto p = cast<float>(test::random_vector(B::param_count, 1)),
             x = cast<float>(test::random_vector(8 * B::in_shape::size, 2));
  auto dy = cast<float>(test::random_vector(8 * B::out_shape::size, 3));
  std::vector<float> y(dy.size()), dx(x.size()), dp(B::param_count);
  const auto step = [&](std::size_t batch) {
    B::forward(ctx, forward_args<float>{p.data(), x.data(), y.data(), nullptr, batch});
    B::backward(ctx, backward_args<float>{p.data(), x.data(), y.data(), nullptr, dy.data(), dx.data(), dp.data(), batch,
                                          false, nullptr});
  };
  step(8);
  test::largest_new = 0;
  const std::size_t before = test::new_calls.load();
  step(8);
  const std::size_t per_call = test::new_calls.load() - before;
  for (int i = 0; i < 3; ++i) step(8);
  CHECK(test::largest_new.load() < 1024);
  MESSAGE("oneDNN's own allocations per forward and backward: ", per_call, ", the largest ", test::largest_new.load(),
          " bytes");
  step(5);  // batch 5: new primitives
  CHECK(test::largest_new.load() >= 1024);
}

TEST_CASE("a model with convolutions allocates nothing large in a step after its first") {
  constexpr auto net = input<3, 16, 16> >> conv2d<8, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2> >>
                       conv2d<16, 3, 2, 1> >> relu >> flatten >> linear<10>;
  auto m = place(net, host_device(2), {.max_batch = 16, .seed = 1});
  std::vector<float> x(16 * 768);
  std::vector<std::int32_t> y(16);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 13) / 13.0f - 0.5f;
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = std::int32_t(i % 10);
  auto opt = sgd{.lr = 0.01f};
  const samples<shape<3, 16, 16>> xs{x.data(), 16};
  const class_labels ys{y.data(), 16};
  m.train_step(xs, ys, cross_entropy, opt);
  test::largest_new = 0;
  for (int i = 0; i < 3; ++i) m.train_step(xs, ys, cross_entropy, opt);
  CHECK(test::largest_new.load() < 1024);
}
