#pragma once
// Fusion rules of the expression: when `a >> b` has a rule, the chain holds one layer that does
// the work of both in one pass over memory (e.g. linear >> relu: bias and activation in the GEMM's
// epilogue). Layers add rules by specialising `fusion`.

namespace plait {

template <class A, class B>
struct fusion {};  // no rule: a >> b stays two layers

template <class A, class B>
concept has_fusion = requires { typename fusion<A, B>::type; };

template <class A, class B>
using fused_t = typename fusion<A, B>::type;

}  // namespace plait
