// Tests of include/plait/comm/mpi/check.hpp, run under mpiexec -np 2 and -np 3.
#include "mpi_doctest_main.hpp"

#include <plait/comm/mpi/check.hpp>
#include <string>

using plait_test::comm;

namespace {
std::string message_of(auto&& f) {
  try {
    f();
  } catch (const plait::error& e) {
    return e.what();
  }
  return "(no error)";
}
// "0, 1" for ranks first .. last - 1
std::string ranks(std::size_t first, std::size_t last) {
  std::string s;
  for (std::size_t q = first; q < last; ++q) s += (q == first ? "" : ", ") + std::to_string(q);
  return s;
}
}  // namespace

TEST_CASE("ranks that agree pass the start-up check") {
  CHECK_NOTHROW(plait::check_consistent(comm(), 0x1234abcdull, 203530));
  CHECK_FALSE(comm().broken());
}

TEST_CASE("a graph signature that differs on the last rank is named on every rank") {
  const std::size_t last = comm().size() - 1;
  const std::uint64_t signature = comm().rank() == last ? 0x77ull : 0x1full;
  const std::string e = message_of([&] { plait::check_consistent(comm(), signature, 1000); });
  const std::string others = (last == 1 ? "on rank " : "on ranks ") + ranks(0, last);
  CHECK(
      e ==
      "plait: the ranks of this job disagree at start-up (seen on rank " + std::to_string(comm().rank()) +
          "): graph signature 0x000000000000001f " + others + " but 0x0000000000000077 on rank " +
          std::to_string(last) +
          ". every rank must run the same model, policy, plait version and devices, or their collectives would not match. "
          "Fix: start "
          "the same build of the program, with the same model, policy and devices, on every rank.");
}

TEST_CASE("parameter counts and plait versions are compared too, all differences at once") {
  plait::run_identity mine{.signature = 5, .parameter_count = comm().rank() == 0 ? 100u : 101u};
  if (comm().rank() == 1) mine.version_minor += 1;
  const std::string e = message_of([&] { plait::check_consistent(comm(), mine); });
  const std::string v = std::to_string(PLAIT_VERSION_MAJOR) + ".";
  CHECK(e.find("parameter count 100 on rank 0 but 101 on " +
               std::string(comm().size() == 2 ? "rank 1" : "ranks 1, 2")) != std::string::npos);
  CHECK(e.find("; plait version " + v) != std::string::npos);
  CHECK(e.find(std::to_string(PLAIT_VERSION_MINOR + 1) + "." + std::to_string(PLAIT_VERSION_PATCH) + " on rank 1") !=
        std::string::npos);
  CHECK(e.find("graph signature") == std::string::npos);  // equal everywhere: not mentioned
}
