// A schedule that needs at least 2 micro-batches per stage, given fewer.
// expect: plait: the pipeline has fewer micro-batches than its schedule needs
#include <plait/plait.hpp>
using namespace plait;

struct deep_schedule : one_f_one_b {  // 1F1B's programs, stated to need 2 micro-batches per stage
  static constexpr const char* name = "deep_schedule";
  template <std::size_t P>
  static constexpr std::size_t min_microbatches = 2 * P;
};

#ifdef PLAIT_FAIL
static_assert(pipeline<2, microbatches<3>, deep_schedule>::stage_count == 2);
#else
static_assert(pipeline<2, microbatches<4>, deep_schedule>::stage_count == 2);
#endif
