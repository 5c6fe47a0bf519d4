// layers/activation_fn.hpp: each activation's value, and its derivative against a central difference,
// taken from the output (relu, tanh, sigmoid, identity) or from the pre-activation (gelu).
#include <doctest/doctest.h>

#include <cmath>
#include <plait/layers/activation_fn.hpp>
#include <string>

using namespace plait;

namespace {
/// d act/dz at z, as the function gives it: from y = act(z) or from z.
template <class Act>
double derivative_at(double z) {
  return Act::grad(Act::grad_from_output ? Act::apply(z) : z);
}
template <class Act>
void check_derivative() {
  for (double z : {-3.0, -1.2, -0.3, 0.4, 0.9, 2.5}) {
    CAPTURE(z);
    const double h = 1e-6;
    const double numeric = (Act::apply(z + h) - Act::apply(z - h)) / (2 * h);
    CHECK(derivative_at<Act>(z) == doctest::Approx(numeric).epsilon(1e-6));
  }
}
}  // namespace

TEST_CASE("values") {
  CHECK(identity_fn::apply(-2.5) == -2.5);
  CHECK(relu_fn::apply(-2.0f) == 0.0f);
  CHECK(relu_fn::apply(3.0f) == 3.0f);
  CHECK(tanh_fn::apply(0.5) == std::tanh(0.5));
  CHECK(sigmoid_fn::apply(0.0) == 0.5);
  CHECK(sigmoid_fn::apply(2.0) == doctest::Approx(1 / (1 + std::exp(-2.0))));
  // GELU(z) = z * Phi(z): Phi(1) = 0.841344746...
  CHECK(gelu_fn::apply(1.0) == doctest::Approx(0.8413447460685429));
  CHECK(gelu_fn::apply(0.0) == 0.0);
  CHECK(gelu_fn::apply(-1.0) == doctest::Approx(-1.0 + 0.8413447460685429));
}

TEST_CASE("derivatives against central differences") {
  check_derivative<identity_fn>();
  check_derivative<relu_fn>();
  check_derivative<tanh_fn>();
  check_derivative<sigmoid_fn>();
  check_derivative<gelu_fn>();
  // relu's derivative from its output: 0 where the output is 0.
  CHECK(relu_fn::grad(0.0f) == 0.0f);
  CHECK(relu_fn::grad(0.1f) == 1.0f);
}

TEST_CASE("only gelu needs its pre-activation; chain_grad<Act>(dy, from) is dy * Act::grad(from)") {
  static_assert(identity_fn::grad_from_output && relu_fn::grad_from_output && tanh_fn::grad_from_output &&
                sigmoid_fn::grad_from_output && !gelu_fn::grad_from_output);
  static_assert(identity_fn::flops == 0 && relu_fn::flops == 1);
  CHECK(chain_rule<tanh_fn>{}(1.5f, 0.3f) == 1.5f * tanh_fn::grad(0.3f));
  CHECK(chain_rule<gelu_fn>{}(-2.0, -0.7) == -2.0 * gelu_fn::grad(-0.7));
  for (float y : {-1.0f, 0.0f, 0.25f, 3.0f})
    for (float dy : {-2.0f, 0.5f}) {
      CAPTURE(y);
      CAPTURE(dy);
      CHECK(chain_grad<relu_fn>(dy, y) == dy * relu_fn::grad(y));
      CHECK(chain_grad<identity_fn>(dy, y) == dy);
    }
  CHECK(std::string(gelu_fn::name) == "gelu");
}

TEST_CASE("relu's chain rule is a select, as torch's threshold_backward") {
  const float nan = std::nanf("");
  CHECK(std::isnan(chain_grad<relu_fn>(nan, 1.0f)));  // a NaN gradient where the unit is on passes through
  CHECK(chain_grad<relu_fn>(nan, 0.0f) == 0.0f);      // and is dropped where it is off, as in torch
  CHECK(chain_grad<relu_fn>(2.0f, nan) == 2.0f);      // a NaN output counts as on (relu passes NaN through)
}
