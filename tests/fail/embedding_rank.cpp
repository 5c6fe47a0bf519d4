// An embedding given two ids per step: embedding reads one sequence of token ids, shape<T>.
// expect: plait: embedding<Vocab, Dim> is given an input of rank other than 1.*Fix: give it input<T> of token ids
#include <plait/layers/embedding.hpp>
#include <plait/plait.hpp>
using namespace plait;
#ifdef PLAIT_FAIL
constexpr auto net = input<6, 2> >> embedding<50, 4>;
#else
constexpr auto net = input<6, 2> >> flatten >> embedding<50, 4>;
#endif
static_assert(std::is_same_v<output_shape_t<decltype(net)>, shape<12, 4>>);
