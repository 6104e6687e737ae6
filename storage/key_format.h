// The on-disk layout of an mrldb database. Every key and value is described here; the full
// prose version, with the reasons, is docs/storage-format.md. Change either and bump
// kFormatVersion: Open() refuses a database whose version differs.
//
// One RocksDB instance, three column families:
//
//  "default" (catalog; LZ4)
//    "mrldb:format"            -> fixed32 kFormatVersion
//    "mrldb:next_cid"          -> fixed32 next collection id (ids are never reused)
//    "c:" name                 -> collection descriptor (catalog.h: EncodeDescriptor)
//
//  "rows" (ids, attributes, deletions; LZ4).  cid = collection id, 4 bytes big-endian
//    'a' cid                   -> fixed64 next internal row id (row ids are dense, never reused)
//    'i' cid key-bytes         -> fixed64 row id              (primary key -> row id)
//    'r' cid rowid(8, BE)      -> row record (row_codec.h)    (row id -> key + attributes)
//    'd' cid rowid(8, BE)      -> ""                          (tombstone: row id is dead)
//    'x' cid                   -> fixed64 dead rows the last completed VACUUM covered
//    key-bytes: BIGINT = 8 bytes big-endian with the sign bit flipped; TEXT = the raw bytes.
//
//  "vectors" (column-blocked vector data in small row groups; no compression)
//    'v' cid block(2, BE) first-row(8, BE) -> n x float32 LE squared prefix norms, then
//                                             n x width(block) float32 LE values, row-major
//    Block b holds dims [g(b-1), g(b)) of the Matryoshka ladder (g(-1) = 0). Its rows are kept
//    in groups of GroupRows(width(b)) rows starting at multiples of it, so that one row's block
//    is one key found by arithmetic and one group (norms and values) fits a 4 KiB page. The
//    norms are ||x[0:g(b))||^2, computed at insert, so that a re-rank at g(b) needs no other
//    block. Only a block's last group may hold fewer rows; the next write rewrites it whole.
//    A vacuumed group (format 3) covers all GroupRows rows but stores only those not dead when
//    VACUUM rewrote it: k x float32 norms, k x width values, then a presence bitmap of
//    ceil(GroupRows / 8) bytes (bit i of byte i / 8, least significant first: row first + i is
//    stored), then 1..4 zero bytes that make the length 1 more than a multiple of 4. A full
//    group's length is a whole number of floats, so the length tells the two kinds apart. Only
//    complete groups are vacuumed; the last group is never one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/coding.h"

namespace mrldb::storage {

// 1: segments of up to 1 MiB per insert batch, without norms. 2: row groups (above). 3: adds
// vacuumed row groups and the 'x' record; a format 2 database is read as it is and becomes
// format 3 when VACUUM first writes (KvStore::UpgradeFormat).
inline constexpr uint32_t kFormatVersion = 3;
inline constexpr uint32_t kOldestReadableFormat = 2;

inline constexpr char kCfDefault[] = "default";
inline constexpr char kCfRows[] = "rows";
inline constexpr char kCfVectors[] = "vectors";

inline constexpr std::string_view kFormatKey = "mrldb:format";
// Deleted from "default" by a close that finds older WALs on disk and no memtable to flush
// (KvStore::Close), so that its flush deletes them. Sorts after every catalog key; never stored.
inline constexpr std::string_view kWalReleaseKey = "\xff\xffmrldb:release-wals";
inline constexpr std::string_view kNextCidKey = "mrldb:next_cid";
inline constexpr std::string_view kCatalogPrefix = "c:";

inline constexpr char kTagAllocator = 'a';
inline constexpr char kTagIdIndex = 'i';
inline constexpr char kTagRow = 'r';
inline constexpr char kTagTombstone = 'd';
inline constexpr char kTagSegment = 'v';
inline constexpr char kTagVacuumed = 'x';

// A row group's value (norms and values) stays within one page of this size, less room for
// the key and RocksDB's entry and block overhead.
inline constexpr size_t kPageBytes = 4096;
inline constexpr size_t kPageSlack = 64;

// Rows per group of a block `width` dims wide (at least 1: a row wider than a page is a group
// of its own).
inline constexpr uint32_t GroupRows(uint32_t width) {
  const size_t row = size_t{4} * (width + 1);
  return row >= kPageBytes - kPageSlack ? 1 : static_cast<uint32_t>((kPageBytes - kPageSlack) / row);
}

inline std::string CatalogKey(std::string_view name) {
  std::string k(kCatalogPrefix);
  k.append(name);
  return k;
}

// Prefix of every key of kind `tag` in collection `cid`.
inline std::string CollectionPrefix(char tag, uint32_t cid) {
  std::string k(1, tag);
  PutBigEndian32(&k, cid);
  return k;
}
inline std::string AllocatorKey(uint32_t cid) { return CollectionPrefix(kTagAllocator, cid); }
inline std::string VacuumRecordKey(uint32_t cid) { return CollectionPrefix(kTagVacuumed, cid); }
inline std::string RowKey(char tag, uint32_t cid, uint64_t row) {
  std::string k = CollectionPrefix(tag, cid);
  PutBigEndian64(&k, row);
  return k;
}
inline std::string SegmentPrefix(uint32_t cid, uint16_t block) {
  std::string k = CollectionPrefix(kTagSegment, cid);
  PutBigEndian16(&k, block);
  return k;
}
inline std::string SegmentKey(uint32_t cid, uint16_t block, uint64_t first_row) {
  std::string k = SegmentPrefix(cid, block);
  PutBigEndian64(&k, first_row);
  return k;
}
// Length of a segment (row group) key; its last 8 bytes are the first row.
inline constexpr size_t kSegmentKeySize = 1 + 4 + 2 + 8;

// Bytes after the stored rows of a vacuumed group of `group_rows` rows: the presence bitmap and
// the 1..4 zero bytes that make the value's length 1 mod 4.
inline constexpr size_t VacuumedTrailerBytes(uint32_t group_rows) {
  const size_t bitmap = (size_t{group_rows} + 7) / 8;
  return bitmap + 1 + (4 - bitmap % 4) % 4;
}

// The smallest key greater than every key starting with `prefix` (prefix must not be all 0xff).
inline std::string PrefixSuccessor(std::string prefix) {
  while (!prefix.empty()) {
    auto& c = prefix.back();
    if (static_cast<uint8_t>(c) != 0xff) {
      c = static_cast<char>(static_cast<uint8_t>(c) + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return prefix;
}

}  // namespace mrldb::storage
