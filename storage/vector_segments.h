// Column-blocked vector segments (the 'v' keys of key_format.h): writing rows into a batch and
// scanning the first blocks of a collection in row order.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include <rocksdb/write_batch.h>

#include "mrldb/status.h"
#include "storage/kv_store.h"
#include "storage/ladder.h"

namespace mrldb::storage {

// Rows per segment for this ladder: the widest block's segment stays <= kMaxSegmentBytes.
uint64_t SegmentRows(const Ladder& ladder);

// Adds the segments of rows [first_row, first_row + n) to `batch`. `rows` is row-major
// n x ladder.dim() float32. Every block is split at the same row boundaries.
void PutVectorSegments(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* cf, uint32_t cid,
                       const Ladder& ladder, uint64_t first_row, size_t n, const float* rows);

// One step of a scan: rows [first_row, first_row + n) of the first `blocks.size()` blocks.
// blocks[b] points at n x width(b) little-endian float32 values that may be unaligned (copy with
// memcpy); valid only during the callback.
struct SegmentView {
  uint64_t first_row = 0;
  size_t n = 0;
  std::span<const char* const> blocks;
};

struct SegmentScanCounters {
  uint64_t segments = 0;     // row ranges visited
  uint64_t value_bytes = 0;  // vector bytes read (all blocks)
};

// Visits every segment of blocks [0, nblocks) of collection `cid` in row order (all rows,
// dead ones included: the caller filters with tombstones). `fn` returns false to stop early.
// Errors: Corruption when the blocks are not split at the same rows or sizes do not match.
Status ScanSegments(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t nblocks,
                    const std::function<bool(const SegmentView&)>& fn,
                    SegmentScanCounters* counters);

// The row ids of collection `cid` marked dead ('d' keys), ascending.
Status LoadTombstones(const KvStore& kv, uint32_t cid, std::vector<uint64_t>* rows);

}  // namespace mrldb::storage
