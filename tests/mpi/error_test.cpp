// Tests of include/plait/comm/mpi/error.hpp: MPI return codes as plait errors, run_or_abort's normal
// path. Its failure path (print, MPI_Abort, non-zero exit) is tested by mpi_deadline_* (deadline_test.cpp).
#include "mpi_doctest_main.hpp"

#include <string>

namespace {
std::string message_of(auto&& f) {
  try {
    f();
  } catch (const plait::error& e) {
    return e.what();
  }
  return "(no error)";
}
}  // namespace

TEST_CASE("a failed MPI call is a plait error naming the call, the rank, the context and MPI's text") {
  const std::string rank = std::to_string(plait_test::world().rank());
  CHECK_NOTHROW(plait::mpi_detail::check(MPI_SUCCESS, "MPI_Anything"));
  const std::string e = message_of(
      [] { plait::mpi_detail::check(MPI_ERR_COUNT, "MPI_Isend", [] { return std::string("send of 3 floats"); }); });
  CHECK(e.rfind("plait: MPI_Isend failed on rank " + rank +
                    " (send of 3 floats): " + plait::mpi_detail::error_text(MPI_ERR_COUNT) + ". MPI reported an error",
                0) == 0);
  CHECK(e.find("Fix: end the job (plait::run_or_abort calls MPI_Abort)") != std::string::npos);
  CHECK(plait::mpi_detail::error_text(MPI_ERR_COUNT).find("count") != std::string::npos);  // MPI's own words
}

TEST_CASE("a call MPI itself rejects reaches the caller as a plait error, not an MPI abort") {
  // The communicator plait owns returns errors (MPI_ERRORS_RETURN): a negative count is MPI_ERR_COUNT.
  float x = 0;
  MPI_Request req;
  const int rc = MPI_Isend(&x, -1, MPI_FLOAT, 0, 0, plait_test::comm().native(), &req);
  CHECK(rc != MPI_SUCCESS);
  CHECK(message_of([&] { plait::mpi_detail::check(rc, "MPI_Isend"); }).find("MPI_Isend failed on rank") !=
        std::string::npos);
}

TEST_CASE("run_or_abort returns what the function returns when nothing is thrown") {
  CHECK(plait::run_or_abort([] { return 7; }) == 7);
  CHECK(plait::run_or_abort([] {}) == 0);
}
