#pragma once
// The flight recorder's output (runtime/flight_recorder.hpp): JSON written through a fixed buffer with
// write(2), so that a signal handler can write it. Nothing here allocates, locks or touches stdio; the
// text is formatted by hand (integers in decimal, strings escaped for JSON) and the file appears whole
// or not at all: written under a temporary name, then renamed over the final one.

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <ctime>

namespace plait::flight_detail {

/// Nanoseconds on the clock `id` (CLOCK_MONOTONIC: the one std::chrono::steady_clock reads on Linux).
inline std::int64_t clock_ns(clockid_t id) {
  timespec t{};
  clock_gettime(id, &t);  // async-signal-safe
  return std::int64_t(t.tv_sec) * 1000000000 + t.tv_nsec;
}

/// Copies at most size - 1 bytes of `from` into `to`, always terminated.
inline void copy_text(char* to, std::size_t size, const char* from) {
  std::size_t n = 0;
  for (; from != nullptr && from[n] != '\0' && n + 1 < size; ++n) to[n] = from[n];
  to[n] = '\0';
}

/// Text appended to a file descriptor through a fixed buffer. A failed write is remembered (ok()) and
/// the rest is dropped; the caller then removes the temporary file.
class fd_writer {
 public:
  explicit fd_writer(int fd) : fd_(fd) {}
  fd_writer(const fd_writer&) = delete;
  fd_writer& operator=(const fd_writer&) = delete;

  bool ok() const { return ok_; }

  fd_writer& raw(const char* s, std::size_t n) {
    while (n > 0) {
      if (used_ == sizeof(buffer_)) flush();
      const std::size_t k = n < sizeof(buffer_) - used_ ? n : sizeof(buffer_) - used_;
      std::memcpy(buffer_ + used_, s, k);
      used_ += k;
      s += k;
      n -= k;
    }
    return *this;
  }
  fd_writer& raw(const char* s) { return raw(s, std::strlen(s)); }

  fd_writer& number(std::uint64_t v) {
    char digits[20];
    std::size_t n = 0;
    do digits[n++] = char('0' + v % 10);
    while ((v /= 10) != 0);
    char out[20];
    for (std::size_t k = 0; k < n; ++k) out[k] = digits[n - 1 - k];
    return raw(out, n);
  }
  fd_writer& number(std::int64_t v) {
    if (v < 0) {
      raw("-", 1);
      return number(std::uint64_t(0) - std::uint64_t(v));
    }
    return number(std::uint64_t(v));
  }

  /// `s` as a JSON string: quoted, with quotes, backslashes and control characters escaped.
  fd_writer& string(const char* s) {
    raw("\"", 1);
    for (; s != nullptr && *s != '\0'; ++s) {
      const unsigned char c = static_cast<unsigned char>(*s);
      if (c == '"' || c == '\\') {
        const char e[2] = {'\\', char(c)};
        raw(e, 2);
      } else if (c < 0x20) {
        const char hex[] = "0123456789abcdef";
        const char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        raw(e, 6);
      } else {
        raw(s, 1);
      }
    }
    return raw("\"", 1);
  }

  /// "key": as a JSON member name, with the comma before it unless it is an object's first.
  fd_writer& key(const char* k, bool first = false) {
    if (!first) raw(",", 1);
    return string(k).raw(":", 1);
  }

  void flush() {
    std::size_t done = 0;
    while (ok_ && done < used_) {
      const ssize_t w = ::write(fd_, buffer_ + done, used_ - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) ok_ = false;
      else done += std::size_t(w);
    }
    used_ = 0;
  }

 private:
  int fd_;
  bool ok_ = true;
  std::size_t used_ = 0;
  char buffer_[4096];
};

/// Writes `path` whole or not at all: body(writer) into `temporary`, then renamed over `path`.
/// Returns 0, or the errno of what failed (the temporary is removed).
template <class Body>
int write_whole(const char* path, const char* temporary, const Body& body) {
  const int saved = errno;
  const int fd = ::open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int e = errno;
    errno = saved;
    return e;
  }
  bool ok = false;
  {
    fd_writer out(fd);
    body(out);
    out.flush();
    ok = out.ok();
  }
  int e = ok ? 0 : (errno != 0 ? errno : EIO);
  if (::close(fd) != 0 && e == 0) e = errno;
  if (e == 0 && ::rename(temporary, path) != 0) e = errno;
  if (e != 0) ::unlink(temporary);
  errno = saved;
  return e;
}

}  // namespace plait::flight_detail
