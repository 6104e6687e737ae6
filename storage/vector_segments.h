// Column-blocked vector row groups (the 'v' keys of key_format.h): writing rows into a batch,
// scanning blocks of a collection in row order, and reading the blocks of chosen rows with one
// batched point lookup per block.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include <rocksdb/write_batch.h>

#include "mrldb/status.h"
#include "storage/kv_store.h"
#include "storage/ladder.h"

namespace mrldb::storage {

// The partial last group of every block: the rows a write's first group must repeat, since a
// group is rewritten whole.
struct GroupTails {
  // [block]: the stored value of the block's last group while it holds fewer than GroupRows
  // rows, else empty.
  std::vector<std::string> values;
};

// Reads the tails of a collection of `rows` rows. Errors: Corruption when a tail group is
// missing or has the wrong size.
Status LoadGroupTails(const KvStore& kv, uint32_t cid, const Ladder& ladder, uint64_t rows,
                      GroupTails* tails);

// Adds the groups covering rows [first_row, first_row + n) to `batch`. `rows` is row-major
// n x ladder.dim() float32; `sqnorms` n x ladder.blocks(), sqnorms[r * blocks + b] =
// ||x_r[0:g(b))||^2. REQUIRES: `tails` holds the tails of a collection of first_row rows; on
// return it holds those of first_row + n rows (keep a copy while the write may still fail).
void PutVectorGroups(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* cf, uint32_t cid,
                     const Ladder& ladder, uint64_t first_row, size_t n, const float* rows,
                     const float* sqnorms, GroupTails* tails);

// One step of a scan: rows [first_row, first_row + n). For each scanned block b, blocks[b]
// points at n x width(b) float32 values (row-major, 64-byte aligned) and sqnorms[b] at the n
// squared prefix norms ||x[0:g(b))||^2; entries of blocks not scanned are null. Valid only
// during the callback.
struct RowsView {
  uint64_t first_row = 0;
  size_t n = 0;
  std::span<const float* const> blocks;
  std::span<const float* const> sqnorms;
};

struct SegmentScanCounters {
  uint64_t segments = 0;     // row groups visited (all blocks)
  uint64_t value_bytes = 0;  // vector value bytes read (all blocks, norms not counted)
};

// Visits rows [0, end) of blocks [b_from, b_to) of collection `cid` in row order, in views of
// `step` rows starting at multiples of `step` (dead rows included: the caller filters them).
// `fn` returns false to stop early. Rows stored at or past `end` are not visited.
// Errors: Corruption when a block's groups do not tile [0, end) or a value has the wrong size.
Status ScanVectorRows(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t b_from,
                      size_t b_to, uint64_t end, size_t step,
                      const std::function<bool(const RowsView&)>& fn,
                      SegmentScanCounters* counters);

// Reads block `b` of `rows` (any order, repeats allowed) with one MultiGet of their groups, in
// key order. Writes rows.size() x width(b) values to `out` (row-major, in the order of `rows`)
// and each row's ||x[0:g(b))||^2 to `sqnorms`. `counters` (may be null) adds what the read
// cost. Errors: Corruption when a group is missing or malformed; the store's read errors.
Status ReadBlockRows(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t b,
                     std::span<const uint64_t> rows, float* out, float* sqnorms,
                     ReadCounters* counters);

// The row ids of collection `cid` marked dead ('d' keys), ascending.
Status LoadTombstones(const KvStore& kv, uint32_t cid, std::vector<uint64_t>* rows);

}  // namespace mrldb::storage
