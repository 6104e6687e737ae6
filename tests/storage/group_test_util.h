// Helpers of the row-group tests: the squared prefix norms PutVectorGroups takes, and writing a
// collection's groups into a store.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include <gtest/gtest.h>

#include "storage/kv_store.h"
#include "storage/ladder.h"
#include "storage/vector_segments.h"

namespace mrldb::testing {

// n x ladder.blocks(): out[r * blocks + b] = ||rows[r][0:g(b))||^2 (rows: n x ladder.dim()).
inline std::vector<float> PrefixSqNorms(const std::vector<float>& rows,
                                        const storage::Ladder& ladder, uint64_t n) {
  std::vector<float> out(n * ladder.blocks());
  for (uint64_t r = 0; r < n; ++r) {
    float sum = 0;
    for (size_t b = 0; b < ladder.blocks(); ++b) {
      for (uint32_t d = ladder.begin(b); d < ladder.end(b); ++d) {
        sum += rows[r * ladder.dim() + d] * rows[r * ladder.dim() + d];
      }
      out[r * ladder.blocks() + b] = sum;
    }
  }
  return out;
}

// Writes rows [0, n) of collection `cid` as row groups in one batch; `flush` then flushes them
// to SST files.
inline void WriteRowGroups(storage::KvStore* kv, uint32_t cid, const storage::Ladder& ladder,
                           const std::vector<float>& rows, const std::vector<float>& norms,
                           uint64_t n, bool flush) {
  rocksdb::WriteBatch wb;
  storage::GroupTails tails;
  storage::PutVectorGroups(&wb, kv->handle(storage::Cf::kVectors), cid, ladder, 0, n,
                           rows.data(), norms.data(), &tails);
  ASSERT_TRUE(kv->Write(&wb, false).ok());
  if (flush) {
    ASSERT_TRUE(kv->Flush().ok());
  }
}

// Block `b` of `rows` through ReadRowBlocks (a one-block read).
inline Status ReadBlock(const storage::KvStore& kv, uint32_t cid, const storage::Ladder& ladder,
                        size_t b, std::span<const uint64_t> rows, float* out, float* sqnorms,
                        storage::ReadCounters* counters) {
  return storage::ReadRowBlocks(kv, cid, ladder, b, b + 1, rows, &out, &sqnorms, counters);
}

}  // namespace mrldb::testing
