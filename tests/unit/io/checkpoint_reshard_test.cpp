// A checkpoint saved under any policy loads under any other (io/checkpoint.hpp): train k steps under
// policy A, save, load under policy B, train j more; the parameters equal k + j steps on one device.
//
// Tolerance: bitwise where the reduction order cannot differ (one device to one device; a policy to
// itself, against its own uninterrupted run); elsewhere the policies' sums of gradients run in another
// order (replicas, micro-batches, tensor shards), so the parameters agree to the relative tolerance of
// the policy tests (test::adam_tolerance, policy/equivalence.hpp), the same as without a checkpoint.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <plait/plait.hpp>
#include <string>

#include "policy/equivalence.hpp"

using namespace plait;
namespace fs = std::filesystem;

namespace {
constexpr auto net = input<6> >> linear<8> >> relu >> dropout<0.25> >> linear<8> >> plait::tanh >> linear<4>;
constexpr int k = 3, j = 2;

template <class M>
void train(M& m, adam& opt, int from, int steps) {
  for (int s = from; s < from + steps; ++s) {
    const test::batch_set<net> b(8, 700 + std::uint64_t(s));
    m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  }
}

template <class Policy>
auto placed(std::uint64_t seed) {
  return place<Policy>(net, host_devices(Policy::device_count), {.max_batch = 8, .seed = seed});
}

template <class Policy>
std::vector<float> uninterrupted() {
  adam opt;
  auto m = placed<Policy>(9);
  train(m, opt, 0, k + j);
  return m.gather_parameters();
}

template <class Save, class Load>
void resume_under(const fs::path& file, const std::vector<float>& single) {
  adam opt;
  auto m = placed<Load>(1);  // another seed: the checkpoint's seed drives dropout from here
  load_checkpoint(m, file, opt);
  CHECK(m.steps() == std::size_t(k));
  train(m, opt, k, j);
  const auto p = m.gather_parameters();
  INFO("saved under ", Save::name, ", loaded under ", Load::name);
  if constexpr (std::is_same_v<Save, Load>) CHECK(p == uninterrupted<Load>());
  if constexpr (std::is_same_v<Save, single_device> && std::is_same_v<Load, single_device>) CHECK(p == single);
  CHECK(test::max_relative_difference(p, single) < test::adam_tolerance);
}

template <class... L>
struct loads {};
using all = loads<single_device, replicate<2>, replicate<2, shard_optimizer>, pipeline<2, microbatches<4>>,
                  partition<2>, replicate<2, pipeline<2, microbatches<2>>>>;
}  // namespace

TEST_CASE_TEMPLATE("saved under one policy, resumed under each of the others", Save, single_device, replicate<2>,
                   replicate<2, shard_optimizer>, pipeline<2, microbatches<4>>, partition<2>,
                   replicate<2, pipeline<2, microbatches<2>>>) {
  const std::vector<float> single = uninterrupted<single_device>();
  adam opt;
  auto m = placed<Save>(9);
  train(m, opt, 0, k);
  const fs::path file =
      fs::temp_directory_path() / (std::string("plait_reshard_") + Save::name + std::to_string(Save::device_count));
  save_checkpoint(m, file, opt);
  [&]<class... L>(loads<L...>) { (resume_under<Save, L>(file, single), ...); }(all{});
  fs::remove(file);
}

TEST_CASE("running statistics travel with the checkpoint: saved by a pipeline's stages, loaded on one device") {
  constexpr auto cnn = input<2, 6, 6> >> conv2d<4, 3, 1, 1> >> batchnorm2d >> relu >> cut >> conv2d<3, 3> >>
                       batchnorm2d >> relu >> flatten >> linear<5>;
  sgd o1{.lr = 0.05f, .momentum = 0.9f}, o2 = o1;
  auto staged = place<pipeline<2, microbatches<1>>>(cnn, host_devices(2), {.max_batch = 8, .seed = 5});
  auto single = place(cnn, host_device(), {.max_batch = 8, .seed = 5});
  for (int s = 0; s < 3; ++s) {
    const test::batch_set<cnn> b(8, 40 + std::uint64_t(s));
    staged.train_step(b.xs(), b.ys(), cross_entropy, o1);
    single.train_step(b.xs(), b.ys(), cross_entropy, o2);
  }
  const fs::path file = fs::temp_directory_path() / "plait_reshard_batchnorm";
  save_checkpoint(staged, file, o1);
  auto loaded = place(cnn, host_device(), {.max_batch = 8});
  sgd o3 = o1;
  load_checkpoint(loaded, file, o3);
  const test::batch_set<cnn> b(8, 99);
  const auto want = single.evaluate(b.xs(), b.ys(), cross_entropy),
             got = loaded.evaluate(b.xs(), b.ys(), cross_entropy);
  CHECK(got.loss == doctest::Approx(want.loss).epsilon(1e-5));  // evaluation reads the running statistics
  state_io<decltype(loaded)::plan, host<>> a(loaded.placed()), s1(single.placed());
  const auto mine = a.gather_state(), theirs = s1.gather_state();
  int statistics = 0;
  for (const auto& t : model_tensors<test::graph_of<cnn>>())  // running_mean and running_var of both batchnorms
    if (t.from == model_tensor::source::state) {
      ++statistics;
      CHECK(test::max_relative_difference({mine.data() + t.offset, t.count}, {theirs.data() + t.offset, t.count}) <
            test::sgd_tolerance);
    }
  CHECK(statistics == 4);
  fs::remove(file);
}
