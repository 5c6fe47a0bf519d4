// Interleaved 1F1B sends its forwards through the chunks P micro-batches at a time: 3 micro-batches
// on 2 devices leave a round half full. The twin uses 4.
// expect: plait: interleaved_1f1b needs a number of micro-batches that the pipeline's devices divide
#include <plait/plait.hpp>
using namespace plait;

#ifdef PLAIT_FAIL
using policy = pipeline<2, microbatches<3>, interleaved_1f1b<2>>;
#else
using policy = pipeline<2, microbatches<4>, interleaved_1f1b<2>>;
#endif
static_assert(policy::stage_count == 4 && policy::physical_device_count == 2);
