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
//    key-bytes: BIGINT = 8 bytes big-endian with the sign bit flipped; TEXT = the raw bytes.
//
//  "vectors" (column-blocked vector data; no compression: float32 does not compress)
//    'v' cid block(2, BE) first-row(8, BE) -> float32 little-endian, n rows x width(block)
//    Block b holds dims [g(b-1), g(b)) of the Matryoshka ladder (g(-1) = 0). One segment holds
//    the rows [first-row, first-row + n) of one block, row-major; n = value size / (4 * width).
//    Every block is split at the same row boundaries, so a scan walks the blocks it needs in
//    lockstep. Reading the first g dims of N rows reads ~N*g*4 bytes and never touches the
//    blocks above g.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "storage/coding.h"

namespace mrldb::storage {

inline constexpr uint32_t kFormatVersion = 1;

inline constexpr char kCfDefault[] = "default";
inline constexpr char kCfRows[] = "rows";
inline constexpr char kCfVectors[] = "vectors";

inline constexpr std::string_view kFormatKey = "mrldb:format";
inline constexpr std::string_view kNextCidKey = "mrldb:next_cid";
inline constexpr std::string_view kCatalogPrefix = "c:";

inline constexpr char kTagAllocator = 'a';
inline constexpr char kTagIdIndex = 'i';
inline constexpr char kTagRow = 'r';
inline constexpr char kTagTombstone = 'd';
inline constexpr char kTagSegment = 'v';

// Largest segment value a write produces: rows are split so that one block's segment stays
// under this many bytes (at least one row per segment).
inline constexpr size_t kMaxSegmentBytes = 1u << 20;

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
// Length of a segment key; its last 8 bytes are the first row.
inline constexpr size_t kSegmentKeySize = 1 + 4 + 2 + 8;

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
