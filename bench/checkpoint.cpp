// bench/run checkpoint: saving and loading a checkpoint against writing and reading the same bytes.
//
// A model of 268 MB of parameters (an MLP 4096 -> 4 x linear<4096>, 67.1 M floats) with Adam's state
// (two more arrays of that size): save_checkpoint writes 805 MB (parameters, exp_avg, exp_avg_sq, in
// safetensors, checksummed, to a temporary file, fsync, rename, folder fsync); load_checkpoint reads
// them back (every checksum checked, every tensor staged before the model is written). The floor, in
// the same run and alternating with plait (which side goes first alternates too), is plain write() of as many bytes
// from one buffer + fsync, and plain read() of them into one buffer. Both load from the page cache (the file was just
// written). Ratios are floor time / plait time (1: as fast as the floor). The memory a save adds is read from the
// process's peak resident set (VmHWM, reset before the save) and given in copies of the parameters.
//
//   bench_checkpoint [--quick] [--dir DIR]    (DIR: where the files go; default the current folder)

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <plait/plait.hpp>
#include <string>
#include <vector>

namespace {
using namespace plait;
using clock_type = std::chrono::steady_clock;
namespace fs = std::filesystem;

constexpr auto net =
    input<4096> >> linear<4096> >> relu >> linear<4096> >> relu >> linear<4096> >> relu >> linear<4096>;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}
template <class F>
double seconds(F&& f) {
  const auto t0 = clock_type::now();
  f();
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}
std::size_t status_kb(const char* key) {
  std::ifstream s("/proc/self/status");
  std::string line;
  while (std::getline(s, line))
    if (line.starts_with(key)) return std::stoul(line.substr(std::strlen(key)));
  return 0;
}

void raw_write(const fs::path& p, const std::vector<char>& buf) {
  const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  for (std::size_t at = 0; at < buf.size();)
    at += std::size_t(::write(fd, buf.data() + at, std::min<std::size_t>(buf.size() - at, 1 << 30)));
  ::fsync(fd);
  ::close(fd);
}
void raw_read(const fs::path& p, std::vector<char>& buf) {
  const int fd = ::open(p.c_str(), O_RDONLY);
  for (std::size_t at = 0; at < buf.size();) {
    const ssize_t got = ::read(fd, buf.data() + at, std::min<std::size_t>(buf.size() - at, 1 << 30));
    if (got <= 0) break;
    at += std::size_t(got);
  }
  ::close(fd);
}
}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  fs::path dir = ".";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--dir") == 0 && i + 1 < argc) dir = argv[++i];
  }
  const int rounds = quick ? 3 : 7;
  const fs::path ck = dir / "bench_checkpoint.safetensors", raw = dir / "bench_checkpoint.raw";

  auto m = place(net, host_device(), {.max_batch = 1, .seed = 1});
  adam opt;
  std::vector<float> x(4096, 0.1f), t(4096, 0.0f);
  m.train_step(samples<shape<4096>>{x.data(), 1}, samples<shape<4096>>{t.data(), 1}, mse, opt);  // plans Adam's state
  const double param_bytes = double(m.parameter_count()) * sizeof(float);

  // The memory a save adds, once, before the floor's buffer exists.
  const std::size_t rss_before = status_kb("VmRSS:");
  std::ofstream("/proc/self/clear_refs") << "5";  // resets VmHWM to the current resident set
  save_checkpoint(m, ck, opt);
  const double extra_copies = double(status_kb("VmHWM:") - rss_before) * 1024.0 / param_bytes;
  const std::size_t bytes = fs::file_size(ck);

  std::vector<char> buf(bytes, 1);
  std::vector<double> plait_save, raw_save, plait_load, raw_load;
  for (int r = 0; r < rounds;
       ++r) {  // alternating which side goes first; sync() before each save: no one else's dirty pages
    const auto save_raw = [&] {
      ::sync();
      raw_save.push_back(seconds([&] { raw_write(raw, buf); }));
    };
    const auto save_plait = [&] {
      ::sync();
      plait_save.push_back(seconds([&] { save_checkpoint(m, ck, opt); }));
    };
    const auto load_raw = [&] { raw_load.push_back(seconds([&] { raw_read(raw, buf); })); };
    const auto load_plait = [&] { plait_load.push_back(seconds([&] { load_checkpoint(m, ck, opt); })); };
    if (r % 2 == 0) save_raw(), save_plait(), load_raw(), load_plait();
    else save_plait(), save_raw(), load_plait(), load_raw();
  }
  fs::remove(ck);
  fs::remove(raw);
  const double gb = double(bytes) / 1e9;
  const auto row = [&](const char* what, const std::vector<double>& p, const std::vector<double>& f) {
    std::printf("| %s | %.3f s [%.3f..%.3f] %.2f GB/s | %.3f s [%.3f..%.3f] %.2f GB/s | %.2f |\n", what, median(p),
                *std::min_element(p.begin(), p.end()), *std::max_element(p.begin(), p.end()), gb / median(p), median(f),
                *std::min_element(f.begin(), f.end()), *std::max_element(f.begin(), f.end()), gb / median(f),
                median(f) / median(p));
  };
  std::printf("checkpoint: %.0f MB of parameters + Adam state, file %.0f MB, %d rounds (median [min..max])\n\n",
              param_bytes / 1e6, double(bytes) / 1e6, rounds);
  std::printf("| | plait | write()/read() + fsync | ratio |\n|---|---|---|---|\n");
  row("save", plait_save, raw_save);
  row("load", plait_load, raw_load);
  std::printf("\nsave's peak extra memory: %.2f copies of the parameters\n", extra_copies);
  std::printf(
      "RESULT checkpoint param_mb=%.0f file_mb=%.0f save_s=%.3f raw_save_s=%.3f load_s=%.3f raw_load_s=%.3f "
      "save_ratio=%.3f load_ratio=%.3f save_extra_copies=%.2f\n",
      param_bytes / 1e6, double(bytes) / 1e6, median(plait_save), median(raw_save), median(plait_load),
      median(raw_load), median(raw_save) / median(plait_save), median(raw_load) / median(plait_load), extra_copies);
  return 0;
}
