// kernels/copy.hpp on host devices (copy_host.hpp): copy, fill and the copies to and from the host
// move exactly n elements and nothing beyond.
#include <doctest/doctest.h>

#include <plait/kernels/copy_host.hpp>
#include <vector>

using namespace plait;

TEST_CASE_TEMPLATE("copy, fill, copy_to_host and copy_from_host", Ctx, host_context<sequential>, host_context<openmp>) {
  const Ctx ctx{};
  static_assert(copy_impl<typename Ctx::backend>::host_memory);
  const std::vector<double> src{1, 2, 3, 4, 5};
  std::vector<double> dst(6, -1.0);
  copy(ctx, dst.data(), src.data(), 4);
  CHECK(dst == std::vector<double>{1, 2, 3, 4, -1, -1});
  fill(ctx, dst.data() + 1, 3, 9.0);
  CHECK(dst == std::vector<double>{1, 9, 9, 9, -1, -1});
  copy_to_host(ctx, dst.data(), src.data() + 2, 3);
  CHECK(dst == std::vector<double>{3, 4, 5, 9, -1, -1});
  copy_from_host(ctx, dst.data() + 3, src.data(), 2);
  CHECK(dst == std::vector<double>{3, 4, 5, 1, 2, -1});
  // n = 0 touches nothing, even with null pointers.
  copy(ctx, static_cast<double*>(nullptr), static_cast<const double*>(nullptr), 0);
  fill(ctx, static_cast<double*>(nullptr), 0, 1.0);
  CHECK(dst == std::vector<double>{3, 4, 5, 1, 2, -1});
}
