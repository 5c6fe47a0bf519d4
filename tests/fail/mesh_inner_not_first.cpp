// The inner policy of a mesh given after an option.
// expect: plait: replicate<N, Options\.\.\.> is given an option it does not know
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
using policy = replicate<2, buckets<bucket_plan{.bytes = 1 << 20}>, partition<2>>;
#else
using policy = replicate<2, buckets<bucket_plan{.bytes = 1 << 20}>>;
#endif
static_assert(policy::device_count == 2);
