#pragma once
// signature_of<T...>: a 64-bit hash of types, computed when the program compiles (FNV-1a over the
// compiler's spelling of the types). Ranks that train one model across processes compare the
// signature of (policy, graph) at start-up (comm/mpi/check.hpp): two builds of different graphs or
// policies disagree. Builds by different compilers spell types differently and so disagree too,
// which is what a start-up check wants (their layouts are not guaranteed to match either).

#include <cstdint>
#include <string_view>

namespace plait {

namespace detail {
template <class... T>
constexpr std::string_view spelling() {
  return __PRETTY_FUNCTION__;  // names T... in the compiler's spelling
}
constexpr std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 14695981039346656037ull;
  for (char c : s) h = (h ^ std::uint64_t(static_cast<unsigned char>(c))) * 1099511628211ull;
  return h;
}
}  // namespace detail

template <class... T>
inline constexpr std::uint64_t signature_of = detail::fnv1a(detail::spelling<T...>());

}  // namespace plait
