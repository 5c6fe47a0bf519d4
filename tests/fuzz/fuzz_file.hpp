#pragma once
// The readers take paths, so each fuzz input is written to a file of this process first, in
// $TMPDIR (run_fuzz.sh points it at a folder in /dev/shm, or in the test's scratch folder).

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

// AddressSanitizer keeps freed memory in a quarantine of 256 MB by default, which alone would bring a
// long run near -rss_limit_mb=512; 64 MB still catches uses after free of recent inputs. (This header
// is included by one source file per target.)
extern "C" const char* __asan_default_options() { return "quarantine_size_mb=64"; }

namespace plait::fuzz {

/// A file named after the target and the process, in the temporary directory, removed at exit.
struct scratch_file {
  std::filesystem::path path;

  explicit scratch_file(const std::string& name)
      : path(std::filesystem::temp_directory_path() / ("plait_fuzz_" + name + "_" + std::to_string(getpid()))) {}
  ~scratch_file() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
  scratch_file(const scratch_file&) = delete;
  scratch_file& operator=(const scratch_file&) = delete;
};

inline void write_file(const std::filesystem::path& p, const std::uint8_t* data, std::size_t size) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  if (!out) {
    std::fprintf(stderr, "fuzz setup: cannot write %s\n", p.c_str());
    std::abort();
  }
}

/// A violated property of a successful read: a crash for libFuzzer, with the reason printed.
[[noreturn]] inline void wrong(const char* what) {
  std::fprintf(stderr, "plait fuzz: wrong result: %s\n", what);
  std::abort();
}

}  // namespace plait::fuzz
