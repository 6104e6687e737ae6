#include "engine/graph_search.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include <hnswlib/hnswlib.h>

namespace mrldb {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;
using Id = hnswlib::tableint;

inline void Prefetch(const void* p) {
#if defined(__GNUC__)
  __builtin_prefetch(p, 0, 3);
#endif
}

// Every cache line of [p, p + n).
inline void PrefetchRange(const char* p, size_t n) {
  const uintptr_t first = reinterpret_cast<uintptr_t>(p) & ~uintptr_t{63};
  const uintptr_t last = reinterpret_cast<uintptr_t>(p) + n - 1;
  for (uintptr_t a = first; a <= last; a += 64) Prefetch(reinterpret_cast<const void*>(a));
}

struct Scratch {
  std::vector<uint16_t> tags;  // visited when tags[id] == epoch
  uint16_t epoch = 0;
  std::vector<std::pair<float, Id>> candidates;  // min-heap by distance (greater)
  std::vector<std::pair<float, Id>> top;         // max-heap by distance: the best ef allowed

  // Starts a new visited set over `n` nodes.
  void Begin(size_t n) {
    if (tags.size() < n) tags.assign(std::max(n, tags.size() * 2), 0), epoch = 0;
    if (++epoch == 0) {
      std::fill(tags.begin(), tags.end(), 0);
      epoch = 1;
    }
    candidates.clear();
    top.clear();
  }
  bool Visit(Id id) {
    if (tags[id] == epoch) return false;
    tags[id] = epoch;
    return true;
  }
};

// ScopedHiddenNode's label, when set.
thread_local bool hidden_set = false;
thread_local uint64_t hidden_label = 0;

Scratch& ThreadScratch() {
  thread_local Scratch s;
  return s;
}

struct Greater {
  bool operator()(const std::pair<float, Id>& a, const std::pair<float, Id>& b) const {
    return a.first > b.first;
  }
};
struct Less {
  bool operator()(const std::pair<float, Id>& a, const std::pair<float, Id>& b) const {
    return a.first < b.first;
  }
};

class Walker {
 public:
  Walker(const Graph& g, const void* query, const GraphVectors* v, GraphPrefetch prefetch, Id hidden)
      : g_(g), hidden_(hidden), q_(query), ahead_(prefetch.ahead), dist_(g.fstdistfunc_), param_(g.dist_func_param_),
        base_(v ? reinterpret_cast<const char*>(v->base) : g.data_level0_memory_ + g.offsetData_),
        stride_(v ? v->stride : g.size_data_per_element_) {}

  const char* Vector(Id id) const { return base_ + size_t{id} * stride_; }
  float Distance(Id id) const { return dist_(q_, Vector(id), param_); }
  void PrefetchVector(Id id) const {
    if (ahead_) PrefetchRange(Vector(id), g_.data_size_);
  }

  // Greedy descent from the entry point to level 1; returns level 0's entry and its distance.
  std::pair<float, Id> Descend() const {
    Id cur = g_.enterpoint_node_;
    int top = g_.maxlevel_;
    // The hidden node is the graph's entry point: start at its first neighbour on the highest
    // level that has one instead, and descend from that level (the neighbour may have no links
    // above it). A graph of that one node has nothing else to return anyway.
    for (int level = top; cur == hidden_ && level >= 0; --level) {
      const auto* ll = reinterpret_cast<const unsigned int*>(g_.get_linklist_at_level(cur, level));
      if (g_.getListCount(const_cast<unsigned int*>(ll)) > 0) cur = ll[1], top = level;
    }
    float cur_d = Distance(cur);
    for (int level = top; level > 0; --level) {
      for (bool changed = true; changed;) {
        changed = false;
        const auto* ll = reinterpret_cast<const unsigned int*>(g_.get_linklist(cur, level));
        const size_t n = g_.getListCount(const_cast<unsigned int*>(ll));
        const Id* ids = ll + 1;
        for (size_t i = 0; i < n && i < ahead_; ++i) PrefetchVector(ids[i]);
        for (size_t i = 0; i < n; ++i) {
          if (i + ahead_ < n) PrefetchVector(ids[i + ahead_]);
          if (ids[i] == hidden_) continue;
          const float d = Distance(ids[i]);
          if (d < cur_d) cur_d = d, cur = ids[i], changed = true;
        }
      }
    }
    return {cur_d, cur};
  }

  // Best-first search of level 0 from `entry`, keeping the best `ef` allowed nodes in s.top.
  // `Bare`: no deleted nodes and no filter (every node may be returned).
  template <bool Bare>
  void Level0(std::pair<float, Id> entry, size_t ef, const std::vector<uint8_t>* allowed,
              Scratch& s) const {
    auto ok = [&](Id id) {
      if constexpr (Bare) {
        return true;
      } else {
        if (g_.isMarkedDeleted(id)) return false;
        return allowed == nullptr || (*allowed)[g_.getExternalLabel(id)] != 0;
      }
    };
    float bound = std::numeric_limits<float>::max();
    s.Visit(entry.second);
    if (ok(entry.second)) {
      s.top.push_back(entry);
      bound = entry.first;
    }
    s.candidates.push_back(entry);
    while (!s.candidates.empty()) {
      const auto [d, node] = s.candidates.front();
      // Bare: hnswlib's bare-bone stop; otherwise go on while fewer than ef are allowed.
      if (d > bound && (Bare || s.top.size() == ef)) break;
      std::pop_heap(s.candidates.begin(), s.candidates.end(), Greater());
      s.candidates.pop_back();

      const auto* ll = reinterpret_cast<const unsigned int*>(g_.get_linklist0(node));
      const size_t n = g_.getListCount(const_cast<unsigned int*>(ll));
      const Id* ids = ll + 1;
      // One pass, as hnswlib's, but with the tags and whole vectors of `ahead` neighbours in
      // flight (visited ones included: testing the tag first would wait for it).
      for (size_t j = 0; j < n && j < ahead_; ++j) {
        Prefetch(&s.tags[ids[j]]);
        PrefetchVector(ids[j]);
      }
      for (size_t j = 0; j < n; ++j) {
        if (ahead_ && j + ahead_ < n) {
          Prefetch(&s.tags[ids[j + ahead_]]);
          PrefetchVector(ids[j + ahead_]);
        }
        const Id id = ids[j];
        if (!s.Visit(id)) continue;
        const float dist = Distance(id);
        if (s.top.size() < ef || dist < bound) {
          s.candidates.emplace_back(dist, id);
          std::push_heap(s.candidates.begin(), s.candidates.end(), Greater());
          if (ok(id)) {
            s.top.emplace_back(dist, id);
            std::push_heap(s.top.begin(), s.top.end(), Less());
            if (s.top.size() > ef) {
              std::pop_heap(s.top.begin(), s.top.end(), Less());
              s.top.pop_back();
            }
          }
          if (!s.top.empty()) bound = s.top.front().first;
        }
      }
      // The next node to expand: its link list is read first.
      if (ahead_ && !s.candidates.empty()) {
        PrefetchRange(reinterpret_cast<const char*>(g_.get_linklist0(s.candidates.front().second)),
                      g_.size_links_level0_);
      }
    }
  }

 private:
  const Graph& g_;
  const Id hidden_;  // never entered (ScopedHiddenNode); ~0 when none
  const void* q_;
  const size_t ahead_;
  hnswlib::DISTFUNC<float> dist_;
  void* param_;
  const char* base_;
  size_t stride_;
};

}  // namespace

void SearchGraph(const Graph& graph, const void* query, size_t count, size_t ef,
                 const std::vector<uint8_t>* allowed,
                 std::vector<std::pair<float, uint64_t>>* out, const GraphVectors* vectors,
                 GraphPrefetch prefetch) {
  out->clear();
  if (graph.cur_element_count == 0 || count == 0) return;
  ef = std::max(ef, count);
  Scratch& s = ThreadScratch();
  s.Begin(graph.max_elements_);
  Id hidden = ~Id{0};
  if (hidden_set) {
    std::lock_guard<std::mutex> l(graph.label_lookup_lock);
    auto it = graph.label_lookup_.find(hidden_label);
    if (it != graph.label_lookup_.end()) hidden = it->second, s.Visit(hidden);  // level 0 skips it
  }
  const Walker walk(graph, query, vectors, prefetch, hidden);
  const auto entry = walk.Descend();
  if (graph.num_deleted_ == 0 && allowed == nullptr) {
    walk.Level0<true>(entry, ef, allowed, s);
  } else {
    walk.Level0<false>(entry, ef, allowed, s);
  }
  std::sort_heap(s.top.begin(), s.top.end(), Less());  // ascending
  const size_t n = std::min(count, s.top.size());
  out->reserve(n);
  for (size_t i = 0; i < n; ++i) {
    out->emplace_back(s.top[i].first, static_cast<uint64_t>(graph.getExternalLabel(s.top[i].second)));
  }
}

ScopedHiddenNode::ScopedHiddenNode(uint64_t label)
    : previous_(hidden_label), had_previous_(hidden_set) {
  hidden_set = true;
  hidden_label = label;
}

ScopedHiddenNode::~ScopedHiddenNode() {
  hidden_set = had_previous_;
  hidden_label = previous_;
}

}  // namespace mrldb
