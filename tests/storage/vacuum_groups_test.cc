// Vacuumed row groups (key_format.h, storage/vector_segments.h): rewriting groups without dead
// rows keeps every live row's bytes for scans (in any step, so views start inside groups) and
// point reads, reads dead rows as zeros in scans and as Corruption in point reads, leaves the
// last partial group alone, and malformed values are refused.
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "storage/key_format.h"
#include "storage/kv_store.h"
#include "storage/vector_segments.h"
#include "tests/storage/group_test_util.h"
#include "tests/test_util.h"

namespace mrldb::storage {
namespace {

constexpr uint32_t kCid = 3;
const Ladder kLadder({4, 12, 40});  // widths 4, 8, 28: groups of 201, 112, 34 rows
constexpr uint64_t kRows = 1000;    // a partial last group in every block

std::vector<float> Rows() { return testing::RandomVectors(kRows, kLadder.dim(), 11); }

std::vector<float> Norms(const std::vector<float>& rows) {
  return testing::PrefixSqNorms(rows, kLadder, kRows);
}

class VacuumGroups : public ::testing::Test {
 protected:
  void SetUp() override {
    auto kv = KvStore::Open(dir_.path(), DatabaseOptions{});
    ASSERT_TRUE(kv.ok()) << kv.status().ToString();
    kv_ = std::move(kv).value();
    rocksdb::WriteBatch wb;
    GroupTails tails;
    PutVectorGroups(&wb, kv_->handle(Cf::kVectors), kCid, kLadder, 0, kRows, rows_.data(),
                    norms_.data(), &tails);
    ASSERT_OK(kv_->Write(&wb, false));
  }

  VacuumCounts Vacuum(const std::vector<uint8_t>& live) {
    VacuumCounts counts;
    rocksdb::WriteBatch wb;
    const Status read = VacuumRowGroups(*kv_, kCid, kLadder, kRows, live, 0, kRows, &wb, &counts);
    EXPECT_TRUE(read.ok()) << read.ToString();
    const Status written = kv_->Write(&wb, false);
    EXPECT_TRUE(written.ok()) << written.ToString();
    return counts;
  }

  testing::TempDir dir_;
  std::unique_ptr<KvStore> kv_;
  const std::vector<float> rows_ = Rows();
  const std::vector<float> norms_ = Norms(rows_);
};

TEST_F(VacuumGroups, LiveRowsKeepTheirBytesDeadOnesAreGone) {
  std::vector<uint8_t> live(kRows, 1);
  for (uint64_t r = 0; r < kRows; ++r) live[r] = (r % 3 != 0) && !(r >= 224 && r < 448);
  const VacuumCounts counts = Vacuum(live);
  EXPECT_GT(counts.groups_rewritten, 0u);
  uint64_t dropped_bytes = 0;
  for (size_t b = 0; b < kLadder.blocks(); ++b) {
    const uint32_t g = GroupRows(kLadder.width(b));
    for (uint64_t r = 0; r < kRows - kRows % g; ++r) {
      dropped_bytes += live[r] ? 0 : 4 * (kLadder.width(b) + 1);
    }
  }
  EXPECT_EQ(counts.bytes_freed, dropped_bytes);
  for (size_t step : {size_t{1000}, size_t{7}, size_t{64}}) {  // views starting inside groups
    SCOPED_TRACE(step);
    // Block by block: a dead row keeps its bytes in a block's last, partial group (the next
    // write rewrites that one whole) and reads as zeros elsewhere.
    for (size_t b = 0; b < kLadder.blocks(); ++b) {
      const uint32_t g = GroupRows(kLadder.width(b));
      std::vector<uint8_t> kept_b(kRows, 0);
      for (uint64_t r = kRows - kRows % g; r < kRows; ++r) kept_b[r] = !live[r];
      ASSERT_OK(ScanVectorRows(
          *kv_, kCid, kLadder, b, b + 1, kRows, step,
          [&](const RowsView& v) {
            for (size_t i = 0; i < v.n; ++i) {
              const uint64_t r = v.first_row + i;
              const bool stored = live[r] || kept_b[r];
              const float* got = v.blocks[b] + i * kLadder.width(b);
              const float* want = rows_.data() + r * kLadder.dim() + kLadder.begin(b);
              for (uint32_t d = 0; d < kLadder.width(b); ++d) {
                EXPECT_EQ(got[d], stored ? want[d] : 0.0f) << "row " << r << " block " << b;
              }
              EXPECT_EQ(v.sqnorms[b][i], stored ? norms_[r * kLadder.blocks() + b] : 0.0f);
            }
            return !::testing::Test::HasFailure();
          },
          nullptr));
    }
  }
  // Point reads of live rows, in any order.
  std::vector<uint64_t> want_rows;
  for (uint64_t r = kRows; r-- > 0;) {
    if (live[r]) want_rows.push_back(r);
  }
  for (size_t b = 0; b < kLadder.blocks(); ++b) {
    const uint32_t w = kLadder.width(b);
    std::vector<float> out(want_rows.size() * w), sq(want_rows.size());
    ASSERT_OK(testing::ReadBlock(*kv_, kCid, kLadder, b, want_rows, out.data(), sq.data(), nullptr));
    for (size_t i = 0; i < want_rows.size(); ++i) {
      const uint64_t r = want_rows[i];
      ASSERT_EQ(std::memcmp(out.data() + i * w, rows_.data() + r * kLadder.dim() + kLadder.begin(b),
                            w * sizeof(float)), 0) << "row " << r << " block " << b;
      EXPECT_EQ(sq[i], norms_[r * kLadder.blocks() + b]);
    }
    // A vacuumed row cannot be read: only live rows are.
    const std::vector<uint64_t> dead = {3};
    const Status st = testing::ReadBlock(*kv_, kCid, kLadder, b, dead, out.data(), sq.data(), nullptr);
    EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
    EXPECT_NE(st.message().find("does not hold row 3"), std::string::npos) << st.message();
  }
  // A second vacuum with the same rows dead reads the groups and rewrites none.
  const VacuumCounts again = Vacuum(live);
  EXPECT_GT(again.groups_read, 0u);
  EXPECT_EQ(again.groups_rewritten, 0u);
  EXPECT_EQ(again.bytes_freed, 0u);
  // More rows die: the vacuumed groups are vacuumed again.
  std::vector<uint8_t> fewer = live;
  for (uint64_t r = 0; r < 300; ++r) fewer[r] = 0;
  EXPECT_GT(Vacuum(fewer).groups_rewritten, 0u);
  // Every row of a group dead: the group keeps its key, with nothing stored.
  std::string value;
  ASSERT_OK(kv_->Get(Cf::kVectors, SegmentKey(kCid, 2, 0), &value));
  EXPECT_EQ(value.size(), VacuumedTrailerBytes(34));
  GroupValue grp;
  ASSERT_TRUE(DecodeGroup(28, value, &grp));
  EXPECT_EQ(grp.rows, 34u);
  EXPECT_EQ(grp.stored, 0u);
}

TEST_F(VacuumGroups, AVacuumThatSawALiveRowMissingIsCorruption) {
  std::vector<uint8_t> live(kRows, 1);
  live[5] = 0;
  Vacuum(live);
  live[5] = 1;  // a row vacuumed away cannot be live again
  live[6] = 0;
  VacuumCounts counts;
  rocksdb::WriteBatch wb;
  const Status st = VacuumRowGroups(*kv_, kCid, kLadder, kRows, live, 0, kRows, &wb, &counts);
  EXPECT_EQ(st.code(), Status::Code::kCorruption) << st.ToString();
  EXPECT_NE(st.message().find("lacks live row 5"), std::string::npos) << st.message();
}

TEST(VacuumedGroupValue, MalformedValuesAreRefused) {
  constexpr uint32_t kWidth = 28;  // 34 rows per group: a 5-byte bitmap and 4 bytes of padding
  const size_t trailer = VacuumedTrailerBytes(34);
  ASSERT_EQ(trailer, 9u);
  for (uint32_t g = 1; g < 600; ++g) ASSERT_EQ(VacuumedTrailerBytes(g) % 4, 1u) << g;
  GroupValue grp;
  // Two rows stored (rows 0 and 33).
  std::string ok(2 * 4 * (kWidth + 1) + trailer, '\0');
  ok[2 * 4 * (kWidth + 1)] = 1;
  ok[2 * 4 * (kWidth + 1) + 4] = 2;
  ASSERT_TRUE(DecodeGroup(kWidth, ok, &grp));
  EXPECT_EQ(grp.stored, 2u);
  EXPECT_TRUE(grp.Stores(0));
  EXPECT_FALSE(grp.Stores(1));
  EXPECT_TRUE(grp.Stores(33));
  EXPECT_EQ(grp.StoredBefore(33), 1u);
  std::string bad = ok;
  bad[2 * 4 * (kWidth + 1) + 4] = 6;  // a bit beyond the group's 34 rows
  EXPECT_FALSE(DecodeGroup(kWidth, bad, &grp));
  bad = ok;
  bad.back() = 1;  // padding not zero
  EXPECT_FALSE(DecodeGroup(kWidth, bad, &grp));
  bad = ok;
  bad[2 * 4 * (kWidth + 1) + 1] = 1;  // three bits for two stored rows
  EXPECT_FALSE(DecodeGroup(kWidth, bad, &grp));
  EXPECT_FALSE(DecodeGroup(kWidth, std::string(5, '\0'), &grp));  // shorter than the trailer
  EXPECT_FALSE(DecodeGroup(kWidth, std::string(), &grp));
  EXPECT_FALSE(DecodeGroup(kWidth, std::string(8, '\0'), &grp));  // not whole rows
}

}  // namespace
}  // namespace mrldb::storage
