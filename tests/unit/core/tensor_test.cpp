// core/tensor.hpp: views of a batch (samples, samples_out, class_labels), their slices, and the
// concepts that accept them.
#include <doctest/doctest.h>

#include <cstdint>
#include <numeric>
#include <plait/core/tensor.hpp>
#include <vector>

using namespace plait;

static_assert(Samples<samples<shape<3>>> && Target<class_labels> && !Target<int>);
static_assert(Samples<samples<shape<2, 2>, double>> && Target<samples<shape<1>>>);
static_assert(!Samples<samples_out<shape<3>>> && !Samples<class_labels> && !Target<samples_out<shape<3>>>);

TEST_CASE("samples: values, one sample, and a slice, all views of the same memory") {
  std::vector<float> data(5 * 6);
  std::iota(data.begin(), data.end(), 0.0f);
  const samples<shape<2, 3>> x{data.data(), 5};
  CHECK(x.values().size() == 30);
  CHECK(x.values().data() == data.data());
  CHECK(x.sample(0) == data.data());
  CHECK(x.sample(3)[0] == 18.0f);
  const auto s = x.slice(2, 3);
  CHECK(s.count == 3);
  CHECK(s.data == data.data() + 12);
  CHECK(s.sample(2) == x.sample(4));
  CHECK(s.values().size() == 18);
  CHECK(x.slice(5, 0).values().empty());
}

TEST_CASE("class_labels slice") {
  const std::vector<std::int32_t> y{3, 1, 4, 1, 5};
  const class_labels labels{y.data(), y.size()};
  const auto s = labels.slice(1, 3);
  CHECK(s.count == 3);
  CHECK(s.data[0] == 1);
  CHECK(s.data[2] == 1);
  CHECK(labels.slice(4, 1).data[0] == 5);
}
