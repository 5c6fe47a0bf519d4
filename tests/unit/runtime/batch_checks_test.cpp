// runtime/batch_checks.hpp: check_batch refuses empty, oversized and mismatched batches with plait
// messages; count_correct counts the rows whose arg-max is the label.
#include <doctest/doctest.h>

#include <cstdint>
#include <plait/runtime/batch_checks.hpp>
#include <vector>

using namespace plait;

TEST_CASE("check_batch accepts 1..max_batch samples with as many targets") {
  CHECK_NOTHROW(check_batch(1, 1, 8, "train_step"));
  CHECK_NOTHROW(check_batch(8, 8, 8, "train_step"));
}

TEST_CASE("check_batch's messages name the call, the numbers, and the fix") {
  CHECK_THROWS_WITH_AS(
      check_batch(0, 0, 8, "train_step"),
      "plait: train_step is given an empty batch. a step needs at least one sample. Fix: skip empty batches.", error);
  CHECK_THROWS_WITH_AS(
      check_batch(9, 9, 8, "evaluate"),
      "plait: evaluate is given a batch of 9 samples, more than max_batch = 8. activations were planned at "
      "place(...) for max_batch samples. Fix: raise place_options.max_batch.",
      error);
  CHECK_THROWS_WITH_AS(
      check_batch(4, 3, 8, "train_step"),
      "plait: train_step is given 4 samples but 3 targets. every sample needs its target. Fix: pass views "
      "of equal count.",
      error);
}

TEST_CASE("check_views refuses a filled view at a null pointer, samples or targets; an empty one passes") {
  const std::vector<float> x(8, 0.5f);
  const std::vector<std::int32_t> y(2, 1);
  CHECK_NOTHROW(check_views(samples<shape<4>>{x.data(), 2}, class_labels{y.data(), 2}, "train_step"));
  CHECK_NOTHROW(check_views(samples<shape<4>>{nullptr, 0}, class_labels{nullptr, 0}, "train_step"));
  CHECK_THROWS_WITH_AS(check_views(samples<shape<4>>{nullptr, 2}, class_labels{y.data(), 2}, "train_step"),
                       "plait: train_step is given 2 samples at a null pointer. a view reads its count of samples "
                       "from its data pointer. Fix: pass the data() of the buffer that holds the samples, filled "
                       "before the call.",
                       error);
  CHECK_THROWS_WITH_AS(check_views(samples<shape<4>>{x.data(), 2}, class_labels{nullptr, 2}, "pc_step"),
                       doctest::Contains("plait: pc_step is given 2 targets at a null pointer"), error);
  struct none {};  // a target type that is no view (predict's): only the samples are checked
  CHECK_NOTHROW(check_views(samples<shape<4>>{x.data(), 2}, none{}, "predict"));
}

TEST_CASE("count_correct: the arg-max of each row against its label, the first of equal maxima") {
  const std::vector<float> out{0.1f, 0.7f, 0.2f,   // 1
                               0.5f, 0.5f, 0.0f,   // 0 (the first of equal maxima)
                               -1.f, -2.f, -0.5f,  // 2
                               0.3f, 0.2f, 0.1f};  // 0
  const std::vector<std::int32_t> labels{1, 1, 2, 2};
  CHECK(count_correct<3>(out.data(), class_labels{labels.data(), 4}) == 2);
  const std::vector<std::int32_t> all{1, 0, 2, 0};
  CHECK(count_correct<3>(out.data(), class_labels{all.data(), 4}) == 4);
  CHECK(count_correct<3>(out.data(), class_labels{all.data(), 0}) == 0);
}
