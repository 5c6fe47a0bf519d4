// The progress line and per-epoch metrics (io/progress.hpp): one line per epoch off a terminal,
// redrawn in place on one, nothing where disabled (every rank but 0), and the metrics weighted by
// samples.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#include <cstdio>
#include <plait/io/progress.hpp>
#include <string>

using namespace plait;

namespace {
// What was written to f.
std::string text_of(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int c; (c = std::fgetc(f)) != EOF;) s += char(c);
  return s;
}
}  // namespace

TEST_CASE("off a terminal: one line per epoch, with loss, samples/s and ETA; metrics weighted by samples") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  progress bar({.epochs = 2, .samples_per_epoch = 30, .out = f, .terminal = false});
  bar.begin_epoch(0);
  bar.step(20, 1.0);
  bar.step(10, 4.0);
  CHECK(text_of(f).empty());  // nothing between epochs
  const epoch_metrics m = bar.end_epoch();
  CHECK(m.samples == 30);
  CHECK(m.steps == 2);
  CHECK(m.mean_loss() == doctest::Approx(2.0));  // (20 * 1 + 10 * 4) / 30
  CHECK(m.seconds >= 0);
  CHECK(bar.eta_seconds() >= 0);
  const std::string line = text_of(f);
  CHECK(line.find("epoch 1/2") != std::string::npos);
  CHECK(line.find("30/30") != std::string::npos);
  CHECK(line.find("loss 2.0000") != std::string::npos);
  CHECK(line.find("samples/s") != std::string::npos);
  CHECK(line.find("ETA") != std::string::npos);
  CHECK(line.find('\r') == std::string::npos);
  CHECK(line.back() == '\n');
  bar.begin_epoch(1);
  bar.step(30, 0.5);
  CHECK(bar.end_epoch().mean_loss() == doctest::Approx(0.5));
  CHECK(bar.eta_seconds() == 0.0);  // every sample done
  std::fclose(f);
}

TEST_CASE("on a terminal the line is redrawn in place after steps") {
  std::FILE* f = std::tmpfile();
  progress bar({.epochs = 1, .samples_per_epoch = 4, .out = f, .terminal = true, .redraw_seconds = 0});
  bar.begin_epoch(0);
  bar.step(2, 1.0);
  bar.step(2, 1.0);
  bar.end_epoch();
  const std::string s = text_of(f);
  std::size_t redraws = 0;
  for (char c : s) redraws += c == '\r';
  CHECK(redraws == 3);  // two steps and the epoch's end
  CHECK(s.find("[============            ] 2/4") != std::string::npos);
  std::fclose(f);
}

TEST_CASE("disabled (every rank but 0), it prints nothing but still measures") {
  std::FILE* f = std::tmpfile();
  progress bar(
      {.epochs = 1, .samples_per_epoch = 4, .enabled = false, .out = f, .terminal = true, .redraw_seconds = 0});
  bar.begin_epoch(0);
  bar.step(4, 3.0);
  CHECK(bar.end_epoch().mean_loss() == 3.0);
  CHECK(text_of(f).empty());
  std::fclose(f);
}

TEST_CASE("a loop of steps: a line every k steps off a terminal, each with the mean loss since the last") {
  std::FILE* f = std::tmpfile();
  // [docs:progress_steps]
  progress bar({.out = f, .terminal = false, .steps = 6, .every = 3});  // a line every 3 of 6 steps
  bar.begin_epoch(0);
  for (int s = 0; s < 6; ++s) bar.step(10, s < 3 ? 2.0 : 1.0);
  const epoch_metrics m = bar.end_epoch();  // its last step printed the last line
  // [/docs:progress_steps]
  const std::string s = text_of(f);
  std::size_t lines = 0;
  for (char c : s) lines += c == '\n';
  CHECK(lines == 2);
  CHECK(s.find("step 3/6 [============            ]  loss 2.0000") != std::string::npos);
  CHECK(s.find("step 6/6 [========================]  loss 1.0000") != std::string::npos);  // the last 3 steps
  CHECK(m.mean_loss() == doctest::Approx(1.5));                                            // the whole loop's
  CHECK(m.steps == 6);
  std::fclose(f);
  std::FILE* g = std::tmpfile();
  progress odd({.out = g, .terminal = false, .steps = 5, .every = 3});
  odd.begin_epoch(0);
  for (int s = 0; s < 5; ++s) odd.step(1, 1.0);
  odd.end_epoch();  // steps 4 and 5 are in no line yet: one more
  const std::string t = text_of(g);
  CHECK(t.find("step 3/5") != std::string::npos);
  CHECK(t.find("step 5/5") != std::string::npos);
  std::fclose(g);
}

TEST_CASE("a loop of steps on a terminal: the k-th step's line stays, the ones between are redrawn") {
  std::FILE* f = std::tmpfile();
  progress bar({.out = f, .terminal = true, .redraw_seconds = 0, .steps = 4, .every = 2});
  bar.begin_epoch(0);
  for (int s = 0; s < 4; ++s) bar.step(1, double(s));
  bar.end_epoch();
  const std::string s = text_of(f);
  std::size_t lines = 0, redraws = 0;
  for (char c : s) lines += c == '\n', redraws += c == '\r';
  CHECK(lines == 2);    // steps 2 and 4
  CHECK(redraws == 4);  // every step drew, the 2nd and 4th to stay
  CHECK(s.find("step 2/4 [============            ]  loss 0.5000") != std::string::npos);
  CHECK(s.find("step 4/4 [========================]  loss 2.5000") != std::string::npos);
  std::fclose(f);
}
