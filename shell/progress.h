// A one-line progress bar on standard error, redrawn in place at most ten times a second, for
// COPY and for background index builds. It draws only when standard error is a terminal, so
// scripts and pipes see nothing of it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace mrldb::shell {

class ProgressBar {
 public:
  // `label` leads the line ("COPY", "indexing"); `enabled` false draws nothing; `unit` names
  // what is counted ("rows", "bytes").
  ProgressBar(std::string label, bool enabled, std::string unit = "rows");
  ~ProgressBar() { Finish(); }

  // Shows `done` of `total` (total unknown: a count and a rate only).
  void Update(uint64_t done, std::optional<uint64_t> total);
  // Erases the line; later Updates draw again.
  void Finish();

  // The text of one frame (no carriage return); exposed for tests.
  static std::string Render(const std::string& label, uint64_t done, std::optional<uint64_t> total,
                            double rows_per_second, size_t width, const std::string& unit = "rows");

 private:
  std::string label_;
  bool enabled_;
  std::string unit_;
  bool drawn_ = false;
  size_t last_width_ = 0;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

// Whether standard error is a terminal (progress bars are drawn there).
bool StderrIsTerminal();

}  // namespace mrldb::shell
