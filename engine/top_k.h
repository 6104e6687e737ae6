// Candidate lists: (distance, row) pairs and a bounded max-heap keeping the k smallest.
#pragma once

#include <algorithm>
#include <cstdint>
#include <queue>
#include <vector>

namespace mrldb {

struct Candidate {
  float distance;
  uint64_t row;
  // Ties break by row id, so results are deterministic.
  bool operator<(const Candidate& o) const {
    return distance < o.distance || (distance == o.distance && row < o.row);
  }
};

class TopK {
 public:
  explicit TopK(size_t k) : k_(k) {}
  void Push(float d, uint64_t row) {
    if (heap_.size() < k_) {
      heap_.push({d, row});
    } else if (Candidate{d, row} < heap_.top()) {
      heap_.pop();
      heap_.push({d, row});
    }
  }
  // The kept candidates in ascending order; empties the heap.
  std::vector<Candidate> TakeSorted() {
    std::vector<Candidate> v(heap_.size());
    for (size_t i = v.size(); i-- > 0;) {
      v[i] = heap_.top();
      heap_.pop();
    }
    return v;
  }

 private:
  size_t k_;
  std::priority_queue<Candidate> heap_;
};

// The `limit` best of two ascending lists of distinct rows, ascending: what a TopK(limit) fed
// both would keep (the order is total), in one linear pass.
inline std::vector<Candidate> MergeBest(const std::vector<Candidate>& a,
                                        const std::vector<Candidate>& b, size_t limit) {
  std::vector<Candidate> out(std::min(limit, a.size() + b.size()));
  size_t i = 0, j = 0;
  for (Candidate& c : out) c = j == b.size() || (i < a.size() && a[i] < b[j]) ? a[i++] : b[j++];
  return out;
}

}  // namespace mrldb
