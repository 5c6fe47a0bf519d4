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
}  // namespace
