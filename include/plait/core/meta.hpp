#pragma once
// Small compile-time utilities: type lists, dependent false, compile-time loops.

#include <cstddef>
#include <type_traits>
#include <utility>

namespace plait {

template <class... T>
struct type_list {
  static constexpr std::size_t size = sizeof...(T);
};

template <std::size_t I, class List>
struct type_at;
template <std::size_t I, class H, class... T>
struct type_at<I, type_list<H, T...>> : type_at<I - 1, type_list<T...>> {};
template <class H, class... T>
struct type_at<0, type_list<H, T...>> {
  using type = H;
};
template <std::size_t I, class List>
using type_at_t = typename type_at<I, List>::type;

/// `static_assert(dependent_false<T>, "...")` in a branch that must never be instantiated.
template <class...>
inline constexpr bool dependent_false = false;

namespace detail {
template <class F, std::size_t... I>
constexpr void static_for_impl(F& f, std::index_sequence<I...>) {
  (f.template operator()<I>(), ...);
}
}  // namespace detail

/// Calls f.template operator()<I>() for I = 0..N-1, in order, unrolled at compile time.
template <std::size_t N, class F>
constexpr void static_for(F&& f) {
  detail::static_for_impl(f, std::make_index_sequence<N>{});
}

/// Rounds n up to a multiple of `to` (a power of two or any positive number).
constexpr std::size_t round_up(std::size_t n, std::size_t to) { return (n + to - 1) / to * to; }

}  // namespace plait
