#include "engine/row_keys.h"

#include <bit>
#include <functional>
#include <utility>

namespace mrldb {

namespace {

// The map grows past this load: linear probing stays short (about 1.5 probes a hit at 0.7).
constexpr double kMaxLoad = 0.7;
constexpr size_t kMinSlots = 16;

}  // namespace

uint64_t RowKeys::Mix(uint64_t h) {
  // splitmix64's finalizer: sequential ids spread over the table.
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 31);
}

uint64_t RowKeys::HashOf(const Key& key) {
  if (const auto* i = std::get_if<int64_t>(&key)) return Mix(static_cast<uint64_t>(*i));
  return Mix(std::hash<std::string_view>()(std::get<std::string>(key)));
}

uint64_t RowKeys::RowHash(uint64_t row) const {
  if (type_ == IdType::kBigint) return Mix(static_cast<uint64_t>(ints_[row]));
  return Mix(std::hash<std::string_view>()(texts_[row]));
}

bool RowKeys::RowHasKey(uint64_t row, const Key& key) const {
  if (type_ == IdType::kBigint) {
    const auto* i = std::get_if<int64_t>(&key);
    return i && ints_[row] == *i;
  }
  const auto* s = std::get_if<std::string>(&key);
  return s && texts_[row] == *s;
}

uint64_t RowKeys::HeapBytes(const std::string& s) {
  static const size_t inline_chars = std::string().capacity();
  return s.capacity() > inline_chars ? s.capacity() + 1 : 0;
}

bool RowKeys::RowsEqual(uint64_t a, uint64_t b) const {
  return type_ == IdType::kBigint ? ints_[a] == ints_[b] : texts_[a] == texts_[b];
}

void RowKeys::Resize(uint64_t rows) {
  if (type_ == IdType::kBigint) {
    ints_.resize(rows, 0);
    return;
  }
  for (uint64_t r = rows; r < texts_.size(); ++r) text_heap_ -= HeapBytes(texts_[r]);
  texts_.resize(rows);
}

Key RowKeys::Get(uint64_t row) const {
  if (type_ == IdType::kBigint) return Key{ints_[row]};
  return Key{texts_[row]};
}

Value RowKeys::GetValue(uint64_t row) const {
  if (type_ == IdType::kBigint) return Value{ints_[row]};
  return Value{texts_[row]};
}

void RowKeys::Set(uint64_t row, const Key& key) {
  if (type_ == IdType::kBigint) {
    ints_[row] = std::get<int64_t>(key);
  } else {
    text_heap_ -= HeapBytes(texts_[row]);
    std::string(std::get<std::string>(key)).swap(texts_[row]);  // frees a longer old buffer
    text_heap_ += HeapBytes(texts_[row]);
  }
}

size_t RowKeys::Probe(const Key& key, uint64_t hash) const {
  const size_t mask = slots_.size() - 1;
  for (size_t s = hash & mask;; s = (s + 1) & mask) {
    const uint64_t r = slots_[s];
    if (r == kNoRow || RowHasKey(r, key)) return s;
  }
}

size_t RowKeys::ProbeRow(uint64_t row) const {
  const size_t mask = slots_.size() - 1;
  for (size_t s = RowHash(row) & mask;; s = (s + 1) & mask) {
    const uint64_t r = slots_[s];
    if (r == kNoRow || RowsEqual(r, row)) return s;
  }
}

void RowKeys::Rehash(size_t slots) {
  std::vector<uint64_t> old(slots, kNoRow);
  old.swap(slots_);
  const size_t mask = slots_.size() - 1;
  for (uint64_t r : old) {
    if (r == kNoRow) continue;
    size_t s = RowHash(r) & mask;
    while (slots_[s] != kNoRow) s = (s + 1) & mask;
    slots_[s] = r;
  }
}

void RowKeys::Reserve(uint64_t keys) {
  const size_t want = std::bit_ceil(std::max<size_t>(kMinSlots, size_t(double(keys) / kMaxLoad) + 1));
  if (want > slots_.size()) Rehash(want);
}

void RowKeys::Map(uint64_t row) {
  Reserve(mapped_ + 1);
  const size_t s = ProbeRow(row);
  if (slots_[s] == kNoRow) ++mapped_;
  slots_[s] = row;
}

uint64_t RowKeys::Find(const Key& key) const {
  if (slots_.empty()) return kNoRow;
  if (std::holds_alternative<int64_t>(key) != (type_ == IdType::kBigint)) return kNoRow;
  return slots_[Probe(key, HashOf(key))];
}

void RowKeys::EraseSlot(size_t slot) {
  // Backward-shift deletion: rows after the gap whose home slot lies at or before it move up, so
  // every row stays reachable from its home slot without tombstones.
  const size_t mask = slots_.size() - 1;
  size_t gap = slot;
  for (size_t s = (slot + 1) & mask; slots_[s] != kNoRow; s = (s + 1) & mask) {
    const size_t home = RowHash(slots_[s]) & mask;
    // Whether `home` lies cyclically in (gap, s]: then the row may not move to the gap.
    const bool stays = gap <= s ? (home > gap && home <= s) : (home > gap || home <= s);
    if (stays) continue;
    slots_[gap] = slots_[s];
    gap = s;
  }
  slots_[gap] = kNoRow;
  --mapped_;
}

bool RowKeys::Unmap(const Key& key) {
  if (slots_.empty()) return false;
  if (std::holds_alternative<int64_t>(key) != (type_ == IdType::kBigint)) return false;
  const size_t s = Probe(key, HashOf(key));
  if (slots_[s] == kNoRow) return false;
  EraseSlot(s);
  return true;
}

void RowKeys::UnmapRow(uint64_t row) {
  if (slots_.empty()) return;
  const size_t s = ProbeRow(row);
  if (slots_[s] == row) EraseSlot(s);
}

uint64_t RowKeys::MemoryBytes() const {
  return slots_.capacity() * sizeof(uint64_t) + ints_.capacity() * sizeof(int64_t) +
         texts_.capacity() * sizeof(std::string) + text_heap_;
}

uint64_t RowKeys::BytesPerRow(IdType type) {
  const uint64_t key = type == IdType::kBigint ? sizeof(int64_t) : sizeof(std::string);
  // The map's slots are between kMaxLoad / 2 and kMaxLoad full: about 2 slots a key.
  return key + 2 * sizeof(uint64_t);
}

void RowKeys::swap(RowKeys& o) noexcept {
  std::swap(type_, o.type_);
  ints_.swap(o.ints_);
  texts_.swap(o.texts_);
  slots_.swap(o.slots_);
  std::swap(mapped_, o.mapped_);
  std::swap(text_heap_, o.text_heap_);
}

}  // namespace mrldb
