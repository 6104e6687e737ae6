// mrldb::formats: npy, fvecs, ids files, writers, options, large files. csv and jsonl details are
// in formats_text_test.cc.
#include "query/formats/formats.h"

#include <cstring>
#include <cmath>

#include <fmt/format.h>

#include "mrldb/insert_batch.h"
#include "tests/query/formats_test_util.h"

namespace mrldb::formats {
namespace {

constexpr char kF4Dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

TEST_F(FormatsTest, Names) {
  EXPECT_EQ(*ParseFormat("NPY"), Format::kNpy);
  EXPECT_EQ(*ParseFormat("ndjson"), Format::kJsonl);
  EXPECT_CONTAINS(ParseFormat("parquet").status().message(), "unknown file format 'parquet'");
  EXPECT_EQ(*FormatFromPath("/a/b.Fvecs"), Format::kFvecs);
  EXPECT_EQ(*FormatFromPath("x.csv"), Format::kCsv);
  EXPECT_CONTAINS(FormatFromPath("/a.b/data").status().message(), "cannot tell the format");
  EXPECT_EQ(DefaultIdsPath("/d/base.npy"), "/d/base.ids.txt");
  EXPECT_EQ(DefaultIdsPath("/d.x/base"), "/d.x/base.ids.txt");
  EXPECT_EQ(FormatName(Format::kJsonl), "jsonl");
}

TEST_F(FormatsTest, NpyFloat32RoundTripWithIds) {
  Batch b;
  b.dim = 5;
  b.vectors = OddFloats(5 * 1234, 1);
  for (int64_t i = 0; i < 1234; ++i) b.ids.push_back(Key{i * 7 - 100});
  WriteOptions w;
  w.dim = 5;
  w.ids_path = DefaultIdsPath(P("v.npy"));
  WriteOk(P("v.npy"), w, b, 100);
  const std::string bytes = Slurp(P("v.npy"));
  ASSERT_EQ(bytes.size(), 128 + 5 * 1234 * 4u);
  EXPECT_EQ(bytes.substr(0, 8), std::string("\x93NUMPY\x01\x00", 8));
  EXPECT_CONTAINS(bytes.substr(10, 118), "'shape': (1234, 5)");
  EXPECT_EQ(bytes[127], '\n');
  EXPECT_EQ(Slurp(P("v.ids.txt")).substr(0, 10), "-100\n-93\n-");

  ReadOptions r;
  r.ids_path = P("v.ids.txt");
  r.id_type = IdType::kBigint;
  auto reader = VectorReader::Open(P("v.npy"), r);
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->dim(), 5u);
  EXPECT_EQ((*reader)->total_rows(), 1234u);
  EXPECT_TRUE((*reader)->has_ids());
  EXPECT_TRUE((*reader)->attribute_names().empty());
  Batch got, part;
  got.dim = 5;
  while (true) {
    auto more = (*reader)->Next(&part, 500);
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    EXPECT_LE(part.rows(), 500u);
    ASSERT_EQ(part.ids.size(), part.rows());
    EXPECT_TRUE(part.attributes.empty());
    got.vectors.insert(got.vectors.end(), part.vectors.begin(), part.vectors.end());
    got.ids.insert(got.ids.end(), part.ids.begin(), part.ids.end());
  }
  EXPECT_EQ((*reader)->rows_read(), 1234u);
  EXPECT_EQ(Bits(got.vectors), Bits(b.vectors));
  EXPECT_EQ(got.ids, b.ids);
  // Without the ids file: no ids.
  Batch plain = ReadOk(P("v.npy"));
  EXPECT_TRUE(plain.ids.empty());
  EXPECT_EQ(Bits(plain.vectors), Bits(b.vectors));
}

TEST_F(FormatsTest, NpyFloat64IsNarrowedWithANote) {
  const std::vector<double> wide = {1.0, -2.5, 1.0 / 3.0, 1e-50, 3e38, -0.0};
  std::vector<float> want;
  for (double d : wide) want.push_back(static_cast<float>(d));
  Write("d.npy", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", Bytes(wide)));
  auto reader = VectorReader::Open(P("d.npy"), {});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_EQ((*reader)->note(), "float64 values narrowed to float32");
  Batch b = ReadOk(P("d.npy"));
  EXPECT_EQ(b.dim, 3u);
  EXPECT_EQ(Bits(b.vectors), Bits(want));
  std::vector<uint64_t> be;
  for (double d : wide) {
    uint64_t bits;
    std::memcpy(&bits, &d, 8);
    be.push_back(__builtin_bswap64(bits));
  }
  Write("db.npy", Npy("{'descr': '>f8', 'fortran_order': False, 'shape': (3, 2), }", Bytes(be)));
  EXPECT_EQ(Bits(ReadOk(P("db.npy")).vectors), Bits(want));
  // Beyond float32's range, or not finite: an error naming the row and element.
  Write("big.npy", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
                       Bytes(std::vector<double>{0, 1e39})));
  EXPECT_NE(ErrorOf(P("big.npy")).find("row 0 (0-based), element 1: 1e+39 is out of float32 range"),
            std::string::npos) << ErrorOf(P("big.npy"));
  Write("nan.npy", Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }",
                       Bytes(std::vector<double>{std::nan("")})));
  EXPECT_NE(ErrorOf(P("nan.npy")).find("is not allowed"), std::string::npos);
  Write("i8.npy", Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1, 1), }",
                      Bytes(std::vector<int64_t>{1})));
  EXPECT_NE(ErrorOf(P("i8.npy")).find("need float32 ('<f4', '>f4'), float16 ('<f2') or float64"),
            std::string::npos) << ErrorOf(P("i8.npy"));
}

TEST_F(FormatsTest, NpyFloat16IsWidened) {
  // 1, -2, 1/3 (rounded), the smallest subnormal, the largest half, -0.
  const std::vector<uint16_t> half = {0x3C00, 0xC000, 0x3555, 0x0001, 0x7BFF, 0x8000};
  const std::vector<float> want = {1.0f, -2.0f, 0.333251953125f, 5.9604644775390625e-08f,
                                   65504.0f, -0.0f};
  Write("h.npy", Npy("{'descr': '<f2', 'fortran_order': False, 'shape': (3, 2), }", Bytes(half)));
  Batch b = ReadOk(P("h.npy"));
  EXPECT_EQ(b.dim, 2u);
  EXPECT_EQ(Bits(b.vectors), Bits(want));
  // Big-endian float16 and float32.
  std::vector<uint16_t> swapped;
  for (uint16_t h : half) swapped.push_back(static_cast<uint16_t>(h >> 8 | h << 8));
  Write("hb.npy", Npy("{'descr': '>f2', 'fortran_order': False, 'shape': (3, 2), }",
                      Bytes(swapped)));
  EXPECT_EQ(Bits(ReadOk(P("hb.npy")).vectors), Bits(want));
  std::vector<uint32_t> be;
  for (uint32_t bits : Bits(want)) be.push_back(__builtin_bswap32(bits));
  Write("fb.npy", Npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }", Bytes(be)));
  Batch fb = ReadOk(P("fb.npy"));
  EXPECT_EQ(fb.dim, 3u);
  EXPECT_EQ(Bits(fb.vectors), Bits(want));
  // Every finite half, twice (more than one slice of the widening loop).
  std::vector<uint16_t> all;
  std::vector<float> widened;
  for (int pass = 0; pass < 2; ++pass) {
    for (uint32_t h = 0; h < 0x10000; ++h) {
      if ((h & 0x7C00) == 0x7C00) continue;  // Inf and NaN
      all.push_back(static_cast<uint16_t>(h));
      widened.push_back(HalfToFloat(static_cast<uint16_t>(h)));
    }
  }
  Write("all.npy", Npy(fmt::format("{{'descr': '<f2', 'fortran_order': False, 'shape': ({}, 2), }}",
                                   all.size() / 2), Bytes(all)));
  EXPECT_EQ(Bits(ReadOk(P("all.npy")).vectors), Bits(widened));
}

TEST_F(FormatsTest, NpyVersions2And3AndOddHeaders) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  for (int major : {2, 3}) {
    const std::string name = "v" + std::to_string(major) + ".npy";
    Write(name, Npy(kF4Dict, Bytes(v), major));
    EXPECT_EQ(ReadOk(P(name)).vectors, v) << name;
  }
  // Double quotes, key order, no trailing comma, Python 2 longs, a 0-row file.
  Write("q.npy", Npy("{\"shape\": (2L, 3L), \"fortran_order\": False, \"descr\": \"<f4\"}",
                     Bytes(v)));
  EXPECT_EQ(ReadOk(P("q.npy")).vectors, v);
  Write("e.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", ""));
  Batch e = ReadOk(P("e.npy"));
  EXPECT_EQ(e.rows(), 0u);
  EXPECT_EQ(e.dim, 3u);
}

TEST_F(FormatsTest, NpyErrors) {
  const std::string data = Bytes(std::vector<float>(6, 1.0f));
  const auto err = [&](std::string_view bytes) { return ErrorOf(Write("bad.npy", bytes)); };
  EXPECT_CONTAINS(err("PK\x03\x04 not numpy"), "bad.npy: not a .npy file (wrong magic");
  EXPECT_CONTAINS(err(Npy(kF4Dict, data, 4)), "bad.npy: unsupported .npy version 4.0");
  EXPECT_CONTAINS(err(Npy(kF4Dict, data, 1, 1)), "unsupported .npy version 1.1");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", data)),
                  "truncated: shape (2, 3) needs 48 bytes of data, the file has 24");
  EXPECT_CONTAINS(err(Npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 3), }", data)),
                  "unsupported dtype '<i4'");
  EXPECT_CONTAINS(err(Npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }",
                          data)), "structured dtype");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data)),
                  "fortran_order is True");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6,), }", data)),
                  "shape (6,) is not 2-D");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3), }",
                          data)), "shape (1, 2, 3) is not 2-D");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (6, 0), }", data)),
                  "dim 0 is not in 1..65536");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 3), }", data)),
                  "truncated: shape (3, 3) needs 36 bytes of data, the file has 24");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3), }", data)),
                  "unexpected bytes after the data: shape (1, 3) needs 12 bytes");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False}", data)),
                  "malformed .npy header (missing 'shape')");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': Nope, 'shape': (2, 3)}", data)),
                  "malformed .npy header (fortran_order is neither True nor False)");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, x)}", data)),
                  "shape is not a tuple of integers");
  EXPECT_CONTAINS(err(Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'x': 1}",
                          data)), "unknown key 'x'");
  EXPECT_CONTAINS(err(std::string("\x93NUMPY\x01\x00\xff\x00{'descr'", 17)),
                  "truncated header: 255 bytes announced");
  EXPECT_CONTAINS(err(std::string("\x93NUMPY\x01", 7)), "not a .npy file");
  std::vector<float> nan = {1, 2, 3, 4, NAN, 6};
  EXPECT_CONTAINS(err(Npy(kF4Dict, Bytes(nan))), "bad.npy: row 1 (0-based), element 1: nan is not");
  ReadOptions o;
  o.dim = 4;
  EXPECT_CONTAINS(ErrorOf(Write("ok.npy", Npy(kF4Dict, data)), o), "ok.npy: vectors have dim 3, "
                  "expected 4");
  EXPECT_CONTAINS(ErrorOf(P("missing.npy")), "IO error: cannot open '" + P("missing.npy"));
}

TEST_F(FormatsTest, FvecsRoundTripAndErrors) {
  Batch b;
  b.dim = 3;
  b.vectors = OddFloats(3 * 50, 2);
  WriteOptions w;
  w.dim = 3;
  WriteOk(P("v.fvecs"), w, b, 7);
  ASSERT_EQ(Slurp(P("v.fvecs")).size(), 50 * 16u);
  auto r = VectorReader::Open(P("v.fvecs"), {});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)->total_rows(), 50u);
  EXPECT_EQ((*r)->format(), Format::kFvecs);
  EXPECT_EQ(Bits(ReadOk(P("v.fvecs")).vectors), Bits(b.vectors));

  const auto rec = [](int32_t d, int n) {
    std::string s(reinterpret_cast<const char*>(&d), 4);
    return s + std::string(4 * n, '\0');
  };
  // Size a whole number of records, a record in the middle ragged: found while reading.
  EXPECT_CONTAINS(ErrorOf(Write("r.fvecs", rec(2, 2) + rec(2, 2) + rec(5, 2) + rec(2, 2))),
                  "r.fvecs: ragged .fvecs: record 2 (0-based) has dimension 5, record 0 has 2");
  // Size not a whole number: found when opening.
  EXPECT_CONTAINS(ErrorOf(Write("s.fvecs", rec(2, 2) + rec(3, 3))),
                  "ragged .fvecs: record 1 (0-based) has dimension 3, record 0 has 2");
  EXPECT_CONTAINS(ErrorOf(Write("t.fvecs", rec(2, 2) + rec(2, 1))),
                  "truncated: record 1 (0-based) has 8 of its 12 bytes");
  EXPECT_CONTAINS(ErrorOf(Write("u.fvecs", rec(-1, 0))), "record 0 has dimension -1");
  EXPECT_CONTAINS(ErrorOf(Write("w.fvecs", std::string("ab", 2))), "truncated: record 0");
  Batch empty = ReadOk(Write("e.fvecs", ""));
  EXPECT_EQ(empty.rows(), 0u);
  std::string inf = rec(2, 2) + rec(2, 2);
  const float x = INFINITY;
  std::memcpy(inf.data() + 12 + 8, &x, 4);
  EXPECT_CONTAINS(ErrorOf(Write("i.fvecs", inf)), "record 1 (0-based), element 1: inf is not");
}

TEST_F(FormatsTest, IdsFile) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  Write("v.npy", Npy(kF4Dict, Bytes(v)));
  ReadOptions o;
  o.ids_path = Write("ids.txt", " a b \r\nc\n");
  Batch b = ReadOk(P("v.npy"), o);
  EXPECT_EQ(b.ids, (std::vector<Key>{Key{" a b "}, Key{"c"}}));
  o.id_type = IdType::kBigint;
  o.ids_path = Write("ids.txt", " 7 \n-9223372036854775808");
  EXPECT_EQ(ReadOk(P("v.npy"), o).ids, (std::vector<Key>{Key{int64_t{7}}, Key{INT64_MIN}}));
  o.ids_path = Write("ids.txt", "1\nx2\n");
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "ids.txt: line 2: BIGINT id: 'x2' is not an integer");
  o.ids_path = Write("ids.txt", "1\n99999999999999999999\n");
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "line 2: BIGINT id: '99999999999999999999' is outside");
  o.ids_path = Write("ids.txt", "1\n\n2\n");
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "ids.txt: line 2: the id is empty");
  o.ids_path = Write("ids.txt", "1\n");
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "ids.txt: 1 ids, but " + P("v.npy") + " has 2 rows");
  o.ids_path = Write("ids.txt", "1\n2\n3\n");
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "3 ids, but");
  o.ids_path = P("nope.txt");
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "cannot open '" + P("nope.txt"));
}

// Ids as a NumPy array: int64, int32 or unicode strings, for BIGINT and TEXT ids, and the errors.
TEST_F(FormatsTest, IdsAsNpy) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  Write("v.npy", Npy(kF4Dict, Bytes(v)));
  const int64_t i8[] = {INT64_MIN, 42};
  const int32_t i4[] = {-7, 2147483647};
  const std::string i8_data(reinterpret_cast<const char*>(i8), sizeof i8);
  const std::string i4_data(reinterpret_cast<const char*>(i4), sizeof i4);
  // np.array(["b\u00e9", "12"]): '<U2', UTF-32LE, the shorter one NUL-padded.
  const char32_t u2[] = {U'b', U'\u00e9', U'1', U'2'};
  const std::string u_data(reinterpret_cast<const char*>(u2), sizeof u2);
  const char32_t u3[] = {U'x', 0, 0, U'\U0001F600', U'7', 0};
  const std::string u3_data(reinterpret_cast<const char*>(u3), sizeof u3);
  ReadOptions o;
  o.id_type = IdType::kBigint;
  o.ids_path = Write("i8.npy", Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", i8_data));
  EXPECT_EQ(ReadOk(P("v.npy"), o).ids, (std::vector<Key>{Key{INT64_MIN}, Key{int64_t{42}}}));
  o.ids_path = Write("i4.npy", Npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2, 1), }", i4_data));
  EXPECT_EQ(ReadOk(P("v.npy"), o).ids, (std::vector<Key>{Key{int64_t{-7}}, Key{int64_t{2147483647}}}));
  o.id_type = IdType::kText;
  EXPECT_EQ(ReadOk(P("v.npy"), o).ids, (std::vector<Key>{Key{"-7"}, Key{"2147483647"}}));
  o.ids_path = Write("u.npy", Npy("{'descr': '<U2', 'fortran_order': False, 'shape': (2,), }", u_data));
  EXPECT_EQ(ReadOk(P("v.npy"), o).ids, (std::vector<Key>{Key{"b\xc3\xa9"}, Key{"12"}}));
  o.ids_path = Write("u3.npy", Npy("{'descr': '<U3', 'fortran_order': False, 'shape': (2,), }", u3_data));
  EXPECT_EQ(ReadOk(P("v.npy"), o).ids, (std::vector<Key>{Key{"x"}, Key{"\xf0\x9f\x98\x80" "7"}}));
  o.id_type = IdType::kBigint;
  o.ids_path = P("u.npy");
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "u.npy: element 0 (0-based): BIGINT id: 'b\xc3\xa9' is not an integer");
  // The errors: dtype, shape, count, size, an empty string, a code point that is no character.
  o.id_type = IdType::kText;
  o.ids_path = Write("f.npy", Npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", i8_data.substr(0, 8)));
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "f.npy: unsupported dtype '<f4' for ids: need int64 ('<i8')");
  o.ids_path = Write("2d.npy", Npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }", i4_data));
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "2d.npy: shape (1, 2) is not 1-D: one id per row");
  o.ids_path = Write("3.npy", Npy("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", i4_data.substr(0, 4)));
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "3.npy: 1 ids, but " + P("v.npy") + " has 2 rows");
  o.ids_path = Write("short.npy", Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", i8_data));
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "short.npy: shape (3,) needs 24 bytes of data, the file has 16");
  const char32_t empty[] = {U'a', 0};
  o.ids_path = Write("e.npy", Npy("{'descr': '<U1', 'fortran_order': False, 'shape': (2,), }",
                                  std::string(reinterpret_cast<const char*>(empty), sizeof empty)));
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "e.npy: element 1 (0-based): the id is empty");
  const char32_t surrogate[] = {U'a', 0xD800};
  o.ids_path = Write("s.npy", Npy("{'descr': '<U1', 'fortran_order': False, 'shape': (2,), }",
                                  std::string(reinterpret_cast<const char*>(surrogate), sizeof surrogate)));
  EXPECT_CONTAINS(ErrorOf(P("v.npy"), o), "s.npy: element 1 (0-based): U+D800 is not a Unicode character");
  // Writing ids as .npy is refused with the name to use instead.
  WriteOptions w;
  w.dim = 3;
  w.ids_path = P("out.ids.npy");
  auto writer = VectorWriter::Create(P("out.npy"), w);
  ASSERT_FALSE(writer.ok());
  EXPECT_CONTAINS(writer.status().ToString(), "ids are written as text, one per line");
}

TEST_F(FormatsTest, WriterErrorsAndAtomicity) {
  WriteOptions w;
  w.dim = 2;
  Batch b;
  b.dim = 2;
  b.Append(Key{"a"}, std::vector<float>{1, 2});
  // Not finished: nothing is left behind.
  {
    auto wr = VectorWriter::Create(P("gone.csv"), w);
    ASSERT_TRUE(wr.ok());
    ASSERT_OK((*wr)->Write(b));
  }
  EXPECT_FALSE(std::filesystem::exists(P("gone.csv")));
  EXPECT_FALSE(std::filesystem::exists(P("gone.csv.partial")));
  // An existing file is kept unless overwriting is allowed.
  Write("have.csv", "x");
  auto exists = VectorWriter::Create(P("have.csv"), w);
  EXPECT_EQ(exists.status().code(), Status::Code::kAlreadyExists);
  w.overwrite = true;
  WriteOk(P("have.csv"), w, b);
  EXPECT_EQ(Slurp(P("have.csv")), "id,embedding\na,\"[1,2]\"\n");

  const auto write_err = [&](const WriteOptions& o, const Batch& batch, std::string path) {
    auto wr = VectorWriter::Create(P(path), o);
    if (!wr.ok()) return wr.status().ToString();
    Status s = (*wr)->Write(batch);
    if (s.ok()) s = (*wr)->Finish();
    if (!s.ok()) {
      EXPECT_EQ((*wr)->Write(batch).ToString(), s.ToString());  // sticky
    }
    return s.ToString();
  };
  Batch bad = b;
  bad.vectors[1] = NAN;
  EXPECT_CONTAINS(write_err(w, bad, "n.csv"), "n.csv: row 0, element 1: nan cannot be written");
  bad = b;
  bad.dim = 1;
  EXPECT_CONTAINS(write_err(w, bad, "d.csv"), "batch of dim 1 with 2 values; the writer's dim is 2");
  bad = b;
  bad.ids.clear();
  EXPECT_CONTAINS(write_err(w, bad, "i.csv"), "batch has 0 ids for 1 rows");
  bad = b;
  bad.ids[0] = Key{""};
  EXPECT_CONTAINS(write_err(w, bad, "e.jsonl"), "row 0: the id is empty");
  WriteOptions a = w;
  a.attributes = {{"year", AttrType::kInt}, {"score", AttrType::kFloat}};
  bad = b;
  bad.attributes[0] = {Value{"2021"}, Value{}};
  EXPECT_CONTAINS(write_err(a, bad, "t.jsonl"), "row 0, column 'year': TEXT '2021' is not INT");
  bad.attributes[0] = {Value{int64_t{1}}};
  EXPECT_CONTAINS(write_err(a, bad, "t.jsonl"), "row 0: 1 attribute values for 2 columns");
  bad.attributes[0] = {Value{}, Value{INFINITY}};
  EXPECT_CONTAINS(write_err(a, bad, "t.csv"), "row 0, column 'score': inf cannot be written");
  WriteOptions ids = w;
  ids.ids_path = P("ids.txt");
  bad = b;
  bad.ids[0] = Key{"two\nlines"};
  EXPECT_CONTAINS(write_err(ids, bad, "v.npy"), "row 0: id 'two\nlines' cannot be written to an "
                  "ids file");
  EXPECT_FALSE(std::filesystem::exists(P("v.npy")));
  EXPECT_FALSE(std::filesystem::exists(P("ids.txt")));

  // Options.
  EXPECT_CONTAINS(write_err(a, b, "v.npy"), "WriteOptions: npy files hold vectors only");
  EXPECT_CONTAINS(write_err(ids, b, "v.csv"), "WriteOptions: an ids file goes with npy and fvecs");
  WriteOptions z;
  EXPECT_CONTAINS(write_err(z, b, "v.csv"), "WriteOptions: dim is required");
  z = a;
  z.attributes.push_back({"id", AttrType::kText});
  EXPECT_CONTAINS(write_err(z, b, "v.csv"), "column 'id' is named twice");
  z = w;
  z.delimiter = '"';
  EXPECT_CONTAINS(write_err(z, b, "v.csv"), "delimiter cannot be");
  auto done = VectorWriter::Create(P("f.jsonl"), w);
  ASSERT_OK((*done)->Finish());
  EXPECT_CONTAINS((*done)->Write(b).ToString(), "Write after Finish");
  EXPECT_EQ(Slurp(P("f.jsonl")), "");
}

TEST_F(FormatsTest, ReaderOptionErrorsAndStickyErrors) {
  Write("v.csv", "id,embedding\na,[1]\n");
  ReadOptions o;
  o.columns = {"id", "embedding"};
  o.format = Format::kJsonl;
  EXPECT_CONTAINS(ErrorOf(P("v.csv"), o), "ReadOptions: a column list applies to csv only");
  o = {};
  o.header = false;
  EXPECT_CONTAINS(ErrorOf(P("v.csv"), o), "without a header row needs the list of its columns");
  o = {};
  o.ids_path = P("ids.txt");
  EXPECT_CONTAINS(ErrorOf(P("v.csv"), o), "an ids file goes with npy and fvecs only");
  o = {};
  o.attributes = {{"t", AttrType::kText}, {"t", AttrType::kInt}};
  EXPECT_CONTAINS(ErrorOf(P("v.csv"), o), "column 't' is named twice");
  o = {};
  o.vector_field = "";
  EXPECT_CONTAINS(ErrorOf(P("v.csv"), o), "the vector column name is empty");
  o = {};
  o.dim = 70000;
  EXPECT_CONTAINS(ErrorOf(P("v.csv"), o), "dim 70000 is above 65536");
  EXPECT_CONTAINS(ErrorOf(Write("v.parquet", "")), "cannot tell the format from the extension");

  // After an error every call returns it; rows before it were returned.
  Write("s.jsonl", "{\"id\": \"a\", \"embedding\": [1]}\n{\"id\": \"b\", \"embedding\": [x]}\n");
  auto r = VectorReader::Open(P("s.jsonl"), {});
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  Batch b;
  auto first = (*r)->Next(&b, 1);
  ASSERT_TRUE(first.ok() && *first);
  EXPECT_EQ(b.ids, std::vector<Key>{Key{"a"}});
  auto second = (*r)->Next(&b, 10);
  ASSERT_FALSE(second.ok());
  EXPECT_CONTAINS(second.status().message(), "s.jsonl: line 2, byte 27: expected a value");
  EXPECT_EQ(b.rows(), 0u);
  EXPECT_EQ((*r)->Next(&b, 10).status().ToString(), second.status().ToString());
  EXPECT_EQ((*r)->rows_read(), 1u);
}

// 100,000 rows through every format, written and read in uneven batches.
TEST_F(FormatsTest, HundredThousandRows) {
  constexpr size_t kRows = 100000;
  constexpr uint32_t kDim = 8;
  Batch b;
  b.dim = kDim;
  b.vectors = OddFloats(kRows * kDim, 3);
  for (size_t i = 0; i < kRows; ++i) {
    b.ids.push_back(Key{static_cast<int64_t>(i) * 3});
    b.attributes.push_back({i % 5 == 0 ? Value{} : Value{"t" + std::to_string(i)},
                            Value{static_cast<double>(i) / 7}, Value{i % 2 == 0}});
  }
  const std::vector<ColumnDef> cols = {
      {"title", AttrType::kText}, {"score", AttrType::kFloat}, {"ok", AttrType::kBool}};
  for (Format f : {Format::kNpy, Format::kFvecs, Format::kCsv, Format::kJsonl}) {
    const std::string path = P("big." + std::string(FormatName(f)));
    const bool vectors_only = f == Format::kNpy || f == Format::kFvecs;
    WriteOptions w;
    w.dim = kDim;
    if (vectors_only) w.ids_path = path + ".ids.txt";
    if (!vectors_only) w.attributes = cols;
    WriteOk(path, w, b, 7777);
    ReadOptions o;
    o.id_type = IdType::kBigint;
    o.dim = kDim;
    if (vectors_only) o.ids_path = w.ids_path;
    if (!vectors_only) o.attributes = cols;
    auto r = VectorReader::Open(path, o);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    Batch got, part;
    size_t batches = 0;
    while (true) {
      auto more = (*r)->Next(&part, 4096);
      ASSERT_TRUE(more.ok()) << more.status().ToString();
      if (!*more) break;
      ++batches;
      got.vectors.insert(got.vectors.end(), part.vectors.begin(), part.vectors.end());
      got.ids.insert(got.ids.end(), part.ids.begin(), part.ids.end());
      got.attributes.insert(got.attributes.end(), part.attributes.begin(), part.attributes.end());
    }
    EXPECT_EQ(batches, (kRows + 4095) / 4096) << path;
    EXPECT_EQ((*r)->rows_read(), kRows);
    EXPECT_EQ(Bits(got.vectors), Bits(b.vectors)) << path;
    EXPECT_EQ(got.ids, b.ids) << path;
    if (!vectors_only) {
      EXPECT_EQ(got.attributes, b.attributes) << path;
    }
  }
}

}  // namespace
}  // namespace mrldb::formats
