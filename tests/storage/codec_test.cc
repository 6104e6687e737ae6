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

  const size_t codes_at = bytes.size() - 3;  // then one varint byte per column position
  for (size_t cut : {size_t{0}, size_t{5}, codes_at - 1, bytes.size() - 1}) {
    auto bad = DecodeDescriptor(std::string_view(bytes).substr(0, cut));
    EXPECT_EQ(bad.status().code(), Status::Code::kCorruption) << cut;
  }
  // A descriptor written before graph codes existed ends before their byte: a float32 graph;
  // one written before the column positions were kept declared id, vector, attributes.
  auto old = DecodeDescriptor(std::string_view(bytes).substr(0, codes_at));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_EQ(old->spec.hnsw.codes, GraphCodes::kFloat32);
  auto no_positions = DecodeDescriptor(std::string_view(bytes).substr(0, codes_at + 1));
  ASSERT_TRUE(no_positions.ok()) << no_positions.status().ToString();
  EXPECT_EQ(no_positions->spec.hnsw.codes, GraphCodes::kInt8);
  EXPECT_EQ(no_positions->spec.ColumnOrder(),
            (std::vector<int>{CollectionSpec::kIdColumn, CollectionSpec::kVectorColumn, 0, 1}));
  std::string unknown_codes = bytes;
  unknown_codes[codes_at] = 7;
  EXPECT_EQ(DecodeDescriptor(unknown_codes).status().code(), Status::Code::kCorruption);
  std::string bad_position = bytes;
  bad_position.back() = 4;  // the vector at 4 of 4 columns
  EXPECT_EQ(DecodeDescriptor(bad_position).status().code(), Status::Code::kCorruption);
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
