#pragma once
// plait::error: the one exception type of the library. Every message has the form
//   plait: <what went wrong>. <why>. Fix: <what to change>.
// (docs/contributing.md §4), the same format the compile-time diagnostics use.

#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace plait {

class error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Builds the one-line message; each part is written without its final period.
inline std::string message(std::string_view what, std::string_view why, std::string_view fix) {
  std::string m;
  m.reserve(what.size() + why.size() + fix.size() + 24);
  m.append("plait: ").append(what).append(". ").append(why).append(". Fix: ").append(fix).append(".");
  return m;
}

/// Text and numbers joined into one string, for building messages (only when failing: it allocates).
namespace detail {
inline std::string to_text(std::string_view s) { return std::string(s); }
template <class N>
  requires std::is_arithmetic_v<N>
std::string to_text(N v) {
  return std::to_string(v);
}
}  // namespace detail
template <class... A>
std::string cat(const A&... a) {
  return (std::string() + ... + detail::to_text(a));
}

[[noreturn]] inline void fail(std::string_view what, std::string_view why, std::string_view fix) {
  throw error(message(what, why, fix));
}

/// Rethrows `e` with where it happened in front of its text: "plait: <where>: <what>. <why>. Fix: <how>."
[[noreturn]] inline void fail_in(std::string_view where, const error& e) {
  std::string_view text = e.what();
  if (text.starts_with("plait: ")) text.remove_prefix(7);
  throw error(cat("plait: ", where, ": ", text));
}

/// Checks a run-time precondition. The arguments are built before the call: on a hot path, where
/// nothing may allocate, write `if (!ok) fail(...)` instead.
inline void expect(bool ok, std::string_view what, std::string_view why, std::string_view fix) {
  if (!ok) fail(what, why, fix);
}

}  // namespace plait
