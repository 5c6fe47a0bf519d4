// A mesh given replicate's options beside its inner policy.
// expect: plait: replicate<D, Inner, Options\.\.\.> is given options beside an inner policy
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
using policy = replicate<2, pipeline<2, microbatches<2>>, shard_optimizer>;
#else
using policy = replicate<2, pipeline<2, microbatches<2>>>;
#endif
static_assert(policy::device_count == 4);
