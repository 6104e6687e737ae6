// MergeReverseEdges (gpu_search.h): plain C++, so that the CPU-only build and its tests have it.
#include <algorithm>

#include "cuda/gpu_search.h"

namespace mrldb::gpu {

std::vector<uint32_t> MergeReverseEdges(const std::vector<uint32_t>& pruned, uint64_t rows,
                                        uint32_t degree) {
  const uint32_t half = degree / 2;
  // Reverse lists, filled rank by rank so that each holds its lowest-ranked sources first.
  std::vector<uint32_t> rev(rows * size_t{half}, kNoEdge);
  std::vector<uint32_t> rev_n(rows, 0);
  for (uint32_t r = 0; r < degree; ++r) {
    for (uint64_t u = 0; u < rows; ++u) {
      const uint32_t v = pruned[u * degree + r];
      if (v == kNoEdge || v >= rows || v == u || rev_n[v] >= half) continue;
      rev[v * size_t{half} + rev_n[v]++] = static_cast<uint32_t>(u);
    }
  }
  std::vector<uint32_t> out(rows * size_t{degree}, kNoEdge);
  for (uint64_t u = 0; u < rows; ++u) {
    const uint32_t* fwd = &pruned[u * degree];
    uint32_t* o = &out[u * degree];
    uint32_t n = 0;
    auto add = [&](uint32_t v) {
      if (n >= degree || v == kNoEdge || v >= rows || v == u) return;
      if (std::find(o, o + n, v) != o + n) return;
      o[n++] = v;
    };
    for (uint32_t r = 0; r < half; ++r) add(fwd[r]);
    for (uint32_t r = 0; r < rev_n[u]; ++r) add(rev[u * size_t{half} + r]);
    for (uint32_t r = half; r < degree; ++r) add(fwd[r]);
  }
  return out;
}

}  // namespace mrldb::gpu
