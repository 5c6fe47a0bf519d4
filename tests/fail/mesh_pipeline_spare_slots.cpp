// A mesh whose inner pipeline asks for spare activation slots: a mesh's stages copy what they
// receive, so the slots would hold memory and serve nothing. The twin trains that pipeline alone.
// expect: plait: replicate<D, pipeline<\.\.\., spare_slots<K>>> would plan spare activation slots that nothing uses
#include <plait/policy/mesh.hpp>
#include <plait/policy/pipeline.hpp>
using namespace plait;
using inner = pipeline<2, microbatches<8>, zb_h1, spare_slots<1>>;
#ifdef PLAIT_FAIL
using policy = replicate<2, inner>;
static_assert(policy::device_count == 4);
#else
static_assert(inner::device_count == 2 && inner::reads.activations);
#endif
