#pragma once
// pipeline<S, microbatches<M>, Schedule, Options...>: pipeline parallelism.
//
// What it represents: the graph cut into S stages (at its `cut` markers, or balanced by FLOPs),
// stage s on logical device s. Each step the batch is split into M micro-batches; activations go
// forward from stage to stage and their gradients come back, in the order the schedule (gpipe,
// one_f_one_b, or zb_h1 with each backward split in two) fixes; gradients accumulate over the
// micro-batches, and each stage steps its own parameters after the flush. M = 1 is plain model
// parallelism. A chunked schedule (interleaved_1f1b<V>, zb_v: program/chunked_schedules.hpp) cuts
// S x V stages instead and gives each of the S devices V of them: every stage is still a logical
// device, and the stages of a device run on its one thread in the schedule's order.
//
// Checked when the program compiles: the stages are not more than the layers that do work; explicit
// cuts agree with them; the schedule's programs are verified together (program/verify.hpp: every
// send meets its receive in the same per-peer order and no device can wait forever;
// program/dependencies.hpp: every micro-batch's work once, in dependency order, on the planned
// slots; program/turns.hpp: a chunked schedule's stages together on their devices). Plan figures are
// constexpr: bubble_fraction, planned_timeline, peak_inflight_microbatches, bytes sent per sample.
//
// Options: uneven_microbatches (a batch not divisible by M is split as evenly as possible instead
// of being refused); spare_slots<K> (K more activation slots per stage than the schedule's peak in
// flight: memory for speed, where held messages would otherwise cost a bubble).

#include <array>
#include <cstddef>
#include <type_traits>

#include "../core/meta.hpp"
#include "../program/chunked_schedules.hpp"
#include "../program/dependencies.hpp"
#include "../program/schedule.hpp"
#include "../program/timeline.hpp"
#include "../program/turns.hpp"
#include "../program/verify.hpp"
#include "policy.hpp"
#include "stage_costs.hpp"
#include "stage_cuts.hpp"

namespace plait {

template <std::size_t M>
struct microbatches {
  static_assert(
      M >= 1,
      "plait: microbatches<0> has no micro-batches. A step needs at least one. Fix: use microbatches<M> with M >= 1.");
  static constexpr std::size_t count = M >= 1 ? M : 1;  // past the refusal above, one (one error printed)
};

template <class T>
struct is_microbatches : std::false_type {};
template <std::size_t M>
struct is_microbatches<microbatches<M>> : std::true_type {};

/// Option of pipeline: split a batch that M does not divide as evenly as possible.
struct uneven_microbatches {};

/// Option of pipeline: every stage plans K more activation slots than its peak of micro-batches in
/// flight (never more than one per micro-batch). A stage can then leave an activation it received in
/// its sender's slot until its own W has run, with no bubble added, where with the peak alone the
/// sender would wait for that slot and the message is copied instead (the zero-bubble schedules,
/// which defer W): K more micro-batches of activations held per stage, for no copy on the critical
/// path. `Policy::reads` says what is read in place; `model.activation_bytes(d)` what it holds.
template <std::size_t K>
struct spare_slots {
  static_assert(K >= 1,
                "plait: spare_slots<0> adds no activation slot. The option gives every stage K more slots than its "
                "peak in flight. Fix: remove the option, or write spare_slots<K> with K >= 1.");
  static constexpr std::size_t count = K;
};

template <class T>
struct is_spare_slots : std::false_type {};
template <std::size_t K>
struct is_spare_slots<spare_slots<K>> : std::true_type {};
/// The slots an option adds: K for spare_slots<K>, none for any other.
template <class T>
inline constexpr std::size_t spare_slots_of = 0;
template <std::size_t K>
inline constexpr std::size_t spare_slots_of<spare_slots<K>> = spare_slots<K>::count;  // checks K

template <std::size_t S, class MicroArg = microbatches<1>, class SchedArg = gpipe, class... Options>
struct pipeline {
  static_assert(
      S >= 1,
      "plait: pipeline<0> has no stages. A pipeline needs at least one stage. Fix: use pipeline<S> with S >= 1.");
  static_assert(is_microbatches<MicroArg>::value,
                "plait: pipeline's second argument is not microbatches<M>. It says how many micro-batches a step "
                "has. Fix: write pipeline<S, microbatches<M>, Schedule>.");
  static_assert(Schedule<SchedArg>,
                "plait: pipeline's third argument is not a schedule. The schedule orders forwards and backwards. "
                "Fix: use gpipe, one_f_one_b, zb_h1, interleaved_1f1b<V> or zb_v (or a type with name and "
                "programs<P, M>()).");
  static_assert(((std::is_same_v<Options, uneven_microbatches> || is_spare_slots<Options>::value) && ...),
                "plait: pipeline<S, M, Schedule, Options...> is given an option it does not know. Its options are "
                "uneven_microbatches and spare_slots<K>, or partition<T> alone as the inner policy of every stage; "
                "data parallelism goes outside, replicate<D, pipeline<...>>. Fix: remove or correct the option.");
  static_assert((std::size_t{0} + ... + std::is_same_v<Options, uneven_microbatches>) <= 1 &&
                    (std::size_t{0} + ... + is_spare_slots<Options>::value) <= 1,
                "plait: pipeline<S, M, Schedule, Options...> is given an option twice. Each option says one thing "
                "once. Fix: keep one uneven_microbatches and one spare_slots<K>.");

  // Past a refused argument the rest of the type reads a valid stand-in, so that the message above is
  // the only error the compiler prints (not the failures of everything built on the argument).
  using Micro = std::conditional_t<is_microbatches<MicroArg>::value, MicroArg, microbatches<1>>;
  using Sched = std::conditional_t<Schedule<SchedArg>, SchedArg, gpipe>;

  /// Stages per device: 1, or a chunked schedule's chunks (interleaved_1f1b<V>, zb_v).
  static constexpr std::size_t chunk_count = [] {
    if constexpr (is_chunked_schedule<Sched>) return std::size_t{Sched::chunks};
    else return std::size_t{1};
  }();
  static constexpr bool chunked = is_chunked_schedule<Sched>;
  /// The devices place(...) takes; each runs chunk_count stages, one logical device per stage.
  static constexpr std::size_t physical_device_count = S;
  static constexpr std::size_t stage_count = S * chunk_count;
  static constexpr std::size_t device_count = stage_count;
  static constexpr std::size_t microbatch_count = Micro::count;
  static constexpr std::size_t data_parallel_degree = 1;
  static constexpr bool uneven = (false || ... || std::is_same_v<Options, uneven_microbatches>);
  /// Activation slots each stage plans beyond its peak in flight (spare_slots<K>; 0 without).
  static constexpr std::size_t spare_slot_count = (std::size_t{0} + ... + spare_slots_of<Options>);
  static constexpr const char* name = "pipeline";
  using schedule = Sched;

  /// The fewest micro-batches the schedule works with (1 unless it says min_microbatches<S>).
  static constexpr std::size_t least_microbatches = [] {
    if constexpr (requires { Sched::template min_microbatches<S>; })
      return std::size_t{Sched::template min_microbatches<S>};
    else return std::size_t{1};
  }();
  static_assert(Micro::count >= least_microbatches,
                "plait: the pipeline has fewer micro-batches than its schedule needs. The schedule fills its "
                "stages with min_microbatches<S> micro-batches at least. Fix: raise microbatches<M>, or choose "
                "gpipe or one_f_one_b, which take any M.");

  /// A chunked schedule's order per device, split into one program per stage, with each instruction's
  /// place in its device's order (program/turns.hpp); unused otherwise.
  static constexpr auto turns = [] {
    if constexpr (chunked) return split_turns<stage_count>(Sched::template programs<S, Micro::count>());
    else return 0;
  }();
  /// Every stage's program (graph independent); peers are stage numbers.
  static constexpr auto schedule_programs = [] {
    if constexpr (chunked) return turns.programs;
    else return Sched::template programs<S, Micro::count>();
  }();
  /// Whether every instruction of stage s's program names stage s (what it runs: the layers of the
  /// stage it names, which only stage s's device holds).
  static constexpr bool stages_named = [] {
    for (std::size_t s = 0; s < schedule_programs.size(); ++s)
      for (const instruction& i : schedule_programs[s])
        if (i.op != opcode::nop && i.stage != s) return false;
    return true;
  }();
  static_assert(stages_named,
                "plait: a pipeline schedule's program for stage s has an instruction that names another stage. An "
                "instruction runs the layers of the stage it names, and only stage s's device holds stage s's layers. "
                "Fix: give every instruction of programs<P, M>()[s] .stage = s.");
  /// The device stage s runs on.
  static constexpr std::size_t device_of(std::size_t stage) {
    if constexpr (chunked) return turns.device[stage];
    else return stage;
  }
  /// Whether the schedule splits backwards into B and W (zero-bubble): outputs' gradients are kept for W.
  static constexpr bool splits_backward = plait::splits_backward(schedule_programs);

  /// The verification of all programs together, and its verdict as readable errors.
  static constexpr verdict check = verify_messages(schedule_programs);
  static_assert(check.kind != verdict::bad_peer,
                "plait: a pipeline program sends to or receives from a stage that does not exist (or itself). "
                "Every peer of a send or receive is another stage of the pipeline. Fix: correct the schedule's peers.");
  static_assert(check.kind != verdict::mismatch,
                "plait: a send and its receive disagree: the receive expects another micro-batch or message than "
                "the one sent first on that channel. Channels between stages are untagged, so sends and receives "
                "must come in the same order. Fix: order the schedule's sends as its peer receives them.");
  static_assert(check.kind != verdict::deadlock,
                "plait: the pipeline schedule can deadlock: a stage waits for a message that is never sent before "
                "the stage that should send it waits too. Fix: reorder the schedule so every receive follows its "
                "peer's send.");
  static_assert(check.kind != verdict::unmatched_send,
                "plait: a pipeline program sends a message that no stage receives. Every send needs its receive. "
                "Fix: add the receive or remove the send.");

  /// Every micro-batch computed in dependency order on the slots the runtime plans (program/dependencies.hpp).
  static constexpr order_verdict order =
      check ? verify_order(schedule_programs, Micro::count, {}, spare_slot_count) : order_verdict{};
  static_assert(order.kind != order_verdict::count,
                "plait: a pipeline schedule does not run every micro-batch's forward and backward exactly once on "
                "every stage (or the backward's two parts, backward_input and backward_weight, once each; the last "
                "stage its loss too; every stage boundary one activation and one gradient message each way). Fix: "
                "give each stage F and B, or F, B and W (and on the last, loss) once per micro-batch, with their "
                "sends and receives.");
  static_assert(order.kind != order_verdict::weight_order,
                "plait: a pipeline schedule runs a micro-batch's backward_weight (W) before its backward_input (B). "
                "W computes the parameters' gradients from the output gradients B keeps. Fix: put each W after the "
                "B of the same stage and micro-batch.");
  static_assert(order.kind != order_verdict::order,
                "plait: a pipeline schedule runs an instruction before what it depends on: a send before the forward "
                "or backward that computes it, a forward before its activation arrives, or a backward before its "
                "gradient or loss. Fix: order each micro-batch's work as receive, forward, send; and receive (or "
                "loss), backward, send.");
  static_assert(order.kind != order_verdict::slot_overwrite,
                "plait: a pipeline schedule takes an activation slot that an earlier micro-batch still needs: "
                "micro-batch mb lives in slot mb % slots (the stage's peak in flight, and any spare slots) until "
                "its backward. Fix: run backwards in the order of their forwards, or keep fewer micro-batches in "
                "flight.");
  static_assert(order.kind != order_verdict::slot_deadlock,
                "plait: a pipeline schedule can deadlock on its activation slots: a stage waits to reuse a slot "
                "whose message its peer takes only later. Fix: let each message be received before its slot is "
                "reused (fewer micro-batches in flight, or receives earlier).");

  /// Micro-batches of activations stage s holds at most at once (GPipe: M; 1F1B: at most S - s; ZB-H1:
  /// at most S, each from its forward to its W).
  static constexpr auto peak_inflight_microbatches = [] {
    std::array<std::size_t, stage_count> peak{};
    for (std::size_t s = 0; s < stage_count; ++s) peak[s] = peak_inflight(schedule_programs[s]);
    return peak;
  }();
  /// The activation slots each stage plans: its peak (at least one), and the spare slots asked for.
  static constexpr auto slots = [] {
    std::array<std::size_t, stage_count> k{};
    for (std::size_t s = 0; s < stage_count; ++s)
      k[s] = planned_slots(peak_inflight_microbatches[s], Micro::count, spare_slot_count);
    return k;
  }();
  /// Stages that take turns on a device run to their end together (program/turns.hpp): a stage waiting
  /// for a message holds its device.
  static constexpr turn_verdict turn_check = [] {
    if constexpr (chunked) return check && order ? verify_turns(turns, slots) : turn_verdict{};
    else return turn_verdict{};
  }();
  static_assert(turn_check.kind == turn_verdict::ok,
                "plait: the stages of a chunked pipeline schedule can deadlock taking turns on their devices: a "
                "stage waits for a message while holding its device, and the stage that would send it waits for "
                "that device too. Fix: order each device's instructions so that every receive comes after what its "
                "sender needs from this device.");
  /// The schedule as turns of its devices (one stage each where it has no chunks): what the
  /// slot-aware timeline below runs.
  static constexpr auto device_turns = [] {
    if constexpr (chunked) return turns;
    else return one_stage_per_device(schedule_programs);
  }();
  /// The bubble of the schedule on the planned slots with F, B and W of one unit each (a whole
  /// backward two), each kind of message copied or read in place (`r`); and, in `runs`, whether the
  /// programs run to their end that way under their devices' turns.
  static constexpr double unit_bubble(message_reads r, bool* runs = nullptr) {
    turn_verdict v;
    const double bubble =
        plan_turn_timeline(
            device_turns, slots,
            [](std::size_t, const instruction& i) {
              return i.op == opcode::forward ? 1.0 : i.op == opcode::backward ? 2.0 : is_backward(i.op) ? 1.0 : 0.0;
            },
            r, &v)
            .bubble_fraction();
    if (runs) *runs = bool(v);
    return bubble;
  }
  /// How stages read what they receive (runtime/detail/stage_messages.hpp): each kind in place, in
  /// the sender's memory, where the schedule still runs to its end on the planned slots with the
  /// sender's buffer held until its receiver is done with it (an activation until the receiver's
  /// last backward or W of its micro-batch, a gradient until its B) and no bubble grows; else copied.
  /// Under GPipe, 1F1B and interleaved 1F1B, activations are read in place (W follows B), but not
  /// gradients (the next B of a stage follows soon: its one gradient buffer would wait for the stage
  /// before); under the zero-bubble schedules, which defer W, the other way round, unless spare_slots
  /// gives each stage the slot a held activation needs (decided on the slots planned with it). (One run of the
  /// devices' turns decides each: where they run to the end, verify_order's run without turns does too.)
  static constexpr message_reads reads = [] {
    if (!check || !order || !turn_check) return message_reads{};
    const double copied = unit_bubble({});
    const auto costs_nothing = [&](message_reads r) {
      bool runs = false;
      const double bubble = unit_bubble(r, &runs);
      return runs && bubble <= copied + 1e-9;
    };
    const bool activations = costs_nothing({.activations = true}), gradients = costs_nothing({.gradients = true});
    if (activations && gradients && costs_nothing({true, true})) return message_reads{true, true};
    return message_reads{activations, activations ? false : gradients};
  }();
  static_assert(
      [] {
        for (std::size_t s = 0; s < stage_count; ++s)
          if (!slots_suffice(schedule_programs[s], slots[s])) return false;
        return true;
      }(),
      "plait: the schedule reuses an activation slot before its micro-batch's backward. Micro-batch mb lives "
      "in slot mb % slots. Fix: run backwards in the order of their forwards.");

  /// The bubble when every stage takes equal time (backward twice forward: B and W as long as F each):
  /// the idle share of a step.
  static constexpr double bubble_fraction = [] {
    if constexpr (chunked) {
      return unit_bubble(reads);
    } else {
      std::array<double, S> f{}, b{};
      for (std::size_t s = 0; s < S; ++s) f[s] = 1.0, b[s] = 2.0;
      return plan_timeline(schedule_programs, f, b).bubble_fraction();
    }
  }();

  template <RootedGraph G>
  static constexpr auto stages = [] {
    using C = graph_cuts<G>;
    static_assert(C::cut_count == 0 || C::cut_count + 1 == stage_count,
                  "plait: the graph's cut markers and pipeline<S> disagree on the number of stages. With explicit "
                  "cuts, a graph of K cuts has K + 1 stages (S x V under a schedule of V chunks per device). Fix: "
                  "make the stages one more than the cuts, or remove the cuts to let plait balance the stages.");
    static_assert(stage_count <= C::working_layers,
                  "plait: pipeline<S> has more stages than the graph has layers (S x V under a schedule of V chunks "
                  "per device). Every stage needs a layer to run. Fix: lower S or V, or deepen the graph.");
    if constexpr (C::cut_count > 0) return explicit_stages<G, stage_count>();
    else return balanced_stages<G, stage_count>();
  }();

  /// Where each stage's instruction j sits in its device's order (chunked schedules).
  template <RootedGraph G>
    requires chunked
  static constexpr auto turn_positions = turns.position;

  /// Each device holds the layers of its stage.
  template <RootedGraph G>
  static constexpr auto owned = stages<G>;

  template <RootedGraph G>
  static constexpr auto programs = schedule_programs;

  /// The planned timeline with stage costs from the graph's FLOPs (policy/stage_costs.hpp: forward,
  /// the backward's input and weight parts).
  template <RootedGraph G>
  static constexpr auto planned_timeline = [] {
    constexpr auto c = stage_costs<graph_layout<G>>(stages<G>);
    if constexpr (chunked) {
      return plan_turn_timeline(
          turns, slots, [&](std::size_t s, const instruction& i) { return c[s].of(i.op); }, reads);
    } else {
      std::array<double, S> f{}, input{}, weight{};
      for (std::size_t s = 0; s < S; ++s) f[s] = c[s].forward, input[s] = c[s].input, weight[s] = c[s].weight;
      return plan_timeline(schedule_programs, f, input, weight);
    }
  }();

  /// Floats sent per sample of the batch in one step: each stage boundary carries the activation
  /// forward and its gradient back.
  template <RootedGraph G>
  static constexpr std::size_t floats_sent_per_sample = [] {
    using L = graph_layout<G>;
    std::size_t n = 0;
    for (std::size_t s = 0; s + 1 < stage_count; ++s) n += 2 * L::out_sizes[stages<G>[s].last - 1];
    return n;
  }();
  template <RootedGraph G>
  static constexpr std::size_t bytes_per_step(std::size_t batch) {
    return batch * floats_sent_per_sample<G> * sizeof(float);
  }
};

static_assert(Policy<pipeline<2, microbatches<4>, one_f_one_b>>);

}  // namespace plait

#include "pipeline_partition.hpp"  // pipeline<S, M, Schedule, partition<T>>
