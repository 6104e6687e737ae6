// PrefixIndex: an HNSW graph (hnswlib 0.8.0) over the first `dims` values of every live row of a
// collection. Labels are internal row ids. For cosine the stored prefixes are unit-normalized and
// the graph uses 1 - <a, b>; for inner product 1 - <a, b> on raw prefixes; for L2 the squared
// distance. Distances use mrldb's runtime-dispatched SIMD kernels.
//
// Persistence: Save() writes the graph (hnswlib's format) and a small header holding the number
// of rows it covers and a checksum, each to a temporary file renamed into place, so a crash
// leaves the previous complete pair. Load() verifies both; the owner then reconciles the graph
// with storage (rows added or deleted after the save).
//
// Thread safety: Add() and Search() may run concurrently (hnswlib's per-node locks); Reserve,
// MarkDeleted, Save and Load need exclusive access (the owning Collection's writer lock).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace hnswlib {
template <typename T> class HierarchicalNSW;
class BaseFilterFunctor;
}  // namespace hnswlib

namespace mrldb {

class PrefixIndex {
 public:
  PrefixIndex(Metric metric, uint32_t dims, const HnswParams& params);
  ~PrefixIndex();

  // Grows capacity to at least `rows` (amortized doubling).
  Status Reserve(size_t rows);
  // Adds row `row` with its prefix (dims values; normalized by the caller for cosine).
  // REQUIRES: capacity (Reserve) and `row` not yet in the graph.
  Status Add(uint64_t row, const float* prefix);
  // Hides `row` from results (it keeps routing searches). No-op when absent or already deleted.
  void MarkDeleted(uint64_t row);
  bool Contains(uint64_t row) const;
  bool IsDeleted(uint64_t row) const;

  // Up to `count` nearest (graph distance, row) pairs, ascending, searching with candidate list
  // max(ef, count); `filter` (may be null) restricts which rows may be returned.
  std::vector<std::pair<float, uint64_t>> Search(const float* query, size_t count, size_t ef,
                                                 hnswlib::BaseFilterFunctor* filter) const;

  // Atomically replaces `path` (+ ".meta") with the graph, recording `covered_rows`.
  Status Save(const std::string& path, uint64_t covered_rows) const;
  // Loads a graph saved by Save. Errors: NotFound (no files), Corruption (header, checksum,
  // parameters that differ from this index's, or hnswlib refusing the file).
  Status Load(const std::string& path, uint64_t* covered_rows);

  size_t size() const;          // rows in the graph, deleted ones included
  size_t deleted() const;       // rows marked deleted
  size_t capacity() const;      // rows it can hold before Reserve must grow it
  size_t MemoryBytes() const;   // vectors + links + label map
  uint32_t dims() const { return dims_; }

 private:
  class Space;
  Metric metric_;
  uint32_t dims_;
  HnswParams params_;
  std::unique_ptr<Space> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
};

}  // namespace mrldb
