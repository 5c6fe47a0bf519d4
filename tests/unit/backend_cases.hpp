#pragma once
// Layer, loss and optimizer bodies written once and run on any backend (docs/contributing.md §8): each case
// runs on the fixture's context and compares every output (forward's y, backward's dx and
// parameter gradients, state, losses, updated parameters) with the host backend's.
//
// The including file includes backend_check.hpp, then defines
//   struct backend_fixture { Ctx ctx; Allocator mem; double tolerance; };
// and then includes this header. tests/unit/backend_cases_test.cpp runs the cases on
// host<openmp>; tests/cuda/layers_cuda_test.cu on a CUDA device.

#include "backend_check.hpp"

TEST_CASE_FIXTURE(backend_fixture, "linear matches the host: plain, fused relu, fused gelu on a sequence, wide") {
  using namespace plait;
  test::check_layer<linear_t<5>::bound<shape<7>>>(*this, 3, 1);
  test::check_layer<linear_t<6, relu_fn>::bound<shape<4>>>(*this, 5, 2);
  test::check_layer<linear_t<6, gelu_fn>::bound<shape<3, 4>>>(*this, 2, 3);
  test::check_layer<linear_t<300, tanh_fn>::bound<shape<9>>>(*this, 37,
                                                             4);  // 10 column groups, rows not a multiple of 8
}

TEST_CASE_FIXTURE(backend_fixture, "activations, conv2d and pooling match the host") {
  using namespace plait;
  test::check_layer<activation_t<sigmoid_fn>::bound<shape<10>>>(*this, 3, 5);
  test::check_layer<conv2d_t<4, 3, 1, 1>::bound<shape<2, 6, 5>>>(*this, 2, 6);
  test::check_layer<conv2d_t<3, 3, 2, 0>::bound<shape<2, 7, 7>>>(*this, 2, 7);
  test::check_layer<maxpool2d_t<2>::bound<shape<3, 6, 4>>>(*this, 2, 8);
  test::check_layer<avgpool2d_t<3, 2>::bound<shape<2, 7, 5>>>(*this, 2, 9);
}

TEST_CASE_FIXTURE(backend_fixture, "batchnorm2d and layernorm match the host") {
  using namespace plait;
  test::check_layer<batchnorm2d_t<>::bound<shape<3, 4, 4>>>(*this, 4, 10);
  test::check_layer<layernorm_t<>::bound<shape<2, 9>>>(*this, 5, 11);
}

TEST_CASE_FIXTURE(backend_fixture, "lstm, embedding, mean_pool and dropout match the host") {
  using namespace plait;
  test::check_layer<lstm_t<5>::bound<shape<4, 3>>>(*this, 3, 12);
  using E = embedding_t<7, 5>::bound<shape<4>>;
  test::check_layer<E>(*this, 3, 13, {2, 0, 2, 6, /**/ 6, 6, 1, 2, /**/ 0, 3, 2, 5});
  test::check_layer<mean_pool_t::bound<shape<4, 6>>>(*this, 3, 14);
  test::check_layer<dropout_t<0.3f>::bound<shape<50>>>(*this, 4, 15);
}

TEST_CASE_FIXTURE(backend_fixture, "residual and concat/add branches match the host") {
  using namespace plait;
  using R = decltype(residual(linear<6> >> plait::tanh >> linear<6>));
  test::check_layer<R::bound<shape<6>>>(*this, 3, 16);
  using P = decltype(residual(conv2d<4, 3, 1, 1> >> batchnorm2d, conv2d<4, 1>));
  test::check_layer<P::bound<shape<2, 5, 5>>>(*this, 2, 17);
  using C = decltype(concat(linear<4> >> relu, linear<3>));
  test::check_layer<C::bound<shape<5>>>(*this, 3, 18);
  using A = decltype(add(linear<4> >> plait::tanh, linear<4>));
  test::check_layer<A::bound<shape<5>>>(*this, 3, 19);
}

TEST_CASE_FIXTURE(backend_fixture, "cross_entropy and mse match the host") {
  using namespace plait;
  test::check_loss<shape<5>, cross_entropy_loss>(*this, 6, 20, [](const auto& ctx, auto& mem) {
    return class_labels{test::upload(ctx, mem, std::vector<std::int32_t>{0, 4, 2, 2, 1, 3}), 6};
  });
  test::check_loss<shape<3, 2>, mse_loss>(*this, 4, 21, [](const auto& ctx, auto& mem) {
    return samples<shape<3, 2>>{test::upload(ctx, mem, test::random_floats(4 * 6, 22)), 4};
  });
}

TEST_CASE_FIXTURE(backend_fixture, "sgd with momentum and adam match the host") {
  using namespace plait;
  test::check_optimizer(*this, sgd{.lr = 0.1f, .momentum = 0.9f, .weight_decay = 0.01f}, 20000);
  test::check_optimizer(*this, sgd{.lr = 0.1f, .momentum = 0.9f, .nesterov = true}, 1000);
  test::check_optimizer(*this, adam{.lr = 0.01f, .weight_decay = 0.01f}, 20000);
  test::check_optimizer(*this, adamw{.lr = 0.01f}, 1000);
}
