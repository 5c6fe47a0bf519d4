// Equivalence of replicate and pipeline with one device on convolutional models, on host devices.
// The cases are in models_equivalence_cases.hpp, shared with tests/cuda.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include "equivalence.hpp"

using on_backend = test::on_host;

#include "models_equivalence_cases.hpp"
