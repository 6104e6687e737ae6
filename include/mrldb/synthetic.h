// Deterministic synthetic Matryoshka-like data for tests and benchmarks.
//
// Rows are clustered: row i belongs to cluster c(i) and equals center[c] + noise, where both the
// centers and the noise have per-dimension scale s_d. In kMatryoshka mode s_d = (1 + d/8)^-decay,
// so the variance decays over the dimensions and the prefixes carry most of the neighbourhood
// structure (as in models trained with Matryoshka representation learning). In kFlat mode
// s_d = 1: every dimension matters equally and a short prefix is a poor proxy.
//
// Every value depends only on (seed, row index), never on how the rows are chunked or on the
// platform: Fill(0, 10) equals Fill(0, 5) followed by Fill(5, 5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mrldb {

struct SyntheticOptions {
  // Dimension D. Default: 768.
  uint32_t dim = 768;
  // Number of clusters. Default: 64.
  uint32_t clusters = 64;
  // Decay exponent of the per-dimension scale in kMatryoshka mode. Default: 1.0.
  double decay = 1.0;
  // Within-cluster noise relative to the spread of the centers. Default: 0.6.
  double noise = 0.6;
  enum class Mode : uint8_t { kMatryoshka, kFlat };
  // Default: kMatryoshka.
  Mode mode = Mode::kMatryoshka;
  // Default: 42.
  uint64_t seed = 42;
};

class SyntheticGenerator {
 public:
  explicit SyntheticGenerator(const SyntheticOptions& options);

  // Writes rows [first, first + n) to out (row-major n x dim).
  void Fill(uint64_t first, size_t n, float* out) const;
  std::vector<float> Rows(uint64_t first, size_t n) const;
  // Query vectors: drawn from the same distribution as the rows but from an independent stream
  // (query i is never equal to row i).
  std::vector<float> Queries(uint64_t first, size_t n) const;

  const SyntheticOptions& options() const { return options_; }

 private:
  void FillStream(uint64_t stream, uint64_t first, size_t n, float* out) const;
  SyntheticOptions options_;
  std::vector<float> scale_;    // s_d
  std::vector<float> centers_;  // clusters x dim
};

// Labelled rows for classification benchmarks and tests, whose difficulty varies per row and
// whose classes separate as the granularity grows. Class c has `modes` mixture components; a
// component's center has the per-dimension scale s_d above (kMatryoshka: decaying, kFlat: 1).
// Classes 0 .. hard_classes - 1 come in pairs (2i, 2i + 1) whose components share their centers
// over [0, shared_dims): below that granularity the two cannot be told apart, above it they can.
// The other classes differ from dimension 0 on. Row i draws its class and component from
// (seed, i), and its noise noise * u_i * s_d with u_i uniform in [0.5, 1.5): some rows sit deep
// inside their component, others near its neighbours. Labels are the class numbers.
struct LabelledSyntheticOptions {
  // Default: 512.
  uint32_t dim = 512;
  // Default: 32.
  uint32_t classes = 32;
  // Components per class. Default: 4.
  uint32_t modes = 4;
  // Classes in prefix-sharing pairs (rounded down to even). Default: 16.
  uint32_t hard_classes = 16;
  // Default: 64.
  uint32_t shared_dims = 64;
  // Default: 0.5.
  double decay = 0.5;
  // Default: 1.0.
  double noise = 1.0;
  // Default: kMatryoshka.
  SyntheticOptions::Mode mode = SyntheticOptions::Mode::kMatryoshka;
  // Default: 7.
  uint64_t seed = 7;
};

class LabelledSyntheticGenerator {
 public:
  explicit LabelledSyntheticGenerator(const LabelledSyntheticOptions& options);
  // Rows [first, first + n) into out (row-major n x dim) and their labels into labels (n).
  void Fill(uint64_t first, size_t n, float* out, int64_t* labels) const;
  // Query vectors with their labels, from an independent stream (never equal to a row).
  void Queries(uint64_t first, size_t n, float* out, int64_t* labels) const;
  const LabelledSyntheticOptions& options() const { return options_; }

 private:
  void FillStream(uint64_t stream, uint64_t first, size_t n, float* out, int64_t* labels) const;
  LabelledSyntheticOptions options_;
  std::vector<float> scale_;
  std::vector<float> centers_;  // classes * modes x dim
};

}  // namespace mrldb
