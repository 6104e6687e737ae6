// Column blocking, measured: a scan of the first g dims of N rows reads about N*g*4 bytes from
// RocksDB, not N*D*4, at every granularity of the ladder.
#include <cstdio>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

struct Sum {
  double total = 0;
  uint64_t rows = 0;
};

void SumSink(void* ctx, size_t n, const uint64_t*, const float* values) {
  auto* s = static_cast<Sum*>(ctx);
  s->rows += n;
  s->total += values[0];
}

TEST(ColumnBlocking, PrefixScanReadsOnlyItsBlocks) {
  TempDir dir;
  constexpr uint32_t kDim = 768;
  constexpr size_t kRows = 40000;
  {
    auto db = testing::OpenOrDie(dir.path());
    CollectionSpec spec;
    spec.name = "docs";
    spec.dim = kDim;  // default ladder 16,32,64,128,256,512,768
    ASSERT_OK(db->CreateCollection(spec));
    SyntheticOptions so;
    so.dim = kDim;
    SyntheticGenerator gen(so);
    for (size_t first = 0; first < kRows; first += 1000) {
      auto rows = gen.Rows(first, 1000);
      InsertBatch b;
      for (size_t i = 0; i < 1000; ++i) {
        b.Add(Key{"id" + std::to_string(first + i)},
              std::span<const float>(rows.data() + i * kDim, kDim));
      }
      ASSERT_OK(db->Insert("docs", b));
    }
    ASSERT_OK(db->Flush());  // everything into compacted SST files
    ASSERT_OK(db->Close());
  }
  for (uint32_t g : DefaultLadder(kDim)) {
    // A fresh open per granularity: cold block cache, statistics from zero. Loading the
    // collection into memory after the open reads everything once; the deltas below are the
    // scan's.
    auto db = testing::OpenOrDie(dir.path());
    ASSERT_OK(db->WaitForLoading());
    const StorageStats before = db->GetStorageStats();
    Sum sum;
    auto stats = db->ScanPrefix("docs", g, SumSink, &sum);
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    const StorageStats after = db->GetStorageStats();
    EXPECT_EQ(sum.rows, kRows);
    EXPECT_EQ(stats->rows, kRows);
    const double ideal = double(kRows) * g * 4;
    const double iter_bytes = double(after.iter_bytes_read - before.iter_bytes_read);
    const double sst_bytes = double(after.sst_bytes_read - before.sst_bytes_read);
    // Logical bytes (keys + values through iterators) and physical bytes (from SST files).
    // The fixed part covers index blocks and the iterator readahead (at most 256 KiB) that
    // runs past the end of each block's key range.
    const double kFixedOverhead = (1 << 20) + double(DefaultLadder(kDim).size()) * (256 << 10);
    EXPECT_LE(iter_bytes, 1.3 * ideal + kFixedOverhead) << "g=" << g;
    EXPECT_LE(sst_bytes, 1.3 * ideal + kFixedOverhead) << "g=" << g;
    std::printf("g=%4u  ideal %9.0f B  iterator %.3fx  sst %.3fx\n", g, ideal, iter_bytes / ideal,
                sst_bytes / ideal);
    EXPECT_GE(iter_bytes, ideal) << "g=" << g;  // the counter really counts the scan
    EXPECT_EQ(stats->value_bytes, uint64_t(ideal)) << "g=" << g;
  }
}

TEST(ColumnBlocking, ScanSkipsDeletedRowsAndMatchesGet) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path());
  CollectionSpec spec;
  spec.name = "c";
  spec.dim = 40;
  spec.granularities = {8, 24, 40};
  spec.id_type = IdType::kBigint;
  ASSERT_OK(db->CreateCollection(spec));
  auto data = testing::RandomVectors(100, 40, 3);
  InsertBatch b;
  for (int64_t i = 0; i < 100; ++i) b.Add(Key{i}, std::span<const float>(data.data() + i * 40, 40));
  ASSERT_OK(db->Insert("c", b));
  std::vector<Key> del = {Key{int64_t{0}}, Key{int64_t{50}}, Key{int64_t{99}}};
  ASSERT_EQ(*db->Delete("c", del), 3u);

  struct Collect {
    std::vector<uint64_t> rows;
    std::vector<float> values;
  } got;
  auto sink = [](void* ctx, size_t n, const uint64_t* rows, const float* values) {
    auto* c = static_cast<Collect*>(ctx);
    c->rows.insert(c->rows.end(), rows, rows + n);
    c->values.insert(c->values.end(), values, values + n * 30);
  };
  auto stats = db->ScanPrefix("c", 30, sink, &got);  // 30 is inside block [24, 40)
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(got.rows.size(), 97u);
  for (size_t i = 0; i < got.rows.size(); ++i) {
    const uint64_t row = got.rows[i];  // row ids equal the BIGINT ids here (one batch from 0)
    EXPECT_TRUE(row != 0 && row != 50 && row != 99);
    auto rec = db->Get("c", Key{int64_t(row)}, 30);
    ASSERT_TRUE(rec.ok());
    for (int d = 0; d < 30; ++d) ASSERT_EQ(got.values[i * 30 + d], rec->vector[d]);
  }
}

}  // namespace
}  // namespace mrldb
