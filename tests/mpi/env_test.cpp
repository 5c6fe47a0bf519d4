// Tests of include/plait/comm/launch_env.hpp: the torchrun-style launch variables. No MPI needed.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdlib>
#include <map>
#include <plait/comm/launch_env.hpp>
#include <string>

using plait::launch_env;
using plait::parse_launch_env;

namespace {

using vars = std::map<std::string, std::string>;

// A lookup over a fixed set of variables, as parse_launch_env takes it.
auto lookup(const vars& v) {
  return [&v](const char* name) -> const char* {
    const auto it = v.find(name);
    return it == v.end() ? nullptr : it->second.c_str();
  };
}

std::string error_of(const vars& v) {
  try {
    parse_launch_env(lookup(v));
  } catch (const plait::error& e) {
    return e.what();
  }
  return "(no error)";
}

const vars torchrun{{"RANK", "5"},
                    {"WORLD_SIZE", "8"},
                    {"LOCAL_RANK", "1"},
                    {"LOCAL_WORLD_SIZE", "4"},
                    {"MASTER_ADDR", "node0.lan"},
                    {"MASTER_PORT", "29500"}};

vars with(vars v, const std::string& name, const char* value) {
  if (value == nullptr) v.erase(name);
  else v[name] = value;
  return v;
}

}  // namespace

static_assert(plait::EnvLookup<decltype(lookup(torchrun))>);

TEST_CASE("what torchrun exports is read into one launch_env") {
  const launch_env e = parse_launch_env(lookup(torchrun));
  CHECK(e.rank == 5);
  CHECK(e.world_size == 8);
  CHECK(e.local_rank == 1);
  REQUIRE(e.local_world_size.has_value());
  CHECK(*e.local_world_size == 4);
  CHECK(e.master_addr == "node0.lan");
  CHECK(e.master_port == 29500);
  CHECK(plait::has_launch_env(lookup(torchrun)));
  CHECK_FALSE(plait::has_launch_env(lookup(vars{{"MASTER_ADDR", "x"}})));
}

TEST_CASE("a one-process job needs only RANK and WORLD_SIZE") {
  const launch_env e = parse_launch_env(lookup(vars{{"RANK", "0"}, {"WORLD_SIZE", "1"}}));
  CHECK(e.rank == 0);
  CHECK(e.world_size == 1);
  CHECK(e.local_rank == 0);
  CHECK_FALSE(e.local_world_size.has_value());
  CHECK(e.master_addr.empty());
  CHECK(e.master_port == 0);
}

TEST_CASE("missing variables are named, with what sets them") {
  CHECK(error_of(with(torchrun, "RANK", nullptr))
            .rfind("plait: RANK is not set. a launched process must know its number in the job. Fix: export RANK", 0) ==
        0);
  CHECK(error_of(with(torchrun, "WORLD_SIZE", nullptr)).rfind("plait: WORLD_SIZE is not set.", 0) == 0);
  CHECK(error_of(with(torchrun, "LOCAL_RANK", nullptr))
            .rfind("plait: LOCAL_RANK is not set. with several processes", 0) == 0);
  CHECK(error_of(with(torchrun, "MASTER_ADDR", nullptr))
            .rfind("plait: MASTER_ADDR is not set. the processes of a job meet at MASTER_ADDR:MASTER_PORT", 0) == 0);
  CHECK(error_of(with(torchrun, "MASTER_PORT", nullptr)).rfind("plait: MASTER_PORT is not set.", 0) == 0);
  CHECK(error_of(with(torchrun, "MASTER_ADDR", "")).rfind("plait: MASTER_ADDR is empty.", 0) == 0);
}

TEST_CASE("inconsistent values are errors that quote them") {
  CHECK(
      error_of(with(torchrun, "RANK", "8")) ==
      "plait: RANK=8 with WORLD_SIZE=8. ranks are 0 .. WORLD_SIZE - 1. Fix: number the processes 0 .. 7 and export WORLD_SIZE to all.");
  CHECK(error_of(with(torchrun, "WORLD_SIZE", "0")).rfind("plait: WORLD_SIZE=0. a job has at least one process.", 0) ==
        0);
  CHECK(error_of(with(torchrun, "LOCAL_RANK", "4")).rfind("plait: LOCAL_RANK=4 with LOCAL_WORLD_SIZE=4.", 0) == 0);
  CHECK(error_of(with(with(torchrun, "LOCAL_WORLD_SIZE", nullptr), "LOCAL_RANK", "8"))
            .rfind("plait: LOCAL_RANK=8 with WORLD_SIZE=8.", 0) == 0);
  CHECK(error_of(with(torchrun, "LOCAL_WORLD_SIZE", "9")).rfind("plait: LOCAL_WORLD_SIZE=9 with WORLD_SIZE=8.", 0) ==
        0);
  CHECK(error_of(with(torchrun, "MASTER_PORT", "0")).rfind("plait: MASTER_PORT=0.", 0) == 0);
  CHECK(error_of(with(torchrun, "MASTER_PORT", "65536"))
            .rfind("plait: MASTER_PORT='65536' is not a number in 0 .. 65535.", 0) == 0);
}

TEST_CASE("values that are not non-negative decimal numbers are refused") {
  for (const char* bad : {"", "-1", "1.0", "2x", " 1", "0x10", "99999999999999999999999"}) {
    CAPTURE(bad);
    CHECK(error_of(with(torchrun, "RANK", bad))
              .rfind(std::string("plait: RANK='") + bad + "' is not a number in 0 .. ", 0) == 0);
  }
}

TEST_CASE("launch_env_from_environment reads this process's environment") {
  for (const auto& [name, value] : torchrun) setenv(name.c_str(), value.c_str(), 1);
  const launch_env e = plait::launch_env_from_environment();
  CHECK(e.rank == 5);
  CHECK(e.master_addr == "node0.lan");
  unsetenv("RANK");
  CHECK_THROWS_AS(plait::launch_env_from_environment(), plait::error);
}
