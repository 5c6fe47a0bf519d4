// The flight recorder (runtime/flight_recorder.hpp): a ring keeps the last N records; a placed model's
// step records exactly its programs' instructions, the collectives on the communication lane with their
// bytes; an exception leaving an instruction marks it failed; the file it writes holds every record and
// is read back by tools/flight_recorder.py (CTest runtime_flight_recorder_tool_*, on the files this test
// writes under flight_recorder_test/).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <plait/plait.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "../policy/equivalence.hpp"

using namespace plait;

namespace {
constexpr auto net = input<8> >> linear<16> >> relu >> linear<12> >> plait::tanh >> linear<4>;
const std::filesystem::path out = "flight_recorder_test";

std::string read_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

instruction at(opcode op, std::uint16_t mb = 0) {
  instruction i;
  i.op = op;
  i.microbatch = mb;
  return i;
}

// Records of local device l on one lane, in the order they started.
std::vector<flight_record> lane_records(const flight_recorder& f, std::size_t l, flight_recorder::lane lane) {
  std::vector<flight_record> r;
  const flight_ring& g = f.ring(l, lane);
  for (std::uint64_t k = g.oldest(); k < g.started(); ++k) {
    flight_record x;
    if (g.read(k, x)) r.push_back(x);
  }
  return r;
}

// Local device l's recorded instructions equal its training program's, in order: the data-parallel
// collectives on the communication lane, everything else on the compute lane; all finished in step `step`.
template <class M>
void check_program_recorded(const M& m, std::size_t l, std::uint64_t step) {
  using plan = typename M::plan;
  const auto& program = plan::programs[m.first_device() + l];
  std::vector<instruction> compute, comm;
  for (std::size_t k = 0; k < program.size(); ++k) {
    const instruction& i = program[k];
    if (i.op == opcode::nop) continue;  // padding: not executed
    (is_collective(i.op) && i.peer != std::int16_t(collective_group::inner) ? comm : compute).push_back(i);
  }
  auto check = [&](const std::vector<instruction>& expected, flight_recorder::lane lane) {
    std::vector<flight_record> got = lane_records(m.flight(), l, lane);
    std::erase_if(got, [&](const flight_record& r) { return r.step != step; });
    REQUIRE(got.size() == expected.size());
    for (std::size_t k = 0; k < got.size(); ++k) {
      CAPTURE(k);
      CHECK(got[k].op == expected[k].op);
      CHECK(got[k].microbatch == expected[k].microbatch);
      CHECK(got[k].stage == std::int16_t(expected[k].stage));
      CHECK(got[k].state == flight_state::finished);
      CHECK(got[k].finish >= got[k].start);
      CHECK(got[k].kind == (communicates_op(expected[k].op) ? flight_kind::collective : flight_kind::instruction));
    }
  };
  check(compute, flight_recorder::compute);
  check(comm, flight_recorder::communication);
}
}  // namespace

TEST_CASE("a ring keeps the last N records, oldest overwritten, in the order they started") {
  flight_recorder f(1, 4, flight_identity{});
  flight_ring& g = f.ring(0, flight_recorder::compute);
  for (std::uint64_t s = 0; s < 10; ++s) {
    flight_record r;
    r.what = "forward stage 0";
    r.step = s;
    r.start = std::int64_t(100 + s);
    const std::uint64_t seq = g.start(r);
    if (s != 9) g.finish(seq, flight_state::finished, std::int64_t(200 + s));
  }
  CHECK(g.started() == 10);
  const std::vector<flight_record> kept = f.records(0);
  REQUIRE(kept.size() == 4);
  for (std::size_t k = 0; k < 4; ++k) CHECK(kept[k].step == 6 + k);
  CHECK(kept[2].state == flight_state::finished);
  CHECK(kept[2].finish == 208);
  CHECK(kept[3].state == flight_state::running);  // the last one never finished: where the device is
  CHECK(kept[3].finish == 0);
  // A finish that comes after its slot was overwritten changes nothing.
  g.finish(1, flight_state::failed, 999);
  CHECK(f.records(0)[0].state == flight_state::finished);
}

TEST_CASE("the recorder's clock: ticks that the file turns into CLOCK_MONOTONIC nanoseconds") {
  const flight_detail::flight_clock c;
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  const std::int64_t before = flight_detail::flight_clock::monotonic_ns();
  const std::int64_t tick = c.ticks();
  const std::int64_t after = flight_detail::flight_clock::monotonic_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(3));
  const std::int64_t later = c.ticks();
  CHECK(later > tick);  // monotonic
  const std::int64_t tick1 = c.ticks(), ns1 = flight_detail::flight_clock::monotonic_ns();
  const std::int64_t ns = c.to_ns(tick, tick1, ns1);
  // Between the two readings of CLOCK_MONOTONIC around it, give or take the error of a rate measured
  // over 6 ms (and a VM's preemption between paired readings).
  CHECK(ns >= before - 200000);
  CHECK(ns <= after + 200000);
  CHECK(c.to_ns(0, tick1, ns1) == 0);         // no reading stays none
  if (!c.counts_cycles()) CHECK(ns == tick);  // without an invariant TSC, ticks are nanoseconds
}

TEST_CASE("a scope finishes its record, or marks it failed when an exception leaves it") {
  flight_recorder f(1, 8, flight_identity{});
  {
    flight_scope s(&f, 0, at(opcode::forward, 1), "forward stage 0", 5, [] { return std::uint64_t(0); });
  }
  try {
    flight_scope s(&f, 0, at(opcode::backward, 1), "backward stage 0", 5, [] { return std::uint64_t(0); });
    throw std::runtime_error("in backward");
  } catch (const std::runtime_error&) {}
  const auto r = f.records(0);
  REQUIRE(r.size() == 2);
  CHECK(r[0].state == flight_state::finished);
  CHECK(r[0].microbatch == 1);
  CHECK(r[1].state == flight_state::failed);
  CHECK(r[1].finish == 0);
  // A disabled recorder, or none, records nothing and reads no byte count.
  flight_recorder off;
  bool asked = false;
  {
    flight_scope s(&off, 0, at(opcode::forward), "forward", 0, [&] { return asked = true, std::uint64_t(0); });
  }
  {
    flight_scope s(nullptr, 0, at(opcode::forward), "forward", 0, [&] { return asked = true, std::uint64_t(0); });
  }
  CHECK(!asked);
  CHECK(!off.enabled());
}

TEST_CASE("replicate<2>: each device records its program, the all-reduces on the communication lane with their bytes") {
  auto m = place<replicate<2>>(net, host_devices(2), {.max_batch = 16});
  const test::batch_set<net> b(16, 3);
  sgd opt{.lr = 0.1f};
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  CHECK(m.flight().capacity() == flight_recorder::default_capacity);
  for (std::size_t l = 0; l < 2; ++l) {
    CAPTURE(l);
    check_program_recorded(m, l, 0);
    check_program_recorded(m, l, 1);
    std::uint64_t reduced = 0;
    for (const flight_record& r : lane_records(m.flight(), l, flight_recorder::communication)) {
      CHECK(r.op == opcode::all_reduce);
      CHECK(r.peer == std::int16_t(collective_group::data_parallel));
      CHECK(std::string(r.what).starts_with("all_reduce"));
      if (r.step == 1) reduced += r.bytes;
    }
    std::uint64_t buckets = 0;
    for (const bucket& k : decltype(m)::plan::buckets) buckets += k.size * sizeof(float);
    CHECK(reduced == buckets);  // each bucket once per step
    CHECK(reduced >= m.parameter_count() * sizeof(float));
  }
}

TEST_CASE("pipeline<2, 2 micro-batches>: sends and receives carry a micro-batch's activations and gradients") {
  auto m = place<pipeline<2, microbatches<2>>>(net, host_devices(2), {.max_batch = 16});
  const test::batch_set<net> b(16, 4);
  sgd opt{.lr = 0.1f};
  m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  check_program_recorded(m, 0, 0);
  check_program_recorded(m, 1, 0);
  using plan = decltype(m)::plan;
  const std::size_t cut = plan::stages[0].last;  // the layer whose output crosses between the stages
  const std::uint64_t message = 8 * plan::device_layout::out_sizes[cut - 1] * sizeof(float);  // [8, width]
  std::size_t sends = 0, receives = 0;
  for (std::size_t l = 0; l < 2; ++l)
    for (const flight_record& r : m.flight().records(l)) {
      if (r.op != opcode::send && r.op != opcode::recv) continue;
      sends += r.op == opcode::send, receives += r.op == opcode::recv;
      CHECK(r.bytes == message);
      CHECK(r.kind == flight_kind::collective);
      CHECK(r.peer == std::int16_t(1 - l));
    }
  CHECK(sends == 4);  // 2 micro-batches, activations forward and gradients back
  CHECK(receives == 4);
}

TEST_CASE("the file: every held record, the identity, the reason; SIGUSR1 writes it and the process goes on") {
  std::filesystem::remove_all(out);
  std::filesystem::create_directories(out / "model");
  // [docs:flight]
  place_options o{.max_batch = 16};
  o.flight = {.records = 8, .dir = (out / "model").string(), .signals = true};  // the default keeps 2000
  auto m = place<replicate<2>>(net, host_devices(2), o);
  // [/docs:flight]
  const test::batch_set<net> b(16, 3);
  sgd opt{.lr = 0.1f};
  for (int s = 0; s < 3; ++s) m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  CHECK(lane_records(m.flight(), 0, flight_recorder::compute).size() == 8);  // of the 3 steps' instructions, the last 8
  CHECK(m.flight().ring(0, flight_recorder::compute).started() > 8);
  CHECK(std::string(m.flight().path()) == (out / "model" / "plait_flight_rank0.json").string());
  REQUIRE(raise(SIGUSR1) == 0);
  const std::string text = read_text(out / "model" / "plait_flight_rank0.json");
  CHECK(text.starts_with("{\"format\":\"plait-flight-1\",\"rank\":0,\"ranks\":1,"));
  CHECK(text.find("\"reason\":\"SIGUSR1\"") != std::string::npos);
  CHECK(text.find("\"policy\":\"replicate\"") != std::string::npos);
  CHECK(text.find("{\"device\":1,\"started\":") != std::string::npos);
  std::size_t records = 0;
  for (std::size_t at = text.find("\"kind\":"); at != std::string::npos; at = text.find("\"kind\":", at + 1)) ++records;
  CHECK(records == m.flight().records(0).size() + m.flight().records(1).size());
  CHECK(text.find("\"what\":\"optimizer_step\",\"op\":\"optimizer_step\",\"step\":2") != std::string::npos);
  CHECK(text.find("\"state\":\"running\"") == std::string::npos);  // every step finished
  CHECK(m.flight().on_error("plait: x. y. Fix: z.").starts_with("plait: x. y. Fix: z. See the flight recorder: "));
  CHECK(read_text(out / "model" / "plait_flight_rank0.json").find("\"error\":\"plait: x. y. Fix: z.\"") !=
        std::string::npos);
  CHECK(m.flight().write("/nonexistent-folder/flight.json") == ENOENT);
}

// Three ranks as the tool meets them after a rank stopped: ranks 0 and 1 are in step 3's all-reduce of
// bucket 1 (rank 1's has failed at its deadline), rank 2 finished step 2 and never began step 3 (stuck),
// or, in the second folder, rank 2 left no file (dead). The tool's verdicts are checked by CTest.
TEST_CASE("files for the tool: a stuck rank and a dead one") {
  for (const char* folder : {"stuck", "dead"}) {
    std::filesystem::create_directories(out / folder);
    for (std::size_t rank = 0; rank < 3; ++rank) {
      if (rank == 2 && std::string(folder) == "dead") continue;
      flight_recorder f(1, 16, flight_identity{rank, 3, rank, "replicate<3>", (out / folder).string(), true});
      auto& compute = f.ring(0, flight_recorder::compute);
      auto& comm = f.ring(0, flight_recorder::communication);
      std::int64_t t = f.ticks() - 1000000;
      for (std::uint64_t step = 2; step <= (rank == 2 ? 2u : 3u); ++step) {
        for (opcode op : {opcode::forward, opcode::loss, opcode::backward}) {
          flight_record r;
          r.what = to_string(op), r.op = op, r.step = step, r.start = t++;
          compute.finish(compute.start(r), flight_state::finished, t++);
        }
        for (std::uint16_t bucket : {0, 1}) {
          flight_record r;
          r.what = bucket ? "all_reduce bucket 1" : "all_reduce bucket 0", r.op = opcode::all_reduce;
          r.kind = flight_kind::collective, r.peer = 1, r.bytes = 4096, r.step = step, r.start = t++;
          const std::uint64_t seq = comm.start(r);
          if (step == 2 || bucket == 0) comm.finish(seq, flight_state::finished, t++);
          else if (rank == 1) comm.finish(seq, flight_state::failed, t++);
        }
        if (step == 2) {
          flight_record r;
          r.what = "optimizer_step", r.op = opcode::optimizer_step, r.step = step, r.start = t++;
          compute.finish(compute.start(r), flight_state::finished, t++);
        }
      }
      CHECK(f.dump(rank == 1 ? "error" : "SIGTERM", rank == 1 ? "plait: a deadline." : nullptr) == 0);
    }
  }
  CHECK(std::filesystem::exists(out / "stuck" / "plait_flight_rank2.json"));
  CHECK(!std::filesystem::exists(out / "dead" / "plait_flight_rank2.json"));
}
