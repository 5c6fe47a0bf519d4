#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <plait/data/dataset.hpp>
#include <string>
#include <vector>

using plait::class_labels;
using plait::samples;
using plait::shape;
using image_set = plait::in_memory_dataset<shape<2, 2>, class_labels>;
using regression_set = plait::in_memory_dataset<shape<3>, samples<shape<2>>>;

namespace {

// Sample i has features 10*i + 0..3 and label i % 3.
image_set make_images(std::size_t n) {
  std::vector<float> x;
  std::vector<std::int32_t> y;
  for (std::size_t i = 0; i < n; ++i) {
    for (int k = 0; k < 4; ++k) x.push_back(static_cast<float>(10 * i + static_cast<std::size_t>(k)));
    y.push_back(static_cast<std::int32_t>(i % 3));
  }
  return image_set(std::move(x), std::move(y));
}

}  // namespace

static_assert(plait::Dataset<image_set>);
static_assert(plait::Dataset<regression_set>);
static_assert(!plait::Dataset<int>);
static_assert(image_set::x_size == 4 && image_set::y_size == 1);
static_assert(regression_set::x_size == 3 && regression_set::y_size == 2);

TEST_CASE("a label dataset exposes its samples, labels and classes") {
  const image_set d = make_images(5);
  CHECK(d.size() == 5);
  CHECK_FALSE(d.empty());
  CHECK(d.classes() == 3);

  const samples<shape<2, 2>> x = d.x();
  CHECK(x.count == 5);
  CHECK(x.sample(3)[0] == 30.0f);
  CHECK(x.sample(3)[3] == 33.0f);
  const class_labels y = d.y();
  CHECK(y.count == 5);
  CHECK(y.data[4] == 1);
}

TEST_CASE("gather copies the chosen samples in the order asked") {
  const image_set d = make_images(6);
  const std::size_t idx[] = {5, 0, 5, 2};
  std::vector<float> x(4 * 4, -1.0f);
  std::vector<std::int32_t> y(4, -1);
  d.gather(idx, x.data(), y.data());
  CHECK(x[0] == 50.0f);
  CHECK(x[3] == 53.0f);
  CHECK(x[4] == 0.0f);
  CHECK(x[8] == 50.0f);
  CHECK(x[15] == 23.0f);
  CHECK(y == std::vector<std::int32_t>{2, 0, 2, 2});

  const std::size_t bad[] = {6};
  CHECK_THROWS_WITH_AS(d.gather(bad, x.data(), y.data()), doctest::Contains("plait: dataset index 6 is out of range"),
                       plait::error);
}

TEST_CASE("a regression dataset carries YShape::size floats per sample") {
  const regression_set d({1, 2, 3, 4, 5, 6}, {0.5f, -1, 7, 8});
  CHECK(d.size() == 2);
  const samples<shape<2>> y = d.y();
  CHECK(y.count == 2);
  CHECK(y.sample(1)[0] == 7.0f);
  const std::size_t idx[] = {1};
  float x[3];
  float t[2];
  d.gather(idx, x, t);
  CHECK(x[2] == 6.0f);
  CHECK(t[1] == 8.0f);
}

TEST_CASE("constructors refuse inconsistent sizes and negative labels") {
  CHECK_THROWS_WITH_AS(image_set({1, 2, 3, 4, 5}, {0}), doctest::Contains("plait: dataset features hold 5 floats"),
                       plait::error);
  CHECK_THROWS_WITH_AS(image_set({1, 2, 3, 4}, {0, 1}), doctest::Contains("plait: dataset has 1 samples but 2 target"),
                       plait::error);
  CHECK_THROWS_WITH_AS(regression_set({1, 2, 3}, {1}), doctest::Contains("expected 2"), plait::error);
  CHECK_THROWS_WITH_AS(image_set({1, 2, 3, 4, 5, 6, 7, 8}, {0, -2}),
                       doctest::Contains("plait: dataset label of sample 1 is -2"), plait::error);
}

TEST_CASE("subset copies a contiguous range and checks it") {
  const image_set d = make_images(10);
  const image_set tail = d.subset(7, 3);
  CHECK(tail.size() == 3);
  CHECK(tail.x().sample(0)[0] == 70.0f);
  CHECK(tail.y().data[2] == 0);  // sample 9
  CHECK(d.subset(10, 0).empty());
  CHECK(d.subset(4, 1).classes() == 2);  // label 1 only: classes counts what the subset holds
  CHECK_THROWS_WITH_AS(d.subset(8, 3), doctest::Contains("plait: dataset subset"), plait::error);
  CHECK_THROWS_AS(d.subset(11, 0), plait::error);
  CHECK_THROWS_AS(d.subset(1, static_cast<std::size_t>(-1)), plait::error);  // would overflow first + count
}

TEST_CASE("an empty dataset is valid") {
  const image_set d;
  CHECK(d.size() == 0);
  CHECK(d.classes() == 0);
  CHECK(d.x().count == 0);
}

TEST_CASE("stats pools every feature value and standardize maps it to mean 0, deviation 1") {
  image_set d = make_images(3);  // features 0..3, 10..13, 20..23
  const plait::feature_stats s = d.stats();
  CHECK(s.mean == doctest::Approx(11.5));
  // Population variance: the values' spread about 11.5 (100 * 2/3 between samples, 1.25 within).
  CHECK(s.std == doctest::Approx(std::sqrt(200.0 / 3.0 + 1.25)));
  image_set other = make_images(2);
  d.standardize(s);
  other.standardize(s);  // another set takes the first one's statistics
  const plait::feature_stats after = d.stats();
  CHECK(after.mean == doctest::Approx(0.0).epsilon(1e-6));
  CHECK(after.std == doctest::Approx(1.0));
  CHECK(d.features()[5] == doctest::Approx((11.0 - 11.5) / s.std));
  CHECK(other.features()[0] == doctest::Approx(-11.5 / s.std));
  CHECK(d.targets() == make_images(3).targets());  // the labels are untouched
  CHECK(image_set().stats().std == 0.0f);
  CHECK_THROWS_WITH_AS(d.standardize({0.0f, 0.0f}), doctest::Contains("standard deviation > 0"), plait::error);
  CHECK_THROWS_AS(d.standardize({std::nanf(""), 1.0f}), plait::error);
}
