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
