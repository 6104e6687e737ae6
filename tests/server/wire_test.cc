// The wire codec: the worked example of docs/protocol.md byte for byte, round trips of every
// frame and value, and hostile payloads (truncated, extended, random, huge counts) that must be
// refused without reading out of bounds.
#include "client/wire.h"

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace mrldb::wire {
namespace {

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    if (!out.empty()) out += ' ';
    out += "0123456789abcdef"[c >> 4];
    out += "0123456789abcdef"[c & 15];
  }
  return out;
}

std::string_view Payload(const std::string& frame) { return std::string_view(frame).substr(kHeaderBytes); }

TEST(Wire, WorkedExampleOfTheProtocolDocument) {
  EXPECT_EQ(Hex(EncodeHello({1, "ex"})), "0d 00 00 00 01 4d 52 4c 44 01 00 02 00 00 00 65 78");
  EXPECT_EQ(Hex(EncodeHelloOk({1, "mrldb 0.1.0", false, 64u << 20})),
            "17 00 00 00 41 01 00 0b 00 00 00 6d 72 6c 64 62 20 30 2e 31 2e 30 00 00 00 00 04");
  const Param vec = std::vector<float>{1.0f, 0.5f};
  EXPECT_EQ(Hex(EncodeQuery("SELECT id, distance FROM t ORDER BY embedding <-> $1 LIMIT 1", {&vec, 1})),
            "52 00 00 00 03 3c 00 00 00 53 45 4c 45 43 54 20 69 64 2c 20 64 69 73 74 61 6e 63 65 20 "
            "46 52 4f 4d 20 74 20 4f 52 44 45 52 20 42 59 20 65 6d 62 65 64 64 69 6e 67 20 3c 2d 3e "
            "20 24 31 20 4c 49 4d 49 54 20 31 01 00 00 00 05 02 00 00 00 00 00 80 3f 00 00 00 3f");
  ResultSet r;
  r.columns = {{"id", CellType::kBigint}, {"distance", CellType::kFloat}};
  r.rows = {{Cell{int64_t{1}}, Cell{0.5}}};
  r.tag = "SELECT 1";
  std::vector<std::string> frames;
  ASSERT_TRUE(EncodeResult(r, 100, 1000, 1u << 30, &frames).ok());
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(Hex(frames[0]),
            "19 00 00 00 43 02 00 00 00 02 00 00 00 69 64 01 08 00 00 00 64 69 73 74 61 6e 63 65 02");
  EXPECT_EQ(Hex(frames[1]),
            "17 00 00 00 44 01 00 00 00 01 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 e0 3f");
  EXPECT_EQ(Hex(frames[2]), "15 00 00 00 45 08 00 00 00 53 45 4c 45 43 54 20 31 00 00 00 00 00 00 00 00");
  EXPECT_EQ(Hex(EncodeEmpty(FrameType::kClose)), "01 00 00 00 06");
  EXPECT_EQ(Hex(EncodeError(Status::NotFound("collection \"nope\" does not exist").WithPosition(1, 1))),
            "2f 00 00 00 46 02 00 01 00 00 00 01 00 00 00 20 00 00 00 63 6f 6c 6c 65 63 74 69 6f 6e 20 "
            "22 6e 6f 70 65 22 20 64 6f 65 73 20 6e 6f 74 20 65 78 69 73 74");
}

TEST(Wire, EveryValueAndFrameRoundTrips) {
  QueryMatrix m;
  m.rows = 2;
  m.dim = 3;
  m.values = {1, 2, 3, 4, 5, 6};
  const std::vector<Param> params = {std::monostate{}, int64_t{-5}, 2.5, true, std::string("x\0y", 3),
                                     std::vector<float>{0.25f, -1}, std::vector<float>{}, m};
  auto q = DecodeQuery(Payload(EncodeQuery("SELECT $1", params)));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->sql, "SELECT $1");
  ASSERT_EQ(q->params.size(), params.size());
  for (size_t i = 0; i + 1 < params.size(); ++i) {
    ASSERT_EQ(q->params[i].index(), params[i].index()) << i;
    std::visit(
        [&](const auto& got) {
          using T = std::decay_t<decltype(got)>;
          if constexpr (!std::is_same_v<T, QueryMatrix>) {
            EXPECT_TRUE(got == std::get<T>(params[i])) << i;
          }
        },
        q->params[i]);
  }
  const auto& got = std::get<QueryMatrix>(q->params.back());
  EXPECT_EQ(got.rows, 2u);
  EXPECT_EQ(got.dim, 3u);
  EXPECT_EQ(got.values, m.values);

  ResultSet r;
  r.columns = {{"a", CellType::kText}, {"b", CellType::kVector}};
  r.rows = {{Cell{std::string("t")}, Cell{std::vector<float>{1, 2}}}, {Cell{}, Cell{}}, {Cell{false}, Cell{3.0}}};
  r.tag = "INSERT 3";
  r.rows_affected = 3;
  std::vector<std::string> frames;
  ASSERT_TRUE(EncodeResult(r, 10, 1000, 1u << 30, &frames).ok());
  ASSERT_EQ(frames.size(), 3u);
  auto columns = DecodeSchema(Payload(frames[0]));
  ASSERT_TRUE(columns.ok());
  ASSERT_EQ(columns->size(), 2u);
  EXPECT_EQ((*columns)[1].name, "b");
  EXPECT_EQ((*columns)[1].type, CellType::kVector);
  std::vector<std::vector<Cell>> rows;
  ASSERT_TRUE(DecodeRowBatch(Payload(frames[1]), 2, &rows).ok());
  EXPECT_EQ(rows, r.rows);
  std::string tag;
  uint64_t affected = 0;
  ASSERT_TRUE(DecodeComplete(Payload(frames[2]), &tag, &affected).ok());
  EXPECT_EQ(tag, "INSERT 3");
  EXPECT_EQ(affected, 3u);

  auto e = DecodeError(Payload(EncodeError(Status::NotFound("no such collection").WithPosition(2, 7))));
  ASSERT_TRUE(e.ok());
  const Status s = ToStatus(*e);
  EXPECT_TRUE(s.IsNotFound());
  EXPECT_EQ(s.message(), "no such collection");
  EXPECT_EQ(s.line(), 2u);
  EXPECT_EQ(s.column(), 7u);
  EXPECT_FALSE(e->fatal);
  auto limit = DecodeError(Payload(EncodeError(ErrorFrame{CodeOf(ErrorCode::kTimeout), true, 0, 0, "idle"})));
  ASSERT_TRUE(limit.ok());
  EXPECT_TRUE(limit->fatal);
  EXPECT_EQ(ToStatus(*limit).code(), Status::Code::kIOError);
  // A storage fault's refusal keeps its own code (10, READ_ONLY) on the wire: a client can
  // tell "retry once space is freed" from a failed statement.
  auto read_only = DecodeError(Payload(EncodeError(Status::ReadOnly("disk full: x"))));
  ASSERT_TRUE(read_only.ok());
  EXPECT_EQ(read_only->code, 10);
  EXPECT_TRUE(ToStatus(*read_only).IsReadOnly());
  EXPECT_EQ(ToStatus(*read_only).message(), "disk full: x");

  auto p = DecodeProgress(Payload(EncodeProgress({10, 20})));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->rows_done, 10u);
  EXPECT_EQ(p->rows_total, 20u);
  p = DecodeProgress(Payload(EncodeProgress({10, std::nullopt})));
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->rows_total.has_value());
  auto ok = DecodeHelloOk(Payload(EncodeHelloOk({1, "v", true, 1234})));
  ASSERT_TRUE(ok.ok());
  EXPECT_TRUE(ok->auth_required);
  EXPECT_EQ(ok->max_frame_bytes, 1234u);
  auto token = DecodeAuth(Payload(EncodeAuth("secret")));
  ASSERT_TRUE(token.ok());
  EXPECT_EQ(*token, "secret");
}

// Every decoder against every strict prefix and a one-byte extension of a valid payload, and
// against random bytes: each must fail (or, for random input, at least not crash).
TEST(Wire, FramesAreDescribedWithTheirArticle) {
  EXPECT_EQ(wire::DescribeFrame(0x03), "a QUERY frame");
  EXPECT_EQ(wire::DescribeFrame(0x02), "an AUTH frame");
  EXPECT_EQ(wire::DescribeFrame(0x7f), "an unknown frame (type 0x7f)");
}

TEST(Wire, TruncatedExtendedAndRandomPayloadsAreRefused) {
  const Param vec = std::vector<float>{1, 2, 3};
  ResultSet r;
  r.columns = {{"id", CellType::kBigint}, {"v", CellType::kVector}, {"t", CellType::kText}};
  r.rows = {{Cell{int64_t{7}}, Cell{std::vector<float>{1, 2}}, Cell{std::string("abc")}}};
  r.tag = "SELECT 1";
  std::vector<std::string> result;
  ASSERT_TRUE(EncodeResult(r, 10, 1000, 1u << 30, &result).ok());
  struct Case {
    std::string frame;
    std::function<bool(std::string_view)> decodes;
  };
  std::vector<std::vector<Cell>> rows;
  std::string tag;
  uint64_t n = 0;
  const std::vector<Case> cases = {
      {EncodeHello({1, "name"}), [](std::string_view p) { return DecodeHello(p).ok(); }},
      {EncodeHelloOk({1, "v", false, 9}), [](std::string_view p) { return DecodeHelloOk(p).ok(); }},
      {EncodeAuth("tok"), [](std::string_view p) { return DecodeAuth(p).ok(); }},
      {EncodeQuery("SELECT $1", {&vec, 1}), [](std::string_view p) { return DecodeQuery(p).ok(); }},
      {result[0], [](std::string_view p) { return DecodeSchema(p).ok(); }},
      {result[1], [&](std::string_view p) { return DecodeRowBatch(p, 3, &rows).ok(); }},
      {result[2], [&](std::string_view p) { return DecodeComplete(p, &tag, &n).ok(); }},
      {EncodeError(Status::InvalidArgument("x")), [](std::string_view p) { return DecodeError(p).ok(); }},
      {EncodeProgress({1, 2}), [](std::string_view p) { return DecodeProgress(p).ok(); }},
  };
  std::mt19937 rng(7);
  for (const Case& c : cases) {
    const std::string payload(Payload(c.frame));
    ASSERT_TRUE(c.decodes(payload)) << Hex(c.frame);
    for (size_t len = 0; len < payload.size(); ++len) {
      EXPECT_FALSE(c.decodes(std::string_view(payload).substr(0, len))) << Hex(c.frame) << " cut at " << len;
    }
    EXPECT_FALSE(c.decodes(payload + '\0')) << Hex(c.frame);
    for (int i = 0; i < 2000; ++i) {
      std::string junk(rng() % 64, '\0');
      for (char& ch : junk) ch = static_cast<char>(rng());
      c.decodes(junk);  // must not crash or read out of bounds (run under AddressSanitizer)
    }
  }
}

TEST(Wire, HugeCountsAreRefusedBeforeAllocating) {
  auto le32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  // A vector parameter of 2^32-1 dims in a 20-byte frame.
  auto q = DecodeQuery(le32(0) + le32(1) + '\x05' + le32(0xffffffff));
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("VECTOR of 4294967295 dims exceeds the frame"), std::string::npos);
  // A matrix whose rows * dim * 4 overflows 64 bits if computed carelessly.
  q = DecodeQuery(le32(0) + le32(1) + '\x06' + le32(0xffffffff) + le32(0xffffffff));
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("MATRIX of"), std::string::npos);
  q = DecodeQuery(le32(0) + le32(1) + '\x06' + le32(3) + le32(0));
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("dim must be at least 1"), std::string::npos);
  // More parameters than $65535, each a one-byte NULL: refused before 70,000 Params are made.
  q = DecodeQuery(le32(0) + le32(70000) + std::string(70000, '\0'));
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("70000 parameters (at most 65535)"), std::string::npos)
      << q.status().message();
  q = DecodeQuery(le32(0) + le32(0xfffffff0));
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("parameters cannot fit"), std::string::npos);
  q = DecodeQuery(le32(0) + le32(1) + '\x03' + '\x02');
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("BOOL must be one byte, 0 or 1"), std::string::npos);
  q = DecodeQuery(le32(0) + le32(1) + '\x09');
  ASSERT_FALSE(q.ok());
  EXPECT_NE(q.status().message().find("unknown value tag 9"), std::string::npos);
  std::vector<std::vector<Cell>> rows;
  EXPECT_FALSE(DecodeRowBatch(le32(0xffffffff), 2, &rows).ok());
  // Rows of no cells take no bytes: a 4-byte payload claiming 2^32-1 of them (found by
  // scripts/fuzz: the decoder allocated for them all).
  auto none = DecodeRowBatch(le32(0xffffffff), 0, &rows);
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.message().find("rows in a result without columns"), std::string::npos) << none.message();
  EXPECT_TRUE(rows.empty());
  EXPECT_FALSE(DecodeRowBatch(le32(1) + '\x06' + le32(1) + le32(1) + le32(0), 1, &rows).ok());  // no matrices in cells
  EXPECT_FALSE(DecodeSchema(le32(0xffffffff)).ok());
  EXPECT_FALSE(DecodeHello("MRLX" + std::string("\x01\x00", 2) + le32(0)).ok());
}

TEST(Wire, ResultsAreSplitIntoBoundedBatchesAndLimitsAreErrors) {
  ResultSet r;
  r.columns = {{"id", CellType::kBigint}};
  for (int64_t i = 0; i < 3000; ++i) r.rows.push_back({Cell{i}});
  std::vector<std::string> frames;
  ASSERT_TRUE(EncodeResult(r, 3000, 1 << 20, 1u << 30, &frames).ok());
  ASSERT_EQ(frames.size(), 5u);  // SCHEMA, 1024 + 1024 + 952 rows, COMPLETE
  std::vector<std::vector<Cell>> rows;
  for (size_t f = 1; f <= 3; ++f) ASSERT_TRUE(DecodeRowBatch(Payload(frames[f]), 1, &rows).ok());
  ASSERT_EQ(rows.size(), 3000u);
  EXPECT_EQ(rows[2999][0], Cell{int64_t{2999}});

  // Wide rows: a frame closes once it reaches kBatchBytes.
  ResultSet wide;
  wide.columns = {{"v", CellType::kVector}};
  for (int i = 0; i < 10; ++i) wide.rows.push_back({Cell{std::vector<float>(100000, 1.0f)}});
  frames.clear();
  ASSERT_TRUE(EncodeResult(wide, 10, 1 << 30, 1u << 30, &frames).ok());
  EXPECT_EQ(frames.size(), 2u + 4u);  // 400 KB rows: 3 take a frame past 1 MiB, so 3+3+3+1
  for (const auto& f : frames) EXPECT_LT(f.size(), 2 * kBatchBytes);

  frames.clear();
  Status s = EncodeResult(r, 2999, 1 << 30, 1u << 30, &frames);
  EXPECT_NE(s.message().find("the result has 3000 rows; this server sends at most 2999"), std::string::npos);
  s = EncodeResult(wide, 10, 1 << 20, 1u << 30, &frames);
  EXPECT_NE(s.message().find("larger than this server's limit of 1048576 bytes"), std::string::npos);
  // A frame limit below kBatchBytes closes frames before a row would pass it: one row each.
  frames.clear();
  ASSERT_TRUE(EncodeResult(wide, 10, 1 << 30, 500000, &frames).ok());
  EXPECT_EQ(frames.size(), 2u + 10u);
  for (const auto& f : frames) EXPECT_LE(f.size(), kHeaderBytes + 500000);
  // A single row larger than a frame may be cannot travel, even within the result limit.
  frames.clear();
  s = EncodeResult(wide, 10, 1 << 30, 300000, &frames);
  EXPECT_NE(s.message().find("row 1 of the result takes 400005 bytes, more than this server's frame "
                             "limit of 300000 bytes"), std::string::npos) << s.message();
  EXPECT_TRUE(frames.empty());
}

}  // namespace
}  // namespace mrldb::wire

namespace mrldb::wire {
namespace {

// COLUMN_BATCH: the same rows as ROW_BATCH, whatever the types, NULLs and vector shapes; the
// example of docs/protocol.md byte for byte; hostile payloads refused.
TEST(Wire, ColumnBatchesCarryTheSameRows) {
  ResultSet r;
  r.columns = {{"id", CellType::kBigint}, {"d", CellType::kFloat}, {"ok", CellType::kBool},
               {"name", CellType::kText}, {"v", CellType::kVector}, {"w", CellType::kVector}};
  for (int64_t i = 0; i < 2500; ++i) {
    r.rows.push_back({Cell{i}, i % 5 ? Cell{0.5 * double(i)} : Cell{}, Cell{i % 3 == 0},
                      i % 7 ? Cell{std::string(size_t(i % 4), char('a' + i % 26))} : Cell{},
                      Cell{std::vector<float>{float(i), -1}},
                      i % 11 ? Cell{std::vector<float>(size_t(i % 3 + 1), 2.0f)} : Cell{}});
  }
  std::vector<std::string> rows_frames, column_frames;
  ASSERT_TRUE(EncodeResult(r, 10000, 1 << 30, 1u << 30, &rows_frames).ok());
  ASSERT_TRUE(EncodeResult(r, 10000, 1 << 30, 1u << 30, &column_frames, ResultEncoding::kColumns).ok());
  ASSERT_EQ(column_frames.size(), rows_frames.size());
  std::vector<std::vector<Cell>> decoded;
  for (size_t f = 1; f + 1 < column_frames.size(); ++f) {
    ASSERT_EQ(uint8_t(column_frames[f][4]), uint8_t(FrameType::kColumnBatch));
    ASSERT_TRUE(DecodeColumnBatch(Payload(column_frames[f]), r.columns, &decoded).ok());
    EXPECT_LE(column_frames[f].size(), rows_frames[f].size() + 5 * r.columns.size());
  }
  EXPECT_EQ(decoded, r.rows);

  ResultSet small;
  small.columns = {{"id", CellType::kBigint}, {"t", CellType::kText}, {"v", CellType::kVector}};
  small.rows = {{Cell{int64_t{1}}, Cell{std::string("ab")}, Cell{std::vector<float>{1, 0.5f}}},
                {Cell{int64_t{2}}, Cell{}, Cell{std::vector<float>{0, 2}}}};
  std::vector<std::string> frames;
  ASSERT_TRUE(EncodeResult(small, 10, 1000, 1u << 30, &frames, ResultEncoding::kColumns).ok());
  EXPECT_EQ(Hex(frames[1]),
            "38 00 00 00 4c 02 00 00 00 "                                 // 2 rows
            "00 01 00 00 00 00 00 00 00 02 00 00 00 00 00 00 00 "        // id: no NULL, 1, 2
            "01 00 01 02 00 00 00 02 00 00 00 61 62 "                    // t: NULL flags, ends, "ab"
            "00 02 00 00 00 00 00 80 3f 00 00 00 3f 00 00 00 00 00 00 00 40");  // v: dim 2, 4 floats

  const auto le32 = [](uint32_t v) { return std::string(reinterpret_cast<const char*>(&v), 4); };
  std::vector<std::vector<Cell>> rows;
  const std::vector<ResultColumn> one_vector = {{"v", CellType::kVector}};
  const std::vector<ResultColumn> one_text = {{"t", CellType::kText}};
  EXPECT_FALSE(DecodeColumnBatch(le32(0xffffffff), one_vector, &rows).ok());
  EXPECT_FALSE(DecodeColumnBatch(le32(2) + '\0' + le32(0), one_vector, &rows).ok());  // dim 0
  EXPECT_FALSE(DecodeColumnBatch(le32(1) + '\0' + le32(1000) + "abcd", one_vector, &rows).ok());
  EXPECT_FALSE(DecodeColumnBatch(le32(2) + '\0' + le32(3) + le32(1) + "abc", one_text, &rows).ok());  // decreasing
  EXPECT_FALSE(DecodeColumnBatch(le32(1) + '\x02' + le32(0), one_text, &rows).ok());  // null flag 2
  EXPECT_FALSE(DecodeColumnBatch(le32(1) + '\0' + le32(1) + "ab", one_text, &rows).ok());  // trailing
  EXPECT_TRUE(rows.empty());

  // A cell of another type than its column cannot travel in columns.
  ResultSet odd;
  odd.columns = {{"x", CellType::kBigint}};
  odd.rows = {{Cell{1.5}}};
  frames.clear();
  Status s = EncodeResult(odd, 10, 1000, 1u << 30, &frames, ResultEncoding::kColumns);
  EXPECT_EQ(s.message(), "result column \"x\" (BIGINT) holds a FLOAT value");
}

TEST(Wire, CopyFramesRoundTrip) {
  auto begin = DecodeCopyBegin(Payload(EncodeCopyBegin(FrameType::kCopyIn, {"npy", true})));
  ASSERT_TRUE(begin.ok());
  EXPECT_EQ(begin->format, "npy");
  EXPECT_TRUE(begin->ids);
  EXPECT_EQ(Hex(EncodeCopyData(FrameType::kCopyData, CopyPart::kIds, "7\n")), "04 00 00 00 07 01 37 0a");
  const std::string out = EncodeCopyData(FrameType::kCopyDataOut, CopyPart::kData, "");
  auto data = DecodeCopyData(Payload(out));
  ASSERT_TRUE(data.ok());
  EXPECT_EQ(data->part, CopyPart::kData);
  EXPECT_EQ(data->bytes, "");
  EXPECT_FALSE(DecodeCopyData("").ok());
  EXPECT_FALSE(DecodeCopyData("\x02x").ok());
  auto why = DecodeCopyFail(Payload(EncodeCopyFail("no disk")));
  ASSERT_TRUE(why.ok());
  EXPECT_EQ(*why, "no disk");
  EXPECT_FALSE(DecodeCopyFail(std::string(Payload(EncodeCopyFail("x"))) + "y").ok());
  EXPECT_FALSE(DecodeCopyBegin(std::string("\x01\x00\x00\x00x\x02", 6)).ok());  // ids flag 2
  EXPECT_EQ(DescribeFrame(0x07), "a COPY_DATA frame");
  EXPECT_EQ(DescribeFrame(0x4c), "a COLUMN_BATCH frame");
}

}  // namespace
}  // namespace mrldb::wire
