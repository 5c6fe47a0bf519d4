// Data parallelism inside the stages of a pipeline: it belongs outside, replicate<D, pipeline<...>>.
// expect: plait: pipeline<S, M, Schedule, Options\.\.\.> is given an option it does not know
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
using policy = pipeline<2, microbatches<2>, gpipe, replicate<2>>;
#else
using policy = pipeline<2, microbatches<2>, gpipe, partition<2>>;
#endif
static_assert(policy::device_count >= 2);
