#pragma once
// shape<D...>: the per-sample shape of a tensor, known at compile time. The batch is never
// part of a shape: it is a run-time number, outermost.

#include <array>
#include <cstddef>
#include <type_traits>

namespace plait {

template <std::size_t... D>
struct shape {
  static constexpr std::size_t rank = sizeof...(D);
  static constexpr std::size_t size = (std::size_t{1} * ... * D);
  static constexpr std::array<std::size_t, sizeof...(D)> dims{D...};
  static_assert(
      ((D > 0) && ...),
      "plait: a shape has a zero extent. Every dimension of a sample must hold at least one element. Fix: give each dimension a positive size.");
};

template <class T>
struct is_shape : std::false_type {};
template <std::size_t... D>
struct is_shape<shape<D...>> : std::true_type {};

template <class T>
concept Shape = is_shape<T>::value;

/// A named predicate so that a failed check prints both shapes, e.g.
/// `'plait::same_shape<plait::shape<128>, plait::shape<64> >::value' evaluates to false`.
template <Shape A, Shape B>
struct same_shape {
  static constexpr bool value = std::is_same_v<A, B>;
};

template <Shape S, std::size_t R>
struct has_rank {
  static constexpr bool value = S::rank == R;
};

}  // namespace plait
