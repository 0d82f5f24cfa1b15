// The progress printer: a live bar on a terminal, one summary line per epoch.
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

#include "backprop/train.hpp"
#include "core/clock.hpp"

namespace bp::train {

namespace {

std::string format_rate(double per_sec) {
  if (per_sec >= 1e6) return fmt::format("{:.2f}M", per_sec / 1e6);
  if (per_sec >= 1e3) return fmt::format("{:.1f}k", per_sec / 1e3);
  return fmt::format("{:.0f}", per_sec);
}

}  // namespace

ProgressPrinter::ProgressPrinter(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

void ProgressPrinter::on_epoch_begin(Trainer&, int64_t epoch) {
  epoch_ = epoch;
  epoch_start_ = now_seconds();
  last_draw_ = 0;
  loss_sum_ = 0;
}

void ProgressPrinter::on_batch_end(Trainer& trainer, int64_t batch, int64_t batches, double loss,
                                   int64_t samples_done) {
  loss_sum_ += loss;
  if (quiet_ || !tty_) return;
  const double t = now_seconds();
  if (batch != batches && t - last_draw_ < 0.1) return;
  last_draw_ = t;
  const double elapsed = t - epoch_start_;
  const double rate = elapsed > 0 ? static_cast<double>(samples_done) / elapsed : 0.0;
  const double eta =
      batch > 0 ? elapsed * static_cast<double>(batches - batch) / static_cast<double>(batch) : 0.0;
  constexpr int kWidth = 24;
  const auto filled = static_cast<int>(kWidth * batch / std::max<int64_t>(batches, 1));
  std::string bar(static_cast<size_t>(filled), '=');
  if (filled < kWidth) bar += '>' + std::string(static_cast<size_t>(kWidth - filled - 1), ' ');
  std::fprintf(stderr, "\r\033[Kepoch %lld/%lld [%s] %lld/%lld  %s samples/s  loss %.4f  ETA %.0fs",
               static_cast<long long>(epoch_), static_cast<long long>(trainer.options().epochs),
               bar.c_str(), static_cast<long long>(batch), static_cast<long long>(batches),
               format_rate(rate).c_str(), loss_sum_ / static_cast<double>(batch), eta);
  std::fflush(stderr);
}

void ProgressPrinter::on_epoch_end(Trainer& trainer, const EpochStats& s) {
  if (quiet_) return;
  if (tty_) std::fprintf(stderr, "\r\033[K");
  std::string line = fmt::format("epoch {}/{}  train_loss {:.4f}", s.epoch,
                                 trainer.options().epochs, s.train_loss);
  const bool classify =
      !s.evals.empty() ? s.evals.front().second.classification : s.train_accuracy > 0;
  if (classify) line += fmt::format("  train_acc {:.2f}%", 100 * s.train_accuracy);
  for (const auto& [name, m] : s.evals) {
    line += fmt::format("  {}_loss {:.4f}", name, m.loss);
    if (m.classification) line += fmt::format("  {}_acc {:.2f}%", name, 100 * m.accuracy);
  }
  line += fmt::format("  {:.2f}s  {} samples/s  lr {:g}", s.seconds, format_rate(s.samples_per_sec),
                      s.lr);
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void ProgressPrinter::on_train_end(Trainer&) {
  if (!quiet_ && tty_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
  }
}

}  // namespace bp::train
