// replicate nested in replicate: one replicate of the product is meant.
// expect: plait: replicate<D, Inner> is given an inner policy with data parallelism of its own
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
using policy = replicate<2, replicate<2>>;
#else
using policy = replicate<2, partition<2>>;
#endif
static_assert(policy::device_count == 4);
