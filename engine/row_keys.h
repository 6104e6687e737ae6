// RowKeys: a collection's primary keys by row id, and the map from a key to its live row
// (docs/architecture.md, "Memory budget": per-row state). The keys are stored by the
// collection's id type (BIGINT: 8 bytes a row; TEXT: a std::string a row); the map is an
// open-addressing table of row ids that compares a key with the stored key of the row in a slot,
// so no key is stored twice. At 1M BIGINT rows this is about 25 bytes a row with the liveness
// byte, against 121 for a std::vector<Key> and a std::unordered_map<Key, uint64_t>.
//
// Rows are never removed from the by-row column; a mapped row's key must not change (Set on a
// mapped row REQUIRES Unmap first, or the same key).
//
// Thread safety: none; the owning Collection guards it with its reader/writer lock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/types.h"

namespace mrldb {

class RowKeys {
 public:
  static constexpr uint64_t kNoRow = ~uint64_t{0};

  explicit RowKeys(IdType type = IdType::kBigint) : type_(type) {}

  IdType type() const { return type_; }
  uint64_t rows() const { return type_ == IdType::kBigint ? ints_.size() : texts_.size(); }
  // Grows (or shrinks) the by-row column; new rows' keys are 0 or "" until Set. Rows cut off must
  // not be mapped.
  void Resize(uint64_t rows);
  // The key of row `row` (any row below rows()).
  Key Get(uint64_t row) const;
  // Row `row`'s key as an attribute value (filters on the id column).
  Value GetValue(uint64_t row) const;
  // Sets row `row`'s key (row < rows()). REQUIRES: the key has the column's type.
  void Set(uint64_t row, const Key& key);
  // Maps row `row`'s key to `row`, replacing the row it mapped to before.
  void Map(uint64_t row);
  // Set then Map.
  void Assign(uint64_t row, const Key& key) {
    Set(row, key);
    Map(row);
  }
  // The row `key` maps to, or kNoRow (also for a key of the other type).
  uint64_t Find(const Key& key) const;
  // Removes `key` from the map; false when it was not mapped.
  bool Unmap(const Key& key);
  // Removes row `row`'s key from the map when it maps to `row`.
  void UnmapRow(uint64_t row);
  // The rows mapped, in no particular order.
  template <typename Fn>
  void ForEachMapped(Fn&& fn) const {
    for (uint64_t r : slots_) {
      if (r != kNoRow) fn(r);
    }
  }
  uint64_t mapped() const { return mapped_; }
  void Reserve(uint64_t keys);  // map capacity for `keys` keys without a rehash

  // Bytes held: the column (and, for TEXT, the strings' heap bytes past their inline buffer) and
  // the map's slots.
  uint64_t MemoryBytes() const;
  // About what one row takes once `rows` rows are all mapped (for estimates before a load).
  static uint64_t BytesPerRow(IdType type);

  void swap(RowKeys& o) noexcept;

 private:
  static uint64_t Mix(uint64_t h);
  static uint64_t HashOf(const Key& key);
  uint64_t RowHash(uint64_t row) const;
  bool RowHasKey(uint64_t row, const Key& key) const;
  // The slot holding `key`'s row, or the empty slot where it would go.
  size_t Probe(const Key& key, uint64_t hash) const;
  // The same for the key of row `row`.
  size_t ProbeRow(uint64_t row) const;
  bool RowsEqual(uint64_t a, uint64_t b) const;
  static uint64_t HeapBytes(const std::string& s);
  void Rehash(size_t slots);
  void EraseSlot(size_t slot);

  IdType type_;
  std::vector<int64_t> ints_;       // BIGINT: key by row
  std::vector<std::string> texts_;  // TEXT: key by row
  std::vector<uint64_t> slots_;     // power-of-two size; kNoRow when empty
  uint64_t mapped_ = 0;
  uint64_t text_heap_ = 0;  // TEXT: heap bytes of the strings past their inline buffer
};

}  // namespace mrldb
