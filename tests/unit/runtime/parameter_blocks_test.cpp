// runtime/parameter_blocks.hpp: whole_parameters initialises each layer from its own stream of the
// seed at its offset, padding zero; copy_blocks copies a device's blocks out of the whole model and
// back, skipping blocks another stage holds.
#include <doctest/doctest.h>

#include <array>
#include <plait/kernels/copy_host.hpp>
#include <plait/runtime/parameter_blocks.hpp>
#include <vector>

using namespace plait;

namespace {
// A layout of two layers of 3 and 5 parameters at offsets 0 and 16; each draws uniform01 values.
template <std::size_t N>
struct drawing_layer {
  template <class T, class Rng>
  static void init(T* p, Rng& rng) {
    for (std::size_t i = 0; i < N; ++i) p[i] = rng.uniform01();
  }
};
struct fake_layout {
  static constexpr std::size_t layer_count = 2;
  static constexpr std::size_t param_buffer_size = 32;
  static constexpr std::array<std::size_t, 2> param_offsets{0, 16};
  template <std::size_t I>
  using layer = drawing_layer<I == 0 ? 3 : 5>;
};

struct block {
  std::size_t global, local, rows, cols, stride;
};
struct block_map {
  std::array<block, 3> b;
  std::size_t count;
};
struct fake_replica {
  std::vector<float> memory;
  std::size_t lo, size;
  host_context<sequential> c{};
  float* params() const { return const_cast<float*>(memory.data()); }
  std::size_t param_lo() const { return lo; }
  std::size_t param_size() const { return size; }
  const host_context<sequential>& ctx() const { return c; }
};
}  // namespace

TEST_CASE("whole_parameters: layer i from mix_seed(seed, i), at its offset; padding zero") {
  const auto all = whole_parameters<fake_layout>(11);
  REQUIRE(all.size() == 32);
  splitmix64 first(mix_seed(11, 0)), second(mix_seed(11, 1));
  for (std::size_t i = 0; i < 3; ++i) CHECK(all[i] == first.uniform01());
  for (std::size_t i = 0; i < 5; ++i) CHECK(all[16 + i] == second.uniform01());
  for (std::size_t i = 3; i < 16; ++i) CHECK(all[i] == 0.0f);
  for (std::size_t i = 21; i < 32; ++i) CHECK(all[i] == 0.0f);
  CHECK(whole_parameters<fake_layout>(11) == all);
  CHECK(whole_parameters<fake_layout>(12) != all);
}

TEST_CASE("copy_blocks: strided rows of the whole model to the device's packed blocks, and back") {
  std::vector<float> whole(40);
  for (std::size_t i = 0; i < whole.size(); ++i) whole[i] = float(i);
  // Device's params cover local offsets [8, 20): two blocks there, one of another stage at 30.
  fake_replica rep{std::vector<float>(12, -1.0f), 8, 12};
  const block_map map{{{{.global = 2, .local = 8, .rows = 2, .cols = 3, .stride = 10},    // 2..4, 12..14
                        {.global = 30, .local = 14, .rows = 1, .cols = 4, .stride = 4},   // 30..33
                        {.global = 0, .local = 30, .rows = 1, .cols = 2, .stride = 2}}},  // not this device's
                      3};
  copy_blocks(rep, map, whole.data(), true);
  CHECK(rep.memory == std::vector<float>{2, 3, 4, 12, 13, 14, 30, 31, 32, 33, -1, -1});
  std::vector<float> back(40, 0.0f);
  for (auto& v : rep.memory) v += 100;
  copy_blocks(rep, map, back.data(), false);
  CHECK(back[2] == 102);
  CHECK(back[14] == 114);
  CHECK(back[33] == 133);
  CHECK(back[0] == 0);  // the other stage's block is left alone
  CHECK(back[5] == 0);  // between rows of a block
}
