// Tests of include/plait/comm/nccl/launch_env.hpp: the launch variables of an NCCL job started without MPI.
// No NCCL, CUDA or MPI needed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <map>
#include <plait/comm/nccl/launch_env.hpp>
#include <string>

using plait::nccl_launch_env;
using plait::parse_nccl_launch_env;

namespace {

using vars = std::map<std::string, std::string>;

auto lookup(const vars& v) {
  return [&v](const char* name) -> const char* {
    const auto it = v.find(name);
    return it == v.end() ? nullptr : it->second.c_str();
  };
}

std::string error_of(const vars& v) {
  try {
    parse_nccl_launch_env(lookup(v));
  } catch (const plait::error& e) {
    return e.what();
  }
  return "(no error)";
}

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

const vars launch{{"RANK", "3"},
                  {"WORLD_SIZE", "4"},
                  {"LOCAL_RANK", "1"},
                  {"NCCL_COMM_ID", "node0.lan:29600"},
                  {"MASTER_ADDR", "node0.lan"},
                  {"MASTER_PORT", "29500"}};

vars with(vars v, const std::string& name, const char* value) {
  if (value == nullptr) v.erase(name);
  else v[name] = value;
  return v;
}

}  // namespace

TEST_CASE("RANK, WORLD_SIZE, LOCAL_RANK and NCCL_COMM_ID are read into one nccl_launch_env") {
  const nccl_launch_env e = parse_nccl_launch_env(lookup(launch));
  CHECK(e.rank == 3);
  CHECK(e.world_size == 4);
  CHECK(e.local_rank == 1);
  CHECK(e.comm_id == "node0.lan:29600");
  CHECK(parse_nccl_launch_env(lookup(with(launch, "NCCL_COMM_ID", "[fe80::1]:29600"))).comm_id == "[fe80::1]:29600");
}

TEST_CASE("a one-process job needs neither LOCAL_RANK nor NCCL_COMM_ID") {
  const nccl_launch_env e = parse_nccl_launch_env(lookup(vars{{"RANK", "0"}, {"WORLD_SIZE", "1"}}));
  CHECK(e.rank == 0);
  CHECK(e.world_size == 1);
  CHECK(e.local_rank == 0);
  CHECK(e.comm_id.empty());
}

TEST_CASE("a missing NCCL_COMM_ID is named, with what to set and why not MASTER_PORT") {
  const std::string m = error_of(with(launch, "NCCL_COMM_ID", nullptr));
  CHECK(starts_with(
      m,
      "plait: NCCL_COMM_ID is not set. without MPI, NCCL's ranks meet at the address NCCL_COMM_ID names, where rank 0 listens. Fix: export NCCL_COMM_ID"));
  CHECK(starts_with(error_of(with(launch, "RANK", nullptr)), "plait: RANK is not set."));
  CHECK(starts_with(error_of(with(launch, "WORLD_SIZE", nullptr)), "plait: WORLD_SIZE is not set."));
  CHECK(starts_with(error_of(with(launch, "LOCAL_RANK", nullptr)),
                    "plait: LOCAL_RANK is not set. with several processes, each must know which GPU"));
}

TEST_CASE("an NCCL_COMM_ID that is not host:port is refused, quoting it") {
  CHECK(starts_with(error_of(with(launch, "NCCL_COMM_ID", "node0")), "plait: NCCL_COMM_ID='node0' is not host:port."));
  CHECK(
      starts_with(error_of(with(launch, "NCCL_COMM_ID", "node0:")), "plait: NCCL_COMM_ID='node0:' is not host:port."));
  CHECK(
      starts_with(error_of(with(launch, "NCCL_COMM_ID", ":29600")), "plait: NCCL_COMM_ID=':29600' is not host:port."));
  CHECK(starts_with(error_of(with(launch, "NCCL_COMM_ID", "node0:0")), "plait: NCCL_COMM_ID='node0:0' has port 0."));
  CHECK(starts_with(error_of(with(launch, "NCCL_COMM_ID", "node0:70000")),
                    "plait: the port of NCCL_COMM_ID='70000' is not a number in 0 .. 65535."));
  const std::string m = error_of(with(launch, "NCCL_COMM_ID", "node0"));
  CHECK(m.find("not MASTER_PORT") != std::string::npos);
}

TEST_CASE("inconsistent ranks are errors that quote them") {
  CHECK(
      error_of(with(launch, "RANK", "4")) ==
      "plait: RANK=4 with WORLD_SIZE=4. ranks are 0 .. WORLD_SIZE - 1. Fix: number the processes 0 .. 3 and export WORLD_SIZE to all.");
  CHECK(starts_with(error_of(with(launch, "WORLD_SIZE", "0")), "plait: WORLD_SIZE=0."));
  CHECK(starts_with(error_of(with(launch, "LOCAL_RANK", "4")), "plait: LOCAL_RANK=4 with WORLD_SIZE=4."));
  CHECK(starts_with(error_of(with(launch, "RANK", "x")), "plait: RANK='x' is not a number"));
}

TEST_CASE("LOCAL_WORLD_SIZE, where the launcher sets it, bounds LOCAL_RANK") {
  CHECK_FALSE(parse_nccl_launch_env(lookup(launch)).local_world_size.has_value());
  const nccl_launch_env e = parse_nccl_launch_env(lookup(with(launch, "LOCAL_WORLD_SIZE", "2")));
  REQUIRE(e.local_world_size.has_value());
  CHECK(*e.local_world_size == 2);
  CHECK(e.local_rank == 1);
  CHECK(
      error_of(with(with(launch, "LOCAL_WORLD_SIZE", "2"), "LOCAL_RANK", "2")) ==
      "plait: LOCAL_RANK=2 with LOCAL_WORLD_SIZE=2. a process's number on its node is below the number of processes. Fix: set "
      "LOCAL_RANK to 0 .. 1.");
  CHECK(starts_with(error_of(with(launch, "LOCAL_WORLD_SIZE", "0")), "plait: LOCAL_WORLD_SIZE=0 with WORLD_SIZE=4."));
  CHECK(starts_with(error_of(with(launch, "LOCAL_WORLD_SIZE", "5")), "plait: LOCAL_WORLD_SIZE=5 with WORLD_SIZE=4."));
  CHECK(
      starts_with(error_of(with(launch, "LOCAL_WORLD_SIZE", "two")), "plait: LOCAL_WORLD_SIZE='two' is not a number"));
}

TEST_CASE("an NCCL launch without MPI is recognised by NCCL_COMM_ID beside RANK or WORLD_SIZE") {
  CHECK(plait::has_nccl_launch_env(lookup(launch)));
  CHECK(plait::has_nccl_launch_env(lookup(vars{{"WORLD_SIZE", "2"}, {"NCCL_COMM_ID", "node0:29600"}})));
  CHECK_FALSE(
      plait::has_nccl_launch_env(lookup(with(launch, "NCCL_COMM_ID", nullptr))));  // torchrun without NCCL_COMM_ID
  CHECK_FALSE(
      plait::has_nccl_launch_env(lookup(vars{{"NCCL_COMM_ID", "node0:29600"}})));  // mpiexec with NCCL_COMM_ID exported
  CHECK_FALSE(plait::has_nccl_launch_env(lookup(vars{})));
}
