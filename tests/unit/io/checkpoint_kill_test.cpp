// Crash safety of save_checkpoint (io/atomic_file.hpp): a process saving checkpoints in a loop is
// killed with SIGKILL at random moments, again and again; after every kill the checkpoint at the
// path loads and verifies (every checksum), and its step never goes back.
//
//   io_checkpoint_kill               the test: forks and kills the writer `kills` times (60 by default)
//   io_checkpoint_kill --write DIR   the writer: resumes DIR/ck.safetensors, then trains a step and saves it, forever
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <plait/plait.hpp>
#include <random>
#include <string>
#include <thread>

using namespace plait;
namespace fs = std::filesystem;

namespace {
constexpr auto net = input<64> >> linear<1024> >> relu >> linear<1024> >> relu >> linear<10>;  // 1.1 M parameters

auto make() { return place(net, host_device(), {.max_batch = 8, .seed = 2}); }

void step(auto& m, adam& opt) {
  std::vector<float> x(8 * 64, 0.5f);
  std::vector<std::int32_t> y(8, 3);
  m.train_step(samples<shape<64>>{x.data(), 8}, class_labels{y.data(), 8}, cross_entropy, opt);
}

[[noreturn]] void writer(const fs::path& dir) {
  auto m = make();
  adam opt;
  load_checkpoint(m, dir / "ck.safetensors", opt);  // resumes where the killed writer's last save stands
  for (;;) {
    step(m, opt);
    save_checkpoint(m, dir / "ck.safetensors", opt, {.keep_last = 2});
  }
}
}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--write") == 0) writer(argv[2]);
  const int kills = argc == 2 ? std::atoi(argv[1]) : 60;
  const fs::path dir = fs::temp_directory_path() / ("plait_kill_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "ck.safetensors";
  {  // the first checkpoint, complete before any kill
    auto m = make();
    adam opt;
    save_checkpoint(m, path, opt);
  }
  std::mt19937 rng(7);
  std::size_t last_step = 0;
  int mid_save = 0;
  auto target = make();
  const auto started = std::chrono::steady_clock::now();
  for (int k = 0; k < kills; ++k) {
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::execl(argv[0], argv[0], "--write", dir.c_str(), static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(20000, 250000)(rng)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFSIGNALED(status)) {
      std::fprintf(stderr, "kill %d: the writer ended by itself (status %d)\n", k, status);
      return 1;
    }
    for (const auto& e : fs::directory_iterator(dir))  // a killed save leaves its temporary file: count and remove it
      if (e.path().filename().string().find(".tmp.") != std::string::npos) {
        ++mid_save;
        fs::remove(e.path());
      }
    adam opt;
    try {
      load_checkpoint(target, path, opt);  // checks every tensor's checksum
      if (fs::exists(atomic_file::older(path, 1))) {
        auto previous = make();
        load_checkpoint(previous, atomic_file::older(path, 1), opt);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "kill %d: the checkpoint does not load: %s\n", k, e.what());
      return 1;
    }
    if (target.steps() < last_step) {
      std::fprintf(stderr, "kill %d: the checkpoint went back from step %zu to %zu\n", k, last_step, target.steps());
      return 1;
    }
    last_step = target.steps();
  }
  fs::remove_all(dir);
  if (last_step == 0) {
    std::fprintf(stderr, "the writer never completed a save in %d runs: the kills tested nothing\n", kills);
    return 1;
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf(
      "%d kills (%d in the middle of a save) in %.1f s, %zu steps saved: the checkpoint loaded and verified after every one\n",
      kills, mid_save, s, last_step);
  return 0;
}
