// spare_slots<0>: an option that adds no activation slot. The twin adds one.
// expect: plait: spare_slots<0> adds no activation slot
#include <plait/policy/pipeline.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
using policy = pipeline<2, microbatches<8>, zb_v, spare_slots<0>>;
#else
using policy = pipeline<2, microbatches<8>, zb_v, spare_slots<1>>;
#endif
static_assert(policy::slots[0] >= 1);
