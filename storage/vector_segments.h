// Column-blocked vector row groups (the 'v' keys of key_format.h): writing rows into a batch,
// scanning blocks of a collection in row order, reading the blocks of chosen rows with one
// batched point lookup per block, and rewriting groups without their dead rows (VACUUM).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/write_batch.h>

#include "mrldb/status.h"
#include "storage/kv_store.h"
#include "storage/ladder.h"

namespace mrldb::storage {

// A stored row group, decoded: it covers `rows` rows from its first one and stores `stored` of
// them (all, unless it was vacuumed). Points into the value it was decoded from.
struct GroupValue {
  size_t rows = 0, stored = 0;
  const char* norms = nullptr;       // stored x float32
  const char* values = nullptr;      // stored x width float32, row-major
  const uint8_t* present = nullptr;  // vacuumed: bit i = row first + i is stored; null: all are
  // Whether the group's row `offset` (< rows) is stored, and how many stored rows precede it
  // (its index among them when it is stored).
  bool Stores(size_t offset) const { return !present || (present[offset / 8] >> (offset % 8)) & 1; }
  size_t StoredBefore(size_t offset) const;
};

// Decodes a row group value of a block `width` dims wide (key_format.h). Returns false when the
// value is neither a full group nor a vacuumed one.
bool DecodeGroup(uint32_t width, std::string_view value, GroupValue* out);

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
// squared prefix norms ||x[0:g(b))||^2; entries of blocks not scanned are null. A row that
// VACUUM removed (a dead row) reads as zeros. Valid only during the callback.
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

// Reads blocks [b_from, b_to) of `rows` (any order, repeats allowed) in one batched read: every
// block's groups, in key order, split into parts read at once (KvStore::MultiGetSpread). Writes
// block b's rows.size() x width(b) values to out[b - b_from] (row-major, in the order of `rows`)
// and each row's ||x[0:g(b))||^2 to sqnorms[b - b_from]. `counters` (may be null) adds what the
// read cost. Errors: Corruption when a group is missing or malformed or does not store a row (it
// was vacuumed: only live rows may be read); the store's read errors.
Status ReadRowBlocks(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t b_from,
                     size_t b_to, std::span<const uint64_t> rows, float* const* out,
                     float* const* sqnorms, ReadCounters* counters);

// What a VacuumRowGroups call did.
struct VacuumCounts {
  uint64_t groups_read = 0;       // groups holding a dead row that were read
  uint64_t groups_rewritten = 0;  // of them, rewritten without rows they still stored
  uint64_t bytes_freed = 0;       // value and norm bytes of dead rows dropped
};

// Adds to `batch` the complete row groups (of a collection of `rows` rows) of every block whose
// first row is in [from, to), rewritten without the rows `live` (one byte per row, at least
// `rows` entries) marks dead, where they still store such a row. Only rows marked dead in a
// committed state may be dropped (the caller's snapshot); a group with no dead row is not read.
// Errors: Corruption when a group is missing, malformed or lacks a row `live` marks live; the
// store's read errors.
Status VacuumRowGroups(const KvStore& kv, uint32_t cid, const Ladder& ladder, uint64_t rows,
                       std::span<const uint8_t> live, uint64_t from, uint64_t to,
                       rocksdb::WriteBatch* batch, VacuumCounts* counts);

// The row ids of collection `cid` marked dead ('d' keys), ascending.
Status LoadTombstones(const KvStore& kv, uint32_t cid, std::vector<uint64_t>* rows);

}  // namespace mrldb::storage
