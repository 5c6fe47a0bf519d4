// The plait side of tests/unit/io/torch_interchange.py: trains an MLP and a CNN, saves their weights
// for PyTorch with their inputs and predictions (`save DIR`), and loads weights PyTorch saved to
// predict the same inputs (`load DIR`). Floats go through raw little-endian files.
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <plait/plait.hpp>
#include <string>
#include <vector>

using namespace plait;
namespace fs = std::filesystem;

namespace {
// [docs:torch_twins]
constexpr auto mlp = input<20> >> linear<32> >> relu >> dropout<0.1> >> linear<16> >> plait::tanh >> linear<5>;
constexpr auto cnn = input<3, 10, 10> >> conv2d<6, 3, 1, 1> >> batchnorm2d >> relu >> maxpool2d<2> >> conv2d<8, 3> >>
                     relu >> flatten >> linear<10>;
// [/docs:torch_twins]
constexpr std::size_t rows = 16;

void put(const fs::path& p, const float* v, std::size_t n) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(v), std::streamsize(n * sizeof(float)));
}
std::vector<float> get(const fs::path& p, std::size_t n) {
  std::vector<float> v(n);
  std::ifstream in(p, std::ios::binary);
  in.read(reinterpret_cast<char*>(v.data()), std::streamsize(n * sizeof(float)));
  if (!in) throw std::runtime_error("cannot read " + p.string());
  return v;
}

template <auto Net>
void run(const std::string& name, const fs::path& dir, bool save) {
  using G = std::remove_cvref_t<decltype(Net)>;
  using in = typename G::input_shape;
  constexpr std::size_t out = output_shape_t<G>::size;
  auto m = place(Net, host_device(), {.max_batch = rows, .seed = 3});
  std::vector<float> x(rows * in::size);
  splitmix64 rng(17);
  for (auto& v : x) v = rng.uniform(-1, 1);
  if (save) {
    std::vector<std::int32_t> y(rows);
    for (auto& v : y) v = std::int32_t(rng.below(out));
    adam opt{.lr = 0.01f};
    for (int s = 0; s < 5; ++s)
      m.train_step(samples<in>{x.data(), rows}, class_labels{y.data(), rows}, cross_entropy, opt);
    // [docs:save_weights]
    save_weights(m, dir / (name + ".safetensors"));  // module.load_state_dict(load_file(path), strict=True)
    // [/docs:save_weights]
    put(dir / (name + "_x.bin"), x.data(), x.size());
    put(dir / (name + "_plait.bin"), m.predict(samples<in>{x.data(), rows}).data, rows * out);
  } else {
    // [docs:load_weights]
    load_weights(m, dir / ("torch_" + name + ".safetensors"));  // from save_file(module.state_dict(), path)
    // [/docs:load_weights]
    const auto tx = get(dir / (name + "_x.bin"), x.size());
    put(dir / (name + "_from_torch.bin"), m.predict(samples<in>{tx.data(), rows}).data, rows * out);
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "save") != 0 && std::strcmp(argv[1], "load") != 0)) {
    std::fprintf(stderr, "usage: %s save|load DIR\n", argv[0]);
    return 2;
  }
  const bool save = std::strcmp(argv[1], "save") == 0;
  try {
    run<mlp>("mlp", argv[2], save);
    run<cnn>("cnn", argv[2], save);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}
