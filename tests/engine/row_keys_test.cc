#include "engine/row_keys.h"

#include <random>
#include <set>
#include <unordered_map>

#include <gtest/gtest.h>

#include "engine/collection.h"

namespace mrldb {
namespace {

Key MakeKey(IdType type, int64_t i) {
  if (type == IdType::kBigint) return Key{i};
  // Some short (inline) and some long (heap) strings.
  return Key{std::string(i % 3 == 0 ? "a-rather-long-text-key-that-does-not-fit-inline-" : "k") +
             std::to_string(i)};
}

// Random writes, replacements and deletes against std::unordered_map, as the collection does
// them (a new row per write; the old row of a key unmapped by the new one).
void CheckAgainstReference(IdType type, uint64_t seed) {
  std::mt19937_64 rng(seed);
  RowKeys keys(type);
  std::unordered_map<Key, uint64_t, KeyHash> ref;
  uint64_t next_row = 0;
  for (int step = 0; step < 60000; ++step) {
    const int64_t id = static_cast<int64_t>(rng() % 5000) * (type == IdType::kBigint ? 1024 : 1);
    const Key key = MakeKey(type, id);
    const int op = static_cast<int>(rng() % 10);
    if (op < 6) {  // write (insert or replace)
      keys.Resize(next_row + 1);
      keys.Assign(next_row, key);
      ref[key] = next_row++;
    } else if (op < 8) {  // delete by key
      EXPECT_EQ(keys.Unmap(key), ref.erase(key) == 1);
    } else if (op < 9 && next_row > 0) {  // the row of a key dies, if it is that key's row
      const uint64_t row = rng() % next_row;
      keys.UnmapRow(row);
      auto it = ref.find(keys.Get(row));
      if (it != ref.end() && it->second == row) ref.erase(it);
    } else {
      auto it = ref.find(key);
      ASSERT_EQ(keys.Find(key), it == ref.end() ? RowKeys::kNoRow : it->second) << step;
    }
    ASSERT_EQ(keys.mapped(), ref.size());
  }
  for (const auto& [key, row] : ref) {
    ASSERT_EQ(keys.Find(key), row);
    ASSERT_EQ(keys.Get(row), key);
  }
  std::set<uint64_t> seen;
  keys.ForEachMapped([&](uint64_t row) { EXPECT_TRUE(seen.insert(row).second); });
  EXPECT_EQ(seen.size(), ref.size());
  for (int64_t id = 0; id < 5000; ++id) {
    const Key key = MakeKey(type, id * (type == IdType::kBigint ? 1024 : 1));
    auto it = ref.find(key);
    EXPECT_EQ(keys.Find(key), it == ref.end() ? RowKeys::kNoRow : it->second);
  }
}

TEST(RowKeys, MatchesAnUnorderedMapUnderWritesReplacementsAndDeletes) {
  CheckAgainstReference(IdType::kBigint, 1);
  CheckAgainstReference(IdType::kText, 2);
}

TEST(RowKeys, AKeyOfTheOtherTypeIsNotFound) {
  RowKeys ints(IdType::kBigint);
  ints.Resize(1);
  ints.Assign(0, Key{int64_t{7}});
  EXPECT_EQ(ints.Find(Key{std::string("7")}), RowKeys::kNoRow);
  EXPECT_FALSE(ints.Unmap(Key{std::string("7")}));
  EXPECT_EQ(ints.Find(Key{int64_t{7}}), 0u);
  RowKeys texts(IdType::kText);
  EXPECT_EQ(texts.Find(Key{std::string("x")}), RowKeys::kNoRow);  // empty map
  texts.Resize(1);
  texts.Assign(0, Key{std::string("x")});
  EXPECT_EQ(texts.Find(Key{int64_t{0}}), RowKeys::kNoRow);
  EXPECT_EQ(texts.GetValue(0), Value{std::string("x")});
}

TEST(RowKeys, SwapAndMemory) {
  RowKeys a(IdType::kText), b(IdType::kBigint);
  a.Resize(2);
  a.Assign(0, Key{std::string(100, 'x')});
  a.Assign(1, Key{std::string("short")});
  const uint64_t with_long = a.MemoryBytes();
  ASSERT_TRUE(a.Unmap(Key{std::string(100, 'x')}));
  a.Set(0, Key{std::string("y")});
  EXPECT_LE(a.MemoryBytes() + 100, with_long);  // the long string's heap bytes are gone
  a.Assign(0, Key{std::string(100, 'x')});
  a.swap(b);
  EXPECT_EQ(b.type(), IdType::kText);
  EXPECT_EQ(b.Find(Key{std::string(100, 'x')}), 0u);
  EXPECT_EQ(a.type(), IdType::kBigint);
  EXPECT_EQ(a.rows(), 0u);
  b.Resize(1);  // drops row 1's key; its heap bytes were inline anyway
  EXPECT_EQ(b.rows(), 1u);
}

TEST(RowKeys, BigintKeysTakeAboutTwentyFiveBytesARow) {
  // The budget's per-row figure (docs/architecture.md): 8 bytes of key and 8 to 23 bytes of
  // slots a row, against 120 for std::vector<Key> with std::unordered_map<Key, uint64_t>.
  RowKeys keys(IdType::kBigint);
  constexpr uint64_t kRows = 1000000;
  keys.Resize(kRows);
  for (uint64_t r = 0; r < kRows; ++r) keys.Assign(r, Key{static_cast<int64_t>(r * 7919)});
  EXPECT_EQ(keys.mapped(), kRows);
  EXPECT_LE(keys.MemoryBytes(), kRows * (8 + 23));
  EXPECT_EQ(keys.Find(Key{int64_t{7919 * 123456}}), 123456u);
  EXPECT_EQ(keys.Find(Key{int64_t{1}}), RowKeys::kNoRow);
}

}  // namespace
}  // namespace mrldb
