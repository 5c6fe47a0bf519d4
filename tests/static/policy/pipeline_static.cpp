// policy/pipeline.hpp: the pipeline's stages, bytes sent and bubble, checked at compile time (the
// schedules' programs are in tests/static/program/schedule_static.cpp).
#include <plait/plait.hpp>

namespace {
using namespace plait;

constexpr bool close(double a, double b) { return a - b < 1e-12 && b - a < 1e-12; }
// Stage cuts: balanced by FLOPs, or at explicit cuts.
using net = std::remove_const_t<decltype(input<64> >> linear<256> >> relu >> linear<256> >> relu >> linear<256> >>
                                         relu >> linear<256> >> relu >> linear<10>)>;
constexpr auto two = pipeline<2, microbatches<4>>::stages<net>;
static_assert(two[0].first == 0 && two[0].last == 2 && two[1].first == 2 &&
              two[1].last == 5);  // the max is 2 of the 3 wide layers
using cut_net =
    std::remove_const_t<decltype(input<8> >> linear<8> >> cut >> linear<8> >> linear<8> >> cut >> linear<2>)>;
constexpr auto three = pipeline<3, microbatches<2>>::stages<cut_net>;
static_assert(three[0].first == 0 && three[0].last == 2 && three[1].last == 5 && three[2].last == 6);
static_assert(pipeline<3, microbatches<2>>::floats_sent_per_sample<cut_net> == 2 * (8 + 8));
static_assert(pipeline<3, microbatches<2>>::bytes_per_step<cut_net>(10) == 10 * 32 * sizeof(float));

// M = 1 is plain model parallelism: no overlap, the bubble is (p-1)/p.
static_assert(close(pipeline<4, microbatches<1>>::bubble_fraction, 0.75));

// What stages read in place (the rest is copied): the kind whose holding costs no bubble. Under
// 1F1B at p = 2, m = 8 (F = B = W = 1) the unit bubble is 2 / 18 whether activations are copied or
// read in place (W follows B, the receiver's B frees the sender's slot before the sender needs it);
// reading gradients in place would hold stage 1's one gradient buffer until stage 0's B of each
// micro-batch, and stage 1's next B would wait for it: 5 / 17.
using p1f1b = pipeline<2, microbatches<8>, one_f_one_b>;
static_assert(p1f1b::reads.activations && !p1f1b::reads.gradients);
static_assert(close(p1f1b::unit_bubble({}), 2.0 / 18) && close(p1f1b::unit_bubble({.activations = true}), 2.0 / 18) &&
              close(p1f1b::unit_bubble({.gradients = true}), 5.0 / 17));
// GPipe keeps every micro-batch in a slot of its own: nothing is reused within a step, both kinds are read in place.
static_assert(pipeline<4, microbatches<8>, gpipe>::reads.activations &&
              pipeline<4, microbatches<8>, gpipe>::reads.gradients);
static_assert(pipeline<2, microbatches<8>, interleaved_1f1b<2>>::reads.activations &&
              !pipeline<2, microbatches<8>, interleaved_1f1b<2>>::reads.gradients);
// Zero-bubble schedules defer W: an activation read in place would hold its sender's slot until
// then (ZB-H1 at p = 2, m = 8: 0.226 instead of 0.04); their gradients, read at B, cost nothing.
using pzb = pipeline<2, microbatches<8>, zb_h1>;
static_assert(!pzb::reads.activations && pzb::reads.gradients);
static_assert(close(pzb::unit_bubble({}), 1.0 / 25) && pzb::unit_bubble({.activations = true}) > 0.2);
static_assert(!pipeline<2, microbatches<8>, zb_v>::reads.activations &&
              pipeline<2, microbatches<8>, zb_v>::reads.gradients);
}  // namespace
