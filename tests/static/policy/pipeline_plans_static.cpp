// Pipeline plans for p = PLAIT_P_FIRST..PLAIT_P_LAST and m = 1..10, 12, 16, 32, every schedule, checked
// at compile time. CMake compiles this file once per range of p, so the ranges build in parallel. (Every m
// up to 10 covers m < p, m = p and m > p for every p; the larger m are the costly ones to verify, so a few
// stand for the rest.)
#include <plait/plait.hpp>

namespace {
using namespace plait;

constexpr bool close(double a, double b) { return a - b < 1e-12 && b - a < 1e-12; }

// For every p = 1..8 and m in the list above, every schedule: the programs verify (messages and dependency
// order), the bubble of balanced stages (F = B = W) is (p-1)/(m+p-1) for GPipe and 1F1B and, from
// m = p on, (p-1)/(3m+p-1) for ZB-H1 (its B alone on the way back, the held-back Ws filling the wait:
// (p-1)(F+B-W) idle against 3m busy); GPipe keeps m micro-batches in flight, 1F1B at most p
// (min(p-s, m) on stage s), ZB-H1 min(p, m) on every stage.
template <std::size_t P, std::size_t M, class S>
constexpr bool plan_ok() {
  using pl = pipeline<P, microbatches<M>, S>;
  if (!pl::check || !pl::order) return false;
  constexpr bool zb = std::is_same_v<S, zb_h1>;
  if (!zb && !close(pl::bubble_fraction, double(P - 1) / double(M + P - 1))) return false;
  if (zb && M >= P && !close(pl::bubble_fraction, double(P - 1) / double(3 * M + P - 1))) return false;
  for (std::size_t s = 0; s < P; ++s) {
    const std::size_t expect = std::is_same_v<S, gpipe> ? M : zb ? (P < M ? P : M) : (P - s < M ? P - s : M);
    if (pl::peak_inflight_microbatches[s] != expect) return false;
  }
  return true;
}
template <std::size_t P, std::size_t... M>
constexpr bool all_m(std::index_sequence<M...>) {
  return ((plan_ok<P, M, gpipe>() && plan_ok<P, M, one_f_one_b>() && plan_ok<P, M, zb_h1>()) && ...);
}

template <std::size_t First, std::size_t... P>
constexpr bool range(std::index_sequence<P...>) {
  return (all_m<First + P>(std::index_sequence<1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 32>{}) && ...);
}
static_assert(range<PLAIT_P_FIRST>(std::make_index_sequence<PLAIT_P_LAST - PLAIT_P_FIRST + 1>{}));
}  // namespace
