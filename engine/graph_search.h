// mrldb's own search over a graph that hnswlib 0.8.0 built, reading hnswlib's memory in place
// (its level-0 block of link lists + vectors + labels, its upper-level link lists).
//
// It walks the graph exactly as hnswlib's searchKnn does (greedy descent through the upper
// levels, then a best-first search of level 0 with a candidate list of `ef`; deleted and
// filtered nodes route the search but are never returned), and differs only in what it costs:
// - no lock and no allocation in steady state: the visited set (epoch-tagged, one uint16 per
//   node) and both heaps are thread-local and reused;
// - memory-level parallelism: while a node's neighbours are scored, the visited tags and the
//   whole vectors (every cache line, not only the first) of the next `ahead` ones are in
//   flight, and the next candidate's link list is prefetched before this node's are done;
// - int8 graphs read codes from PrefixIndex's 64-byte-aligned copy (one line per node).
// Results are the same set hnswlib returns, up to ties in distance (tested).
//
// Thread safety: any number of concurrent searches; none may overlap a change to the graph
// (PrefixIndex's owner holds its graph lock shared for searches, exclusively for changes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace hnswlib {
template <typename T> class HierarchicalNSW;
}  // namespace hnswlib

namespace mrldb {

// Where the search reads the nodes' vectors from, when not from hnswlib's level-0 block: node
// i's at base + i * stride (in the graph's encoding, the same bytes hnswlib holds).
struct GraphVectors {
  const uint8_t* base;
  size_t stride;
};

// How far ahead the search prefetches: `ahead` unvisited neighbours' vectors in flight (0: no
// software prefetch at all). The default was chosen by `mrldb-bench graph` (docs/benchmarks.md).
struct GraphPrefetch {
  size_t ahead = 3;
};

// Up to `count` nearest (graph distance, label) pairs of `query` (in the graph's own encoding),
// ascending, into *out, with a candidate list of max(ef, count). `allowed` (may be null) is
// indexed by label: nonzero labels may be returned.
void SearchGraph(const hnswlib::HierarchicalNSW<float>& graph, const void* query, size_t count,
                 size_t ef, const std::vector<uint8_t>* allowed,
                 std::vector<std::pair<float, uint64_t>>* out,
                 const GraphVectors* vectors = nullptr, GraphPrefetch prefetch = {});

// While alive, searches of this thread's graph walks treat the node labelled `label` as absent:
// the walk never enters it, as if its row had never been inserted (its neighbours are reached
// through others; when it is the graph's entry point the walk starts at one of its neighbours,
// and only a graph of that one node still returns it). TUNE uses it to turn a stored row into an unseen query: a search for a node
// otherwise walks straight to it and reads its neighbours off its own link list.
class ScopedHiddenNode {
 public:
  explicit ScopedHiddenNode(uint64_t label);
  ~ScopedHiddenNode();
  ScopedHiddenNode(const ScopedHiddenNode&) = delete;
  ScopedHiddenNode& operator=(const ScopedHiddenNode&) = delete;

 private:
  uint64_t previous_;
  bool had_previous_;
};

}  // namespace mrldb
