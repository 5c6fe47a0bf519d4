#pragma once
// What the backend cases (backend_cases.hpp) need: run a bound layer, a loss or an optimizer on a
// backend's context with memory from an allocator, and compare with the host backend
// (host_context<sequential>) on the same fixed, non-zero inputs.
//
// An allocator has `template <class T> T* zeros(std::size_t n)`: n zeroed values of T in the memory
// of the context's device, alive as long as the allocator. Everything else moves through plait's own
// kernel-level ops (copy_from_host, copy_to_host), so the cases test those too.

#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <deque>
#include <plait/plait.hpp>
#include <vector>

namespace plait::test {

/// Host memory for the cases: zeroed vectors owned by the allocator.
class host_memory {
 public:
  template <class T>
  T* zeros(std::size_t n) {
    auto& b = blocks_.emplace_back((n * sizeof(T) + sizeof(double) - 1) / sizeof(double) + 1, 0.0);
    return reinterpret_cast<T*>(b.data());
  }

 private:
  std::deque<std::vector<double>> blocks_;
};

inline std::vector<float> random_floats(std::size_t n, std::uint64_t seed, float lo = -1, float hi = 1) {
  splitmix64 rng(seed);
  std::vector<float> v(n);
  for (auto& x : v) x = rng.uniform(lo, hi);
  return v;
}

template <class Ctx, class Mem, class T>
T* upload(const Ctx& ctx, Mem& mem, const std::vector<T>& v) {
  T* p = mem.template zeros<T>(v.size());
  copy_from_host(ctx, p, v.data(), v.size());
  return p;
}

template <class Ctx, class T>
std::vector<T> download(const Ctx& ctx, const T* p, std::size_t n) {
  std::vector<T> v(n);
  copy_to_host(ctx, v.data(), p, n);
  return v;
}

/// Every element within tolerance * max(1, |want|) of want; names the first that is not.
inline void check_close(const std::vector<float>& got, const std::vector<float>& want, double tolerance,
                        const char* what) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(double(got[i]) - double(want[i]));
    if (!(err <= tolerance * std::max(1.0, std::abs(double(want[i]))))) {
      FAIL_CHECK(what << "[" << i << "] is " << got[i] << ", the host's is " << want[i]);
      return;
    }
  }
}

/// A case that could pass without running anything would be worthless: the host's values are not all zero.
inline void check_not_all_zero(const std::vector<float>& want, const char* what) {
  bool any = false;
  for (float v : want) any = any || v != 0.0f;
  CHECK_MESSAGE(any, what << " is all zeros on the host: the case tests nothing");
}

struct layer_inputs {
  std::vector<float> params, x, dy, state;
  std::size_t batch;
  bool training = true;
};

struct layer_outputs {
  std::vector<float> y, dx, dparams, state;
};

template <class B>
layer_inputs inputs_for(std::size_t batch, std::uint64_t seed, std::vector<float> x = {}) {
  layer_inputs in{random_floats(B::param_count, seed), std::move(x),
                  random_floats(batch * B::out_shape::size, seed + 2), std::vector<float>(state_count_of<B>, 0.0f),
                  batch};
  if (in.x.empty()) in.x = random_floats(batch * B::in_shape::size, seed + 1);
  if constexpr (requires(float* s) { B::init_state(s); }) B::init_state(in.state.data());
  return in;
}

/// Forward then backward (training, seed 7, step 3, first sample 0) of bound layer B on ctx.
template <class B, class Ctx, class Mem>
layer_outputs run_layer(const Ctx& ctx, Mem& mem, const layer_inputs& in) {
  const std::size_t batch = in.batch, n_in = batch * B::in_shape::size, n_out = batch * B::out_shape::size;
  const float* p = upload(ctx, mem, in.params);
  const float* x = upload(ctx, mem, in.x);
  float* state = upload(ctx, mem, in.state);
  float* y = mem.template zeros<float>(n_out);
  float* saved = mem.template zeros<float>(batch * B::saved_count + 1);
  B::forward(ctx, forward_args<float>{p, x, y, saved, batch, in.training, state, 7, 3, 0});
  layer_outputs out;
  out.y = download(ctx, y, n_out);
  float* dy = upload(ctx, mem, in.dy);
  float* dx = mem.template zeros<float>(n_in);
  float* dp = mem.template zeros<float>(B::param_count);
  B::backward(ctx, backward_args<float>{p, x, y, saved, dy, dx, dp, batch, false, state, 7, 3, 0});
  out.dx = download(ctx, dx, n_in);
  out.dparams = download(ctx, dp, B::param_count);
  out.state = download(ctx, state, in.state.size());
  return out;
}

/// B on the fixture's backend against B on the host.
template <class B, class Fixture>
void check_layer(Fixture& f, std::size_t batch, std::uint64_t seed, std::vector<float> x = {}) {
  const layer_inputs in = inputs_for<B>(batch, seed, std::move(x));
  host_context<sequential> host;
  host_memory host_mem;
  const layer_outputs want = run_layer<B>(host, host_mem, in);
  const layer_outputs got = run_layer<B>(f.ctx, f.mem, in);
  check_not_all_zero(want.y, "y");
  check_close(got.y, want.y, f.tolerance, "y");
  check_close(got.dx, want.dx, f.tolerance, "dx");
  check_close(got.dparams, want.dparams, f.tolerance, "dparams");
  check_close(got.state, want.state, f.tolerance, "state");
}

/// Loss L over outputs z [B, Out] and targets made by `target(ctx, mem)`: row losses, their sum, dz.
template <Shape Out, class Loss, class Fixture, class MakeTarget>
void check_loss(Fixture& f, std::size_t batch, std::uint64_t seed, MakeTarget target) {
  const auto z = random_floats(batch * Out::size, seed, -3, 3);
  auto run = [&](const auto& ctx, auto& mem) {
    const float* zd = upload(ctx, mem, z);
    float* dz = mem.template zeros<float>(z.size());
    float* rows = mem.template zeros<float>(batch);
    Loss::template rows<Out>(ctx, zd, target(ctx, mem), dz, rows, float(batch));
    std::vector<float> r = download(ctx, rows, batch);
    r.push_back(sum(ctx, static_cast<const float*>(rows), batch));
    std::vector<float> d = download(ctx, dz, z.size());
    r.insert(r.end(), d.begin(), d.end());
    return r;
  };
  host_context<sequential> host;
  host_memory host_mem;
  const auto want = run(host, host_mem);
  check_not_all_zero(want, "the loss");
  check_close(run(f.ctx, f.mem), want, f.tolerance, "row losses, their sum, dz");
}

/// Three steps of optimizer `opt` on n parameters, from fixed gradients.
template <class Opt, class Fixture>
void check_optimizer(Fixture& f, const Opt& opt, std::size_t n) {
  const auto p0 = random_floats(n, 21), g = random_floats(n, 22);
  auto run = [&](const auto& ctx, auto& mem) {
    float* p = upload(ctx, mem, p0);
    const float* gd = upload(ctx, mem, g);
    float* state = mem.template zeros<float>(opt.state_per_param() * n + 1);
    for (std::size_t t = 1; t <= 3; ++t) opt.step(ctx, p, gd, state, n, t);
    return download(ctx, static_cast<const float*>(p), n);
  };
  host_context<sequential> host;
  host_memory host_mem;
  const auto want = run(host, host_mem);
  CHECK(want != p0);
  check_close(run(f.ctx, f.mem), want, f.tolerance, "parameters");
}

}  // namespace plait::test
