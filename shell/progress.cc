#include "shell/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>

namespace mrldb::shell {
namespace {

// 1234567 -> "1,234,567".
std::string Grouped(uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

size_t TerminalWidth() {
  winsize ws{};
  if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 80;
}

}  // namespace

bool StderrIsTerminal() { return isatty(STDERR_FILENO) != 0; }

ProgressBar::ProgressBar(std::string label, bool enabled, std::string unit)
    : label_(std::move(label)), enabled_(enabled), unit_(std::move(unit)),
      start_(std::chrono::steady_clock::now()) {}

std::string ProgressBar::Render(const std::string& label, uint64_t done,
                                std::optional<uint64_t> total, double rows_per_second,
                                size_t width, const std::string& unit) {
  std::string counts = total ? fmt::format("{} / {} {}", Grouped(done), Grouped(*total), unit)
                             : fmt::format("{} {}", Grouped(done), unit);
  if (rows_per_second > 0) counts += fmt::format(", {}/s", Grouped(uint64_t(rows_per_second)));
  if (!total || *total == 0) return fmt::format("{} {}", label, counts);
  const double frac = std::min(1.0, double(done) / double(*total));
  const std::string pct = fmt::format("{:3.0f}%", 100 * frac);
  // label [#####.....] 45% counts; the bar takes what the terminal leaves, 10..50 cells.
  const size_t fixed = label.size() + pct.size() + counts.size() + 5;
  const size_t cells = std::clamp<size_t>(width > fixed ? width - fixed : 0, 10, 50);
  const size_t filled = size_t(frac * double(cells));
  return fmt::format("{} [{}{}] {} {}", label, std::string(filled, '#'),
                     std::string(cells - filled, '.'), pct, counts);
}

void ProgressBar::Update(uint64_t done, std::optional<uint64_t> total) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const size_t width = TerminalWidth();
  std::string line = Render(label_, done, total, secs > 0.2 ? double(done) / secs : 0, width, unit_);
  if (line.size() >= width) line.resize(width - 1);
  // Pad over a longer previous frame instead of relying on terminal escape codes (TERM=dumb).
  const size_t shown = line.size();
  if (shown < last_width_) line.append(last_width_ - shown, ' ');
  fmt::print(stderr, "\r{}", line);
  std::fflush(stderr);
  last_width_ = shown;
  drawn_ = true;
}

void ProgressBar::Finish() {
  if (!drawn_) return;
  fmt::print(stderr, "\r{}\r", std::string(last_width_, ' '));
  std::fflush(stderr);
  drawn_ = false;
  last_width_ = 0;
}

}  // namespace mrldb::shell
