#pragma once
// The examples' command-line options: one small parser instead of a loop per example.
//
//   int steps = 300;
//   std::string trace;
//   example_options("01_replicate_regression", "data-parallel regression")
//       .add("--steps", steps, "training steps")
//       .add("--trace", trace, "write the last steps as a Chrome trace to FILE")
//       .parse(argc, argv);
//
// Every option takes one value, converted to the type of the variable it sets (integers, float,
// string); --help prints the usage; an unknown option, a missing or malformed value prints the usage
// to stderr and exits with status 2.

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

class example_options {
 public:
  example_options(const char* program, const char* about) : program_(program), about_(about) {}

  template <class T>
  example_options& add(const char* flag, T& value, const char* help) {
    static_assert(std::is_integral_v<T> || std::is_floating_point_v<T> || std::is_same_v<T, std::string>,
                  "an example's option sets an integer, a float or a string");
    entries_.push_back({flag, help,
                        [](void* to, const char* text) {
                          T& v = *static_cast<T*>(to);
                          char* end = nullptr;
                          if constexpr (std::is_same_v<T, std::string>) {
                            v = text;
                            return true;
                          } else if constexpr (std::is_floating_point_v<T>) {
                            v = T(std::strtod(text, &end));
                          } else if constexpr (std::is_signed_v<T>) {
                            v = T(std::strtoll(text, &end, 10));
                          } else {
                            if (text[0] == '-') return false;
                            v = T(std::strtoull(text, &end, 10));
                          }
                          return end && end != text && *end == '\0';
                        },
                        &value});
    return *this;
  }

  /// Sets the options given; exits on --help (0) and on a mistake (2).
  void parse(int argc, char** argv) const {
    for (int i = 1; i < argc; ++i) {
      if (!std::strcmp(argv[i], "--help")) usage(stdout, 0);
      const entry* e = find(argv[i]);
      if (!e) complain(argv[i], "is not an option of this example");
      if (i + 1 >= argc) complain(argv[i], "needs a value");
      if (!e->set(e->target, argv[i + 1]))
        complain(argv[i], (std::string("cannot take the value ") + argv[i + 1]).c_str());
      ++i;
    }
  }

 private:
  struct entry {
    const char* flag;
    const char* help;
    bool (*set)(void*, const char*);
    void* target;
  };
  const entry* find(const char* flag) const {
    for (const entry& e : entries_)
      if (!std::strcmp(e.flag, flag)) return &e;
    return nullptr;
  }
  [[noreturn]] void complain(const char* flag, const char* what) const {
    std::fprintf(stderr, "%s: %s %s\n", program_, flag, what);
    usage(stderr, 2);
  }
  [[noreturn]] void usage(std::FILE* to, int status) const {
    std::fprintf(to, "%s: %s\nusage: %s [options]\n", program_, about_, program_);
    for (const entry& e : entries_) std::fprintf(to, "  %-12s %s\n", e.flag, e.help);
    std::exit(status);
  }

  const char* program_;
  const char* about_;
  std::vector<entry> entries_;
};
