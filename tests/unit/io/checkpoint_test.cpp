// Checkpoints (io/checkpoint.hpp): PyTorch's names and shapes, a resume that continues training to the
// bit, the loader's position, and every bad file refused with the model left as it was.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <plait/plait.hpp>
#include <string>
#include <vector>

#include "policy/equivalence.hpp"

using namespace plait;
namespace fs = std::filesystem;

namespace {
constexpr auto mlp = input<6> >> linear<8> >> relu >> dropout<0.25> >> linear<8> >> plait::tanh >> linear<4>;
constexpr auto cnn =
    input<2, 6, 6> >> conv2d<4, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2> >> flatten >> linear<5>;
constexpr auto seq = input<5> >> embedding<11, 4> >> lstm<3> >> layernorm >> flatten >> linear<2>;

fs::path temp(const std::string& name) { return fs::temp_directory_path() / ("plait_checkpoint_test_" + name); }

template <auto Net, class M, class Opt>
void train(M& m, Opt& opt, int steps, int from) {
  for (int s = from; s < from + steps; ++s) {
    const test::batch_set<Net> b(8, 500 + std::uint64_t(s));
    m.train_step(b.xs(), b.ys(), cross_entropy, opt);
  }
}

std::string load_error(auto& m, const fs::path& p, const auto& opt) {
  try {
    load_checkpoint(m, p, opt);
  } catch (const plait::error& e) {
    return e.what();
  }
  return "loaded";
}
}  // namespace

TEST_CASE("tensors are named and shaped as the equivalent nn.Sequential's state_dict") {
  const auto t = model_tensors<test::graph_of<cnn>>();
  std::vector<std::string> names;
  for (const auto& x : t) names.push_back(x.name);
  CHECK(names == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                          "1.num_batches_tracked", "5.weight", "5.bias"});
  CHECK(t[0].shape == std::vector<std::uint64_t>{4, 2, 3, 3});
  CHECK(t[7].shape == std::vector<std::uint64_t>{5, 36});
  const auto m =
      model_tensors<test::graph_of<mlp>>();  // linear >> relu is Linear, ReLU: 0, (1), (2 dropout), 3, (4 tanh), 5
  CHECK(m[2].name == "3.weight");
  CHECK(m[4].name == "5.weight");
  CHECK(m[0].shape == std::vector<std::uint64_t>{8, 6});
  const auto s = model_tensors<test::graph_of<seq>>();
  CHECK(s[0].name == "0.weight");
  CHECK(s[1].name == "1.weight_ih_l0");
  CHECK(s[1].shape == std::vector<std::uint64_t>{12, 4});
  CHECK(s[2].shape == std::vector<std::uint64_t>{12, 3});
  CHECK(s[5].name == "2.weight");
  CHECK(s[5].shape == std::vector<std::uint64_t>{5, 3});
  CHECK(s[7].name == "4.weight");
}

TEST_CASE_TEMPLATE("resuming a checkpoint continues training to the bit", Opt, sgd, adam, adamw) {
  Opt o1{}, o2{}, o3{};
  if constexpr (std::is_same_v<Opt, sgd>) o1.momentum = o2.momentum = o3.momentum = 0.9f;
  auto whole = place(cnn, host_device(), {.max_batch = 8, .seed = 4});
  train<cnn>(whole, o1, 5, 0);
  auto first = place(cnn, host_device(), {.max_batch = 8, .seed = 4});
  train<cnn>(first, o2, 3, 0);
  const auto p = temp("resume.safetensors");
  // [docs:resume]
  save_checkpoint(first, p, o2);
  auto resumed = place(cnn, host_device(), {.max_batch = 8, .seed = 99});  // another seed: the checkpoint's is used
  load_checkpoint(resumed, p, o3);
  // [/docs:resume]
  CHECK(resumed.steps() == 3);
  CHECK(resumed.gather_parameters() == first.gather_parameters());
  train<cnn>(resumed, o3, 2, 3);
  CHECK(resumed.gather_parameters() == whole.gather_parameters());
  const test::batch_set<cnn> b(8, 1);
  const auto a = whole.evaluate(b.xs(), b.ys(), cross_entropy), c = resumed.evaluate(b.xs(), b.ys(), cross_entropy);
  CHECK(a.loss == c.loss);  // the running statistics came along
  fs::remove(p);
}

TEST_CASE("dropout's stream resumes: a model with dropout continues to the bit") {
  adam o1, o2, o3;
  auto whole = place(mlp, host_device(), {.max_batch = 8, .seed = 5});
  train<mlp>(whole, o1, 4, 0);
  auto first = place(mlp, host_device(), {.max_batch = 8, .seed = 5});
  train<mlp>(first, o2, 2, 0);
  save_checkpoint(first, temp("dropout.safetensors"), o2);
  auto resumed = place(mlp, host_device(), {.max_batch = 8, .seed = 0});
  load_checkpoint(resumed, temp("dropout.safetensors"), o3);
  train<mlp>(resumed, o3, 2, 2);
  CHECK(resumed.gather_parameters() == whole.gather_parameters());
}

TEST_CASE("a bad file is refused with the tensor named, and the model is unchanged") {
  adam opt;
  auto m = place(cnn, host_device(), {.max_batch = 8, .seed = 4});
  train<cnn>(m, opt, 2, 0);
  const auto p = temp("good.safetensors");
  save_checkpoint(m, p, opt);
  auto target = place(cnn, host_device(), {.max_batch = 8, .seed = 7});
  const auto before = target.gather_parameters();
  const auto unchanged = [&] {
    CHECK(target.gather_parameters() == before);
    CHECK(target.steps() == 0);
  };

  const auto bytes = [&] {
    std::ifstream in(p, std::ios::binary);
    return std::vector<char>(std::istreambuf_iterator<char>(in), {});
  }();
  const auto write = [&](const fs::path& q, const std::vector<char>& b) {
    std::ofstream(q, std::ios::binary).write(b.data(), std::streamsize(b.size()));
  };

  auto flipped = bytes;
  flipped[flipped.size() - 3] ^= 0x40;  // the last tensor's data
  write(temp("flipped"), flipped);
  CHECK(load_error(target, temp("flipped"), opt).find("fails its checksum") != std::string::npos);
  unchanged();

  write(temp("truncated"), std::vector<char>(bytes.begin(), bytes.end() - 100));
  CHECK(load_error(target, temp("truncated"), opt).find("of a data section of") != std::string::npos);
  unchanged();
  write(temp("cut"), std::vector<char>(bytes.begin(), bytes.begin() + 50));
  CHECK(load_error(target, temp("cut"), opt).find("runs beyond the file") != std::string::npos);

  // [docs:refused]
  auto other = place(input<2, 6, 6> >> conv2d<4, 3, 1, 1> >> relu >> maxpool2d<2> >> flatten >> linear<5>,
                     host_device(), {.max_batch = 8});
  const std::string sig = load_error(other, p, opt);  // load_checkpoint's plait::error, caught
  // [/docs:refused]
  CHECK(sig.find("saved from another graph") != std::string::npos);
  CHECK(sig.find("batchnorm2d") != std::string::npos);  // the saved graph is described

  sgd plain;
  CHECK(load_error(target, p, plain).find("saved with the optimizer adam, not sgd") != std::string::npos);
  save_weights(m, temp("weights"));
  CHECK(load_error(target, temp("weights"), opt).find("holds weights only") != std::string::npos);
  unchanged();

  auto wider =
      place(input<2, 6, 6> >> conv2d<5, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2> >> flatten >> linear<5>,
            host_device(), {.max_batch = 8});
  try {
    load_weights(wider, p);
    FAIL("loaded");
  } catch (const plait::error& e) {
    CHECK(std::string(e.what()).find("tensor '0.weight' has shape [4, 2, 3, 3] where the model has [5, 2, 3, 3]") !=
          std::string::npos);
  }
  auto fewer = place(input<2, 6, 6> >> conv2d<4, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2> >> flatten >>
                         linear<5> >> relu >> linear<3>,
                     host_device(), {.max_batch = 8});
  try {
    load_weights(fewer, p);
    FAIL("loaded");
  } catch (const plait::error& e) {
    CHECK(std::string(e.what()).find("tensor '7.weight' is missing") != std::string::npos);
  }
  for (const char* f : {"good.safetensors", "flipped", "truncated", "cut", "weights"}) fs::remove(temp(f));
}

TEST_CASE("the loader's position is saved and remapped to another global batch, or refused") {
  std::vector<float> x(64 * 6);
  std::vector<std::int32_t> y(64);
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = float(i % 7) * 0.1f;
  in_memory_dataset<shape<6>, class_labels> data(x, y);
  auto m = place(mlp, host_device(), {.max_batch = 16});
  sgd opt;
  sharded_sampler s8(64, 1, {.global_batch = 8, .seed = 3});
  loader<decltype(data)> l8(data, s8);
  auto range = l8.epoch(2);
  auto it = range.begin();
  for (int k = 0; k < 5; ++k) ++it;  // batches 0..5 handed, 6 taken
  save_checkpoint(m, temp("pos"), opt, l8);
  sharded_sampler s16(64, 2, {.global_batch = 16, .seed = 3});
  loader<decltype(data)> l16(data, s16);
  // [docs:position]
  const data_position at = load_checkpoint(m, temp("pos"), opt, l16);  // saved at batch 6 of 8, read in batches of 16
  // [/docs:position]
  CHECK(at.epoch == 2);
  CHECK(at.batch == 3);  // 6 batches of 8 = 3 of 16
  sharded_sampler s32(64, 1, {.global_batch = 32, .seed = 3});
  loader<decltype(data)> l32(data, s32);
  CHECK_THROWS_WITH_AS(load_checkpoint(m, temp("pos"), opt, l32),
                       doctest::Contains("stopped after 48 samples of epoch 2"), plait::error);
  sharded_sampler other(64, 1, {.global_batch = 8, .seed = 4});
  loader<decltype(data)> lo(data, other);
  CHECK_THROWS_WITH_AS(load_checkpoint(m, temp("pos"), opt, lo), doctest::Contains("its data order has seed 3"),
                       plait::error);
  // resuming the loader there gives the batches the saved run had not seen yet
  auto rest = l16.epoch(at.epoch, at.batch).begin();
  CHECK(rest->number == 3);
  s8.set_epoch(2);  // the loader kept its own copy of the sampler
  CHECK(std::ranges::equal(rest->indices.subspan(0, 8), s8.global_indices(6)));
  fs::remove(temp("pos"));
}

TEST_CASE("keep_last keeps the previous files beside the newest") {
  sgd opt;
  auto m = place(mlp, host_device(), {.max_batch = 8});
  const auto p = temp("kept");
  for (int k = 0; k < 4; ++k) {
    train<mlp>(m, opt, 1, k);
    save_checkpoint(m, p, opt, {.keep_last = 3});
  }
  CHECK(fs::exists(p));
  CHECK(fs::exists(atomic_file::older(p, 1)));
  CHECK(fs::exists(atomic_file::older(p, 2)));
  CHECK(!fs::exists(atomic_file::older(p, 3)));
  CHECK(safetensors_file(p).header().meta("plait.step") == "4");
  CHECK(safetensors_file(atomic_file::older(p, 2)).header().meta("plait.step") == "2");
  for (int k = 0; k < 3; ++k) fs::remove(k ? atomic_file::older(p, std::size_t(k)) : p);
}
