#pragma once
// progress: a training loop's progress line and its per-epoch metrics, so that a program does not
// write its own.
//
//   progress bar({.epochs = 8, .samples_per_epoch = train.size(), .enabled = model.first_device() == 0});
//   for (int e = 0; e < 8; ++e) {
//     bar.begin_epoch(e);
//     for (auto& b : batches.epoch(e)) bar.step(b.size(), model.train_step(b.x, b.y, cross_entropy, opt));
//     const epoch_metrics m = bar.end_epoch();  // m.mean_loss(), m.samples_per_second(), m.seconds
//   }
//
// The line says the epoch, a bar, samples done, the mean loss so far, samples/s and the time left
// (ETA, from the rate so far over every epoch still to run). On a terminal it is redrawn in place
// after each step (at most every 0.1 s); elsewhere (a log, CI) one line is printed per epoch. Across
// processes only the process that enables it prints (rank 0's: `.enabled = model.first_device() == 0`);
// the loss train_step returns is already the global batch's on every rank.
//
// A loop that trains in steps rather than epochs names its steps, and may ask for a line every k
// steps (on a terminal the line in between is redrawn), each with the mean loss of its k steps:
//
//   progress bar({.steps = 400, .every = 100});  // "step 100/400 [======      ] loss 0.3120 ..."
//   bar.begin_epoch(0);
//   for (int s = 0; s < 400; ++s) bar.step(batch, model.train_step(x, y, mse, opt));
//   bar.end_epoch();

#include <unistd.h>
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>

namespace plait {

/// What one epoch measured.
struct epoch_metrics {
  int epoch = 0;
  std::size_t samples = 0;
  std::size_t steps = 0;
  double loss_sum = 0;  // the steps' mean losses, each times its samples
  double seconds = 0;
  double mean_loss() const { return samples ? loss_sum / double(samples) : 0.0; }
  double samples_per_second() const { return seconds > 0 ? double(samples) / seconds : 0.0; }
};

struct progress_options {
  int epochs = 1;
  std::size_t samples_per_epoch = 0;
  bool enabled = true;  // false: print nothing (every rank but 0)
  std::FILE* out = stdout;
  std::optional<bool> terminal;  // redraw in place; unset: whether `out` is a terminal
  double redraw_seconds = 0.1;   // on a terminal, at most one redraw per this
  const char* metric = "loss";   // what step()'s value is called on the line (pc_step: "energy")
  std::size_t steps = 0;         // > 0: the loop trains this many steps (one epoch), and the line counts steps
  std::size_t every = 0;         // > 0: a line that stays every this many steps (the loss: their mean)
};

class progress {
  using clock = std::chrono::steady_clock;

 public:
  explicit progress(progress_options o) : o_(o) {
    tty_ = o_.terminal ? *o_.terminal : (o_.out && isatty(fileno(o_.out)));
    start_ = clock::now();
  }

  void begin_epoch(int epoch) {
    m_ = window_ = epoch_metrics{};
    m_.epoch = epoch;
    epoch_start_ = last_draw_ = clock::now();
  }
  /// A step of `samples` samples whose mean loss was `loss`.
  void step(std::size_t samples, double loss) {
    m_.samples += samples;
    m_.loss_sum += loss * double(samples);
    ++m_.steps;
    done_ += samples;
    window_.samples += samples;
    window_.loss_sum += loss * double(samples);
    if (!o_.enabled) return;
    if (o_.every > 0 && m_.steps % o_.every == 0) {  // a line that stays, on a terminal too
      m_.seconds = std::chrono::duration<double>(clock::now() - epoch_start_).count();
      draw(true);
      return;
    }
    if (!tty_) return;
    const auto now = clock::now();
    if (std::chrono::duration<double>(now - last_draw_).count() < o_.redraw_seconds) return;
    last_draw_ = now;
    m_.seconds = std::chrono::duration<double>(now - epoch_start_).count();
    draw(false);
  }
  /// Ends the epoch: prints its line and returns what it measured.
  epoch_metrics end_epoch() {
    m_.seconds = std::chrono::duration<double>(clock::now() - epoch_start_).count();
    const bool drawn = o_.every > 0 && m_.steps > 0 && m_.steps % o_.every == 0;  // by its last step
    if (o_.enabled && !drawn) draw(true);
    return m_;
  }

  /// The epoch so far.
  const epoch_metrics& current() const { return m_; }
  /// Seconds left, at the rate so far (0 before any sample).
  double eta_seconds() const {
    const double spent = std::chrono::duration<double>(clock::now() - start_).count();
    if (o_.steps > 0)  // a loop of steps: by the steps' rate
      return m_.steps == 0 || m_.steps >= o_.steps ? 0.0 : double(o_.steps - m_.steps) * spent / double(m_.steps);
    const std::size_t total = std::size_t(o_.epochs) * o_.samples_per_epoch;
    if (done_ == 0 || spent <= 0 || total <= done_) return 0.0;
    return double(total - done_) * spent / double(done_);
  }

 private:
  void draw(bool final) {
    constexpr int width = 24;
    if (o_.steps > 0) {  // "step 100/400 [======] loss 0.3120  ..." with the loss of the steps since the last line
      const int filled = int(width * std::min(m_.steps, o_.steps) / o_.steps);
      const double eta = eta_seconds();
      const double loss = window_.samples ? window_.loss_sum / double(window_.samples) : m_.mean_loss();
      std::fprintf(o_.out, "%sstep %zu/%zu [%.*s%*s]  %s %.4f  %.0f samples/s  ETA %dm%02ds%s", tty_ ? "\r" : "",
                   m_.steps, o_.steps, filled, "========================", width - filled, "",
                   o_.metric ? o_.metric : "loss", loss, m_.samples_per_second(), int(eta) / 60, int(eta) % 60,
                   final ? "\n" : "");
      std::fflush(o_.out);
      if (final) window_ = {};
      return;
    }
    const std::size_t n = o_.samples_per_epoch ? o_.samples_per_epoch : m_.samples;
    const int filled = n ? int(width * std::min(m_.samples, n) / n) : width;
    const double eta = eta_seconds();
    std::fprintf(o_.out, "%sepoch %d/%d [%.*s%*s] %zu/%zu  %s %.4f  %.0f samples/s  ETA %dm%02ds%s", tty_ ? "\r" : "",
                 m_.epoch + 1, o_.epochs, filled, "========================", width - filled, "", m_.samples, n,
                 o_.metric ? o_.metric : "loss", m_.mean_loss(), m_.samples_per_second(), int(eta) / 60, int(eta) % 60,
                 final ? "\n" : "");
    std::fflush(o_.out);
  }

  progress_options o_;
  bool tty_ = false;
  epoch_metrics m_{};
  epoch_metrics window_{};  // the steps since the last line printed (a loop of steps)
  std::size_t done_ = 0;    // samples over every epoch
  clock::time_point start_, epoch_start_, last_draw_;
};

}  // namespace plait
