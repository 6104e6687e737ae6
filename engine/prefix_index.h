// PrefixIndex: an HNSW graph (hnswlib 0.8.0) over the first `dims` values of every live row of a
// collection. Labels are internal row ids. For cosine the stored prefixes are unit-normalized and
// the graph uses 1 - <a, b>; for inner product 1 - <a, b> on raw prefixes; for L2 the squared
// distance. Distances use mrldb's runtime-dispatched SIMD kernels.
//
// Persistence: Save() writes the graph in hnswlib's format to a new generation file
// `<path>.<generation>` (fsynced), then the header `<path>.meta` naming that generation, the rows
// it covers and the graph's checksum (written to `.meta.tmp`, fsynced, renamed: the rename is the
// commit), then removes older generations. A crash at any point leaves the previous checkpoint
// loadable. Load() verifies both; the owner then reconciles the graph with storage (rows added or
// deleted after the save).
//
// Thread safety: Add() and Search() may run concurrently (hnswlib's per-node locks); Save() and
// Search() too (Save only reads the graph). Reserve, MarkDeleted and Load need exclusive access,
// and Add must not run during Save (the owning Collection's graph lock: Save under it shared).
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace hnswlib {
template <typename T> class HierarchicalNSW;
}  // namespace hnswlib

namespace mrldb {

class PrefixIndex {
 public:
  PrefixIndex(Metric metric, uint32_t dims, const HnswParams& params);
  ~PrefixIndex();

  // Grows capacity to at least `rows` (amortized doubling).
  Status Reserve(size_t rows);
  // Int8 codes (engine/prefix_codes.h) need their scale before the first Add: trains it on n
  // prefixes (row-major, dims each; normalized for cosine) sampled from a collection of
  // `population` rows. Float32 graphs need none.
  bool NeedsTraining() const;
  void Train(const float* prefixes, size_t n, uint64_t population);
  // Int8 codes: the trained scale (0 for float32), the collection's rows at training, and the
  // rows added since (or since load) whose values were beyond its range (clipped).
  float code_scale() const;
  uint64_t trained_rows() const { return trained_rows_; }
  uint64_t clipped_rows() const { return clipped_rows_.load(std::memory_order_relaxed); }

  // Adds row `row` with its prefix (dims values; normalized by the caller for cosine).
  // REQUIRES: capacity (Reserve), trained codes, and `row` not yet in the graph.
  Status Add(uint64_t row, const float* prefix);
  // Hides `row` from results (it keeps routing searches). No-op when absent or already deleted.
  void MarkDeleted(uint64_t row);
  bool Contains(uint64_t row) const;
  bool IsDeleted(uint64_t row) const;

  // Up to `count` nearest (graph distance, row) pairs, ascending, into *out, searching with
  // candidate list max(ef, count) (engine/graph_search.h); `allowed` (may be null; indexed by
  // row) restricts which rows may be returned. Allocates nothing in steady state.
  void Search(const float* query, size_t count, size_t ef, const std::vector<uint8_t>* allowed,
              std::vector<std::pair<float, uint64_t>>* out) const;

  // Atomically replaces the checkpoint at `path` (the header `path + ".meta"` and the graph file
  // it names) with the graph, recording `covered_rows`. Errors: IOError (nothing replaced; the
  // previous checkpoint stays valid).
  Status Save(const std::string& path, uint64_t covered_rows);
  // Loads a graph saved by Save (or the single-file layout of header version 1). Errors:
  // NotFound (no files), Corruption (header, checksum, parameters that differ from this
  // index's, or hnswlib refusing the file).
  Status Load(const std::string& path, uint64_t* covered_rows);
  // Whether a checkpoint is saved at `path` (its header exists), and what the graph it names
  // will take in memory once loaded, about (MemoryBytes' terms, from the graph file's size and
  // header; 0 when the header cannot be read). Reads only the headers.
  static bool Saved(const std::string& path, uint64_t* graph_bytes);
  // Removes every file of the checkpoint at `path` (all generations, temporaries).
  static void RemoveFiles(const std::string& path);
  // Copies the saved checkpoint at `path` (its header and the generation file it names) to
  // `to`, synced, adding the bytes copied to *bytes. No saved checkpoint: nothing to copy, OK.
  // The caller keeps saves out meanwhile. Errors: IOError, Corruption (a broken header).
  static Status CopyFiles(const std::string& path, const std::string& to, uint64_t* bytes);

  // Tests only: called after each step of Save (1: graph file written, 2: graph synced, 3: header
  // written and synced, 4: header renamed, 5: directory synced); returning false stops Save
  // there with an IOError, leaving the files as a crash at that point would.
  void SetSaveHookForTest(std::function<bool(int step)> hook) { save_hook_ = std::move(hook); }

  size_t size() const;          // rows in the graph, deleted ones included
  size_t deleted() const;       // rows marked deleted
  size_t capacity() const;      // rows it can hold before Reserve must grow it
  size_t MemoryBytes() const;   // vectors + links + label map (+ the aligned codes, int8)
  // The nodes' link lists above level 0 (the sum of their levels), which MemoryBytes counts:
  // kept as rows are added, counted over every node when a graph is loaded.
  uint64_t upper_link_lists() const { return upper_levels_.load(std::memory_order_relaxed); }
  uint32_t dims() const { return dims_; }

 private:
  class Space;
  Metric metric_;
  uint32_t dims_;
  HnswParams params_;
  std::unique_ptr<Space> space_;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> graph_;
  // Int8 graphs: a copy of every node's code by hnswlib internal id, 64-byte aligned, which the
  // searches read (one cache line per node at up to 64 dims; hnswlib's own copy sits at an
  // unaligned offset inside its level-0 block). Grown by Reserve, filled by Add and Load.
  struct FreeDeleter {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  void GrowCodes(size_t rows);
  std::string CodesWord() const;
  const size_t code_bytes_;
  std::unique_ptr<uint8_t[], FreeDeleter> codes_;
  size_t codes_capacity_ = 0;
  bool trained_;
  uint64_t trained_rows_ = 0;
  std::atomic<uint64_t> clipped_rows_{0};
  // The nodes' levels above 0, summed (each is one upper link list): kept by Add and Load.
  std::atomic<uint64_t> upper_levels_{0};
  static uint64_t UpperLevels(const hnswlib::HierarchicalNSW<float>& g);
  uint64_t generation_ = 0;  // of the last checkpoint saved or loaded
  std::function<bool(int)> save_hook_;
};

// The checksum the graph files carry (FNV-1a over 8-byte words, in 1 MiB chunks): also that of
// the device graph's file (engine/device_graph.cc).
uint64_t ChecksumBytes(const char* data, size_t n);

}  // namespace mrldb
