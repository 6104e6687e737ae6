#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include "storage/catalog.h"
#include "storage/coding.h"
#include "storage/key_format.h"
#include "storage/ladder.h"
#include "storage/row_codec.h"

namespace mrldb::storage {
namespace {

TEST(Coding, FixedAndVarintRoundTrip) {
  std::string s;
  PutFixed32(&s, 0xdeadbeef);
  PutFixed64(&s, 0x0123456789abcdefull);
  PutVarint64(&s, 300);
  PutVarint64(&s, ~uint64_t{0});
  PutLengthPrefixed(&s, "hello");
  PutDouble(&s, -2.5);
  Decoder d(s);
  EXPECT_EQ(d.Fixed32(), 0xdeadbeefu);
  EXPECT_EQ(d.Fixed64(), 0x0123456789abcdefull);
  EXPECT_EQ(d.Varint64(), 300u);
  EXPECT_EQ(d.Varint64(), ~uint64_t{0});
  EXPECT_EQ(d.LengthPrefixed(), "hello");
  EXPECT_EQ(d.Double(), -2.5);
  EXPECT_TRUE(d.done());
  EXPECT_FALSE(d.failed());
  d.U8();
  EXPECT_TRUE(d.failed());
}

TEST(Coding, TruncatedInputFailsInsteadOfReadingPastTheEnd) {
  std::string s;
  PutLengthPrefixed(&s, "abcdef");
  s.resize(4);
  Decoder d(s);
  EXPECT_EQ(d.LengthPrefixed(), "");
  EXPECT_TRUE(d.failed());
}

TEST(KeyFormat, BigEndianKeysSortNumerically) {
  EXPECT_LT(SegmentKey(1, 0, 255), SegmentKey(1, 0, 256));
  EXPECT_LT(SegmentKey(1, 0, ~uint64_t{0}), SegmentKey(1, 1, 0));
  EXPECT_LT(SegmentKey(1, 65535, 0), SegmentKey(2, 0, 0));
  EXPECT_EQ(SegmentKey(7, 3, 9).size(), kSegmentKeySize);
  EXPECT_EQ(PrefixSuccessor("ab\xff"), "ac");
}

TEST(KeyFormat, BigintKeysSortInSignedOrder) {
  std::vector<int64_t> values = {INT64_MIN, -5, -1, 0, 1, 42, INT64_MAX};
  for (size_t i = 1; i < values.size(); ++i) {
    std::string a, b;
    AppendKeyBytes(&a, Key{values[i - 1]});
    AppendKeyBytes(&b, Key{values[i]});
    EXPECT_LT(a, b) << values[i - 1] << " vs " << values[i];
  }
}

TEST(RowCodec, RoundTripsEveryType) {
  std::vector<Value> attrs = {Value{}, Value{int64_t{-7}}, Value{3.25}, Value{true},
                              Value{std::string("t\0x", 3)}};
  for (const Key& key : {Key{int64_t{-99}}, Key{std::string("doc-1")}}) {
    std::string bytes = EncodeRow(key, attrs);
    Key k;
    std::vector<Value> out;
    ASSERT_TRUE(DecodeRow(bytes, &k, &out).ok());
    EXPECT_EQ(k, key);
    EXPECT_EQ(out, attrs);
    Status st = DecodeRow(bytes.substr(0, bytes.size() - 1), &k, &out);
    EXPECT_EQ(st.code(), Status::Code::kCorruption);
  }
}

// ANALYZE's result and TUNE PREDICT's calibrations survive a round trip.
TEST(Catalog, AnalysisAndCalibrationsRoundTrip) {
  CollectionDescriptor d;
  d.cid = 3;
  d.spec.name = "p";
  d.spec.dim = 32;
  d.spec.attributes = {{"label", AttrType::kText}};
  ASSERT_TRUE(d.spec.Validate().ok());
  d.spec.analysis = {1000, 200, "label", 0.95, 0.4, true, 16, "Matryoshka-like", {{16, 0.7, 0.9, 40, 0.8}, {32, 1, 1, 10, -1}}};
  PredictCalibration c;
  c.label = "label";
  c.cascade = {16, 32};
  c.vote = VoteRule::kDistance;
  c.shortlist = 200;
  c.confidence = 0.95;
  c.accuracy = 0.99;
  c.full_accuracy = 0.995;
  c.mean_dims = 20.5;
  c.reached = true;
  c.sample = 400;
  c.rows = 1000;
  d.spec.calibrations = {c};
  auto back = DecodeDescriptor(EncodeDescriptor(d));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  const PrefixAnalysis& a = back->spec.analysis;
  EXPECT_EQ(a.rows, 1000u);
  EXPECT_EQ(a.verdict, "Matryoshka-like");
  EXPECT_TRUE(a.matryoshka);
  ASSERT_EQ(a.levels.size(), 2u);
  EXPECT_EQ(a.levels[0].shortlist, 40u);
  EXPECT_EQ(a.levels[1].accuracy, -1);
  ASSERT_EQ(back->spec.calibrations.size(), 1u);
  const PredictCalibration& b = back->spec.calibrations[0];
  EXPECT_EQ(b.cascade, c.cascade);
  EXPECT_EQ(b.vote, VoteRule::kDistance);
  EXPECT_EQ(b.confidence, 0.95);
  EXPECT_EQ(b.mean_dims, 20.5);
  EXPECT_TRUE(b.reached);
  std::string bad = EncodeDescriptor(d);
  constexpr size_t kSlots = 3;  // the attribute slots come last: width, count, one slot
  bad[bad.size() - kSlots - 8 - 4 - 1 - 5 * 8 - 4 - 1] = 7;  // the vote rule, 57 bytes before them
  EXPECT_EQ(DecodeDescriptor(bad).status().code(), Status::Code::kCorruption);
}

TEST(Catalog, DescriptorRoundTripAndCorruption) {
  CollectionDescriptor d;
  d.cid = 12;
  d.spec.name = "docs";
  d.spec.dim = 96;
  d.spec.granularities = {16, 32, 96};
  d.spec.metric = Metric::kL2;
  d.spec.id_type = IdType::kBigint;
  d.spec.attributes = {{"title", AttrType::kText}, {"year", AttrType::kInt}};
  d.spec.hnsw.codes = GraphCodes::kInt8;
  d.spec.target_recall = 0.9;
  d.spec.default_plan.stages = {{32, 40}, {96, 10}};
  d.spec.default_plan.ef = 40;
  d.spec.default_plan.k = 10;
  d.spec.default_plan.wide_k = 100;
  d.spec.default_plan.straight_keep = 50;
  d.spec.default_plan.wide_keep = 180;
  d.spec.default_plan.source = PlanSource::kAutoTuned;
  d.spec.default_plan.rows = 12345;
  d.spec.default_plan.target = 0.9;
  d.spec.default_plan.recall = 0.913;
  d.spec.graph_advice = {50000, "kept index_dim 32 float32"};
  d.spec.id_position = 3;  // declared (embedding, title, year, id)
  d.spec.vector_position = 0;
  ASSERT_TRUE(d.spec.Validate().ok());
  std::string bytes = EncodeDescriptor(d);
  auto back = DecodeDescriptor(bytes);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->cid, 12u);
  EXPECT_EQ(back->spec.name, "docs");
  EXPECT_EQ(back->spec.granularities, (std::vector<uint32_t>{16, 32, 96}));
  EXPECT_EQ(back->spec.index_dim, 32u);
  EXPECT_EQ(back->spec.metric, Metric::kL2);
  EXPECT_EQ(back->spec.attributes.size(), 2u);
  EXPECT_EQ(back->spec.attributes[1].type, AttrType::kInt);

  EXPECT_EQ(back->spec.hnsw.codes, GraphCodes::kInt8);
  EXPECT_EQ(back->spec.id_position, 3u);
  EXPECT_EQ(back->spec.vector_position, 0u);
  EXPECT_EQ(back->spec.ColumnOrder(),
            (std::vector<int>{CollectionSpec::kVectorColumn, 0, 1, CollectionSpec::kIdColumn}));

  EXPECT_EQ(back->spec.target_recall, 0.9);
  const DefaultPlan& plan = back->spec.default_plan;
  EXPECT_EQ(plan.stages, d.spec.default_plan.stages);
  EXPECT_EQ(plan.ef, 40u);
  EXPECT_EQ(plan.k, 10u);
  EXPECT_EQ(plan.wide_k, 100u);
  EXPECT_EQ(plan.straight_keep, 50u);
  EXPECT_EQ(plan.wide_keep, 180u);
  EXPECT_EQ(plan.source, PlanSource::kAutoTuned);
  EXPECT_EQ(plan.rows, 12345u);
  EXPECT_EQ(plan.target, 0.9);
  EXPECT_EQ(plan.recall, 0.913);
  EXPECT_EQ(back->spec.graph_advice.rows, 50000u);
  EXPECT_EQ(back->spec.graph_advice.note, "kept index_dim 32 float32");

  // The attribute slots come last: row width, count, one slot per attribute (a byte each here).
  // A descriptor without them stores attribute i at slot i; slots out of range are corrupt.
  constexpr size_t kSlots = 2 + 2;
  EXPECT_EQ(back->RowWidth(), 2u);
  EXPECT_EQ(back->Slot(1), 1u);
  {
    CollectionDescriptor altered = d;  // title dropped at slot 0, n added at slot 2
    altered.spec.attributes = {{"year", AttrType::kInt}, {"n", AttrType::kFloat}};
    altered.attribute_slots = {1, 2};
    altered.row_width = 3;
    auto round = DecodeDescriptor(EncodeDescriptor(altered));
    ASSERT_TRUE(round.ok()) << round.status().ToString();
    EXPECT_EQ(round->attribute_slots, (std::vector<uint32_t>{1, 2}));
    EXPECT_EQ(round->RowWidth(), 3u);
    std::string bad_slot = EncodeDescriptor(altered);
    bad_slot.back() = 3;  // slot 3 of a width of 3
    EXPECT_EQ(DecodeDescriptor(bad_slot).status().code(), Status::Code::kCorruption);
    bad_slot.back() = 1;  // slot 1 twice
    EXPECT_EQ(DecodeDescriptor(bad_slot).status().code(), Status::Code::kCorruption);
  }
  bytes.resize(bytes.size() - kSlots);
  auto no_slots = DecodeDescriptor(bytes);
  ASSERT_TRUE(no_slots.ok()) << no_slots.status().ToString();
  EXPECT_TRUE(no_slots->attribute_slots.empty());
  EXPECT_EQ(no_slots->RowWidth(), 2u);

  // Then the analysis and the calibrations (ANALYZE, TUNE PREDICT): 37 bytes when there are
  // none; a descriptor written before them decodes without.
  constexpr size_t kAnalysis = 37;
  auto no_analysis = DecodeDescriptor(std::string_view(bytes).substr(0, bytes.size() - kAnalysis));
  ASSERT_TRUE(no_analysis.ok()) << no_analysis.status().ToString();
  EXPECT_EQ(no_analysis->spec.analysis.rows, 0u);
  EXPECT_TRUE(no_analysis->spec.calibrations.empty());
  bytes.resize(bytes.size() - kAnalysis);
  // The column positions came before them: one varint byte each here.
  constexpr size_t kPositions = 2;
  std::string bad_position = bytes;
  bad_position.back() = 4;  // the vector at 4 of 4 columns
  EXPECT_EQ(DecodeDescriptor(bad_position).status().code(), Status::Code::kCorruption);
  auto no_positions = DecodeDescriptor(std::string_view(bytes).substr(0, bytes.size() - kPositions));
  ASSERT_TRUE(no_positions.ok()) << no_positions.status().ToString();
  EXPECT_EQ(no_positions->spec.id_position, 0u);  // written before: id, vector, attributes
  EXPECT_EQ(no_positions->spec.vector_position, 1u);
  EXPECT_EQ(no_positions->spec.graph_advice.rows, 50000u);
  bytes.resize(bytes.size() - kPositions);

  // The plan-source group: f64 target, u8 source, fixed64 rows, f64 target, f64 recall,
  // fixed32 wide_k, fixed32 straight_keep, fixed32 wide_keep.
  constexpr size_t kSourceGroup = 8 + 1 + 8 + 8 + 8 + 4 + 4 + 4;
  // Then the graph advice: fixed64 rows, lp note (1 + 25 bytes).
  constexpr size_t kAdviceGroup = 8 + 1 + 25;
  auto no_advice = DecodeDescriptor(std::string_view(bytes).substr(0, bytes.size() - kAdviceGroup));
  ASSERT_TRUE(no_advice.ok()) << no_advice.status().ToString();
  EXPECT_EQ(no_advice->spec.graph_advice.rows, 0u);
  EXPECT_TRUE(no_advice->spec.graph_advice.note.empty());
  EXPECT_EQ(no_advice->spec.default_plan.wide_keep, 180u);
  for (size_t cut : {bytes.size() - 2, bytes.size() - kAdviceGroup + 3}) {
    EXPECT_EQ(DecodeDescriptor(std::string_view(bytes).substr(0, cut)).status().code(),
              Status::Code::kCorruption) << cut;
  }
  bytes.resize(bytes.size() - kAdviceGroup);  // the older layouts below
  for (size_t cut : {size_t{0}, size_t{5}, bytes.size() - 2, bytes.size() - kSourceGroup + 1}) {
    auto bad = DecodeDescriptor(std::string_view(bytes).substr(0, cut));
    EXPECT_EQ(bad.status().code(), Status::Code::kCorruption) << cut;
  }
  // Written before plan sources existed: target 0.95, the stored plan set by hand at 0 rows.
  auto older = DecodeDescriptor(std::string_view(bytes).substr(0, bytes.size() - kSourceGroup));
  ASSERT_TRUE(older.ok()) << older.status().ToString();
  EXPECT_EQ(older->spec.target_recall, 0.95);
  EXPECT_EQ(older->spec.default_plan.source, PlanSource::kSet);
  EXPECT_EQ(older->spec.default_plan.rows, 0u);
  EXPECT_EQ(older->spec.default_plan.recall, -1);
  EXPECT_EQ(older->spec.default_plan.stages, d.spec.default_plan.stages);
  EXPECT_EQ(older->spec.hnsw.codes, GraphCodes::kInt8);
  // ... and before graph codes existed: a float32 graph.
  auto old = DecodeDescriptor(std::string_view(bytes).substr(0, bytes.size() - kSourceGroup - 1));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->spec.hnsw.codes, GraphCodes::kFloat32);
  EXPECT_EQ(older->spec.ColumnOrder(),
            (std::vector<int>{CollectionSpec::kIdColumn, CollectionSpec::kVectorColumn, 0, 1}));
  std::string unknown_codes = bytes;
  unknown_codes[bytes.size() - kSourceGroup - 1] = 7;
  EXPECT_EQ(DecodeDescriptor(unknown_codes).status().code(), Status::Code::kCorruption);
  std::string unknown_source = bytes;
  unknown_source[bytes.size() - kSourceGroup + 8] = 9;
  EXPECT_EQ(DecodeDescriptor(unknown_source).status().code(), Status::Code::kCorruption);
  std::string bad_target = bytes;
  const double nan = std::nan("");
  std::memcpy(bad_target.data() + bytes.size() - kSourceGroup, &nan, 8);
  EXPECT_EQ(DecodeDescriptor(bad_target).status().code(), Status::Code::kCorruption);
  std::string wrong_version = bytes;
  wrong_version[0] = 9;
  EXPECT_EQ(DecodeDescriptor(wrong_version).status().code(), Status::Code::kCorruption);
}

TEST(Ladder, BlocksAndCoverage) {
  Ladder l({16, 32, 64, 128});
  EXPECT_EQ(l.blocks(), 4u);
  EXPECT_EQ(l.begin(0), 0u);
  EXPECT_EQ(l.width(0), 16u);
  EXPECT_EQ(l.begin(3), 64u);
  EXPECT_EQ(l.width(3), 64u);
  EXPECT_EQ(l.BlocksCovering(1), 1u);
  EXPECT_EQ(l.BlocksCovering(16), 1u);
  EXPECT_EQ(l.BlocksCovering(17), 2u);
  EXPECT_EQ(l.BlocksCovering(128), 4u);
  EXPECT_TRUE(l.IsGranularity(64));
  EXPECT_FALSE(l.IsGranularity(65));
}

}  // namespace
}  // namespace mrldb::storage
