// mrldb::formats: csv and jsonl reading, writing and every error class.
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>

#include <fmt/format.h>

#include "query/formats/formats.h"
#include "tests/query/formats_test_util.h"

namespace mrldb::formats {
namespace {

const std::vector<ColumnDef> kCols = {{"title", AttrType::kText},
                                      {"year", AttrType::kInt},
                                      {"score", AttrType::kFloat},
                                      {"ok", AttrType::kBool}};

// Rows whose strings need quoting and escaping, with every type and NULL.
Batch TrickyRows(bool bigint_ids) {
  const std::vector<std::string> texts = {
      "plain", "a,b", "say \"hi\"", "line1\nline2\r\nline3", "", "  padded  ",
      "\xc3\xbcnic\xc3\xb8" "de \xe2\x9c\x93 \xf0\x9f\x98\x80", "tab\there", "ctl\x01\x1f", ";",
      "[1,2]", "\\back\\slash/"};
  Batch b;
  b.dim = 3;
  for (size_t i = 0; i < texts.size(); ++i) {
    const float f = static_cast<float>(i);
    std::vector<Value> attrs = {Value{texts[i]}, Value{static_cast<int64_t>(i) - 5},
                                Value{0.1 * static_cast<double>(i) + 1e-300}, Value{i % 2 == 1}};
    if (i % 4 == 3) attrs[1] = Value{};
    if (i % 3 == 2) attrs[2] = Value{};
    if (i % 5 == 4) attrs[3] = Value{};
    if (i == 7) attrs = {Value{}, Value{INT64_MIN}, Value{-0.0}, Value{false}};
    const Key id = bigint_ids ? Key{static_cast<int64_t>(i) * 1000 - 3} : Key{texts[i] + "#"};
    b.Append(id, std::vector<float>{f / 3, -f * 1e-30f, 1e30f}, attrs);
  }
  return b;
}

TEST_F(FormatsTest, CsvAndJsonlRoundTrips) {
  for (Format f : {Format::kCsv, Format::kJsonl}) {
    for (char delimiter : {',', ';', '\t'}) {
      if (f == Format::kJsonl && delimiter != ',') continue;
      for (bool bigint : {false, true}) {
        const Batch b = TrickyRows(bigint);
        const std::string path = P("rt." + std::string(FormatName(f)));
        WriteOptions w;
        w.dim = 3;
        w.attributes = kCols;
        w.delimiter = delimiter;
        w.overwrite = true;
        WriteOk(path, w, b, 5);
        ReadOptions o;
        o.attributes = kCols;
        o.delimiter = delimiter;
        o.id_type = bigint ? IdType::kBigint : IdType::kText;
        const Batch got = ReadOk(path, o);
        const std::string where = path + " delimiter " + std::string(1, delimiter);
        EXPECT_EQ(Bits(got.vectors), Bits(b.vectors)) << where;
        EXPECT_EQ(got.ids, b.ids) << where;
        EXPECT_EQ(got.attributes, b.attributes) << where;
      }
    }
  }
  // A csv without a header, read with a column list; no ids.
  WriteOptions w;
  w.dim = 3;
  w.header = false;
  w.id_field = "";
  w.attributes = {kCols[1]};
  Batch b = TrickyRows(false);
  for (auto& a : b.attributes) a = {a[1]};
  WriteOk(P("nh.csv"), w, b);
  ReadOptions o;
  o.header = false;
  o.id_field = "";
  o.columns = {"embedding", "year"};
  o.attributes = {kCols[1]};
  const Batch got = ReadOk(P("nh.csv"), o);
  EXPECT_TRUE(got.ids.empty());
  EXPECT_EQ(Bits(got.vectors), Bits(b.vectors));
  EXPECT_EQ(got.attributes, b.attributes);
}

// Floats of every magnitude (random bit patterns, subnormals, extremes, -0) come back bit for bit
// through csv and jsonl: the writers print the shortest form that reads back as the same float.
TEST_F(FormatsTest, FloatsRoundTripBitForBit) {
  std::mt19937 rng(15);
  Batch b;
  b.dim = 64;
  std::vector<float> v(b.dim);
  const float extremes[] = {FLT_MIN, -FLT_MAX, FLT_MAX, FLT_TRUE_MIN, -0.0f, 0.1f, 1e-45f,
                            16777217.0f, 3.4028235e38f, 1.17549435e-38f};
  for (int64_t row = 0; row < 3000; ++row) {
    for (uint32_t j = 0; j < b.dim; ++j) {
      float f;
      do {
        const uint32_t bits = rng();
        std::memcpy(&f, &bits, 4);
      } while (!std::isfinite(f));
      v[j] = row == 0 && j < std::size(extremes) ? extremes[j] : f;
    }
    b.Append(Key{row - 1500}, v);
  }
  for (const char* name : {"bits.csv", "bits.jsonl"}) {
    for (char delimiter : {',', ';', '\t', '|'}) {
      if (std::string_view(name).ends_with("jsonl") && delimiter != ',') continue;
      WriteOptions w;
      w.dim = b.dim;
      w.delimiter = delimiter;
      w.overwrite = true;
      WriteOk(P(name), w, b, 1000);
      ReadOptions o;
      o.id_type = IdType::kBigint;
      o.delimiter = delimiter;
      const Batch got = ReadOk(P(name), o);
      EXPECT_EQ(got.ids, b.ids) << name << " " << delimiter;
      EXPECT_EQ(Bits(got.vectors), Bits(b.vectors)) << name << " " << delimiter;
    }
  }
}

TEST_F(FormatsTest, CsvParsing) {
  Write("a.csv",
        "\xEF\xBB\xBF id , year,embedding,title,ok,extra\r\n"
        "a,2021,\"[0.5, -1e-3,2]\",\"x, \"\"quoted\"\"\",t,zzz\r\n"
        "\r\n"
        "\"b\nc\",,\" [ 1,2 , 3 ] \",,FALSE,\r\n"
        "d, 7 ,\"[0,0,0]\",\"\",1,\n"
        "e,-1,\"[1e-50,-1e-60,+4]\",\xe2\x9c\x93,F,");  // no final line break
  ReadOptions o;
  o.attributes = {{"title", AttrType::kText}, {"year", AttrType::kInt}, {"ok", AttrType::kBool}};
  o.ignore_unknown_fields = true;
  auto r = VectorReader::Open(P("a.csv"), o);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)->dim(), 3u);  // known before the first Next
  EXPECT_FALSE((*r)->total_rows().has_value());
  EXPECT_EQ((*r)->attribute_names(), (std::vector<std::string>{"title", "year", "ok"}));
  const Batch b = ReadOk(P("a.csv"), o);
  ASSERT_EQ(b.rows(), 4u);
  EXPECT_EQ(b.ids, (std::vector<Key>{Key{"a"}, Key{"b\nc"}, Key{"d"}, Key{"e"}}));
  EXPECT_EQ(Bits(b.vectors), Bits({0.5f, -1e-3f, 2, 1, 2, 3, 0, 0, 0, 0, -0.0f, 4}));
  const Value null;
  EXPECT_EQ(b.attributes[0], (std::vector<Value>{Value{"x, \"quoted\""}, Value{int64_t{2021}},
                                                 Value{true}}));
  EXPECT_EQ(b.attributes[1], (std::vector<Value>{null, null, Value{false}}));
  EXPECT_EQ(b.attributes[2], (std::vector<Value>{Value{""}, Value{int64_t{7}}, Value{true}}));
  EXPECT_EQ(b.attributes[3], (std::vector<Value>{Value{"\xe2\x9c\x93"}, Value{int64_t{-1}},
                                                 Value{false}}));
  // The vector spread over columns, in any order; BIGINT ids with spaces; a header-only file.
  Write("s.csv", "embedding_2,id,embedding_0,embedding_1\n3, 42 ,1,2\n");
  ReadOptions big;
  big.id_type = IdType::kBigint;
  const Batch s = ReadOk(P("s.csv"), big);
  EXPECT_EQ(s.vectors, (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(s.ids, std::vector<Key>{Key{int64_t{42}}});
  const Batch h = ReadOk(Write("h.csv", "id,embedding\n"));
  EXPECT_EQ(h.rows(), 0u);
  // No header: the column list names the columns; a header must match it.
  ReadOptions cl;
  cl.header = false;
  cl.delimiter = ';';
  cl.columns = {"id", "embedding"};
  EXPECT_EQ(ReadOk(Write("n.csv", "a;[1,2]\n"), cl).vectors, (std::vector<float>{1, 2}));
  cl.header = true;
  cl.columns = {"id", "vec"};
  EXPECT_CONTAINS(ErrorOf(Write("m.csv", "id;embedding\na;[1]\n"), cl),
                  "m.csv: line 1: the header does not match the column list: column 2 is "
                  "'embedding', the list says 'vec'");
  cl.columns = {"id", "embedding", "title"};
  EXPECT_CONTAINS(ErrorOf(P("m.csv"), cl), "column 3 is missing, the list says 'title'");
}

TEST_F(FormatsTest, CsvErrors) {
  ReadOptions o;
  o.attributes = {{"year", AttrType::kInt}, {"score", AttrType::kFloat}, {"ok", AttrType::kBool}};
  const auto err = [&](std::string_view text, const ReadOptions& opt) {
    return ErrorOf(Write("e.csv", text), opt);
  };
  const auto e = [&](std::string_view text) { return err(text, o); };
  EXPECT_CONTAINS(e("id,embedding,year\na,\"[1,2]\",1\n\"b\nb\",\"[3,4]\",2\nc,\"[5,6]\"\n"),
                  "e.csv: line 5: 2 fields, expected 3 (as in the header)");
  EXPECT_CONTAINS(e("id,embedding\na,\"[1,2]\"\nb,\"[1,nan]\"\n"),
                  "e.csv: line 3, column 'embedding': element 1: 'nan': NaN and Inf are not "
                  "allowed");
  EXPECT_CONTAINS(e("id,embedding_0,embedding_1\na,1,inf\n"),
                  "line 2, column 'embedding_1': 'inf': NaN and Inf are not allowed");
  EXPECT_CONTAINS(e("id,embedding_0,embedding_1\na,1,\n"),
                  "line 2, column 'embedding_1': empty (a vector element cannot be NULL)");
  EXPECT_CONTAINS(e("id,embedding\na,\"[1e39]\"\n"),
                  "line 2, column 'embedding': element 0: '1e39' is outside the float32 range");
  EXPECT_CONTAINS(e("id,embedding\na,\"[1,x]\"\n"), "element 1: 'x' is not a number");
  EXPECT_CONTAINS(e("id,embedding\na,1.5\n"), "expected a vector as an array \"[x0, x1, ...]\"");
  EXPECT_CONTAINS(e("id,embedding\na,[]\n"), "line 2, column 'embedding': the vector is empty ([])");
  EXPECT_CONTAINS(e("id,embedding\na,\n"), "the vector is empty (a vector cannot be NULL)");
  EXPECT_CONTAINS(e("id,embedding,year\na,[1],20x1\n"),
                  "line 2, column 'year': expected INT: '20x1' is not an integer");
  EXPECT_CONTAINS(e("id,embedding,year\na,[1],99999999999999999999\n"),
                  "expected INT: '99999999999999999999' is outside the 64-bit integer range");
  EXPECT_CONTAINS(e("id,embedding,ok\na,[1],yes\n"),
                  "line 2, column 'ok': expected BOOL: 'yes' is not a boolean (true/false/t/f/1/0)");
  EXPECT_CONTAINS(e("id,embedding,score\na,[1],abc\n"),
                  "line 2, column 'score': expected FLOAT: 'abc' is not a number");
  EXPECT_CONTAINS(e("id,embedding,score\na,[1],NaN\n"), "expected FLOAT: 'NaN': NaN and Inf");
  EXPECT_CONTAINS(e("id,embedding\n,[1]\n"), "line 2, column 'id': the id is empty");
  ReadOptions big = o;
  big.id_type = IdType::kBigint;
  EXPECT_CONTAINS(err("id,embedding\nabc,[1]\n", big),
                  "line 2, column 'id': BIGINT id: 'abc' is not an integer");
  EXPECT_CONTAINS(e("id,embedding,color\n"),
                  "e.csv: the header names unknown column 'color' (known: id, embedding, year, "
                  "score, ok; or embedding_0..embedding_<D-1>");
  EXPECT_CONTAINS(e("embedding,year\n"), "the header has no id column 'id'");
  EXPECT_CONTAINS(e("id,year\n"), "the header has no vector column 'embedding' (nor "
                  "embedding_0..embedding_<D-1>)");
  EXPECT_CONTAINS(e("id,embedding,id\n"), "the header names column 'id' twice");
  EXPECT_CONTAINS(e("id,embedding_0,embedding_2\n"),
                  "has column 'embedding_2' but not 'embedding_1'");
  EXPECT_CONTAINS(e("id,embedding,embedding_0\n"),
                  "has both a 'embedding' column and 'embedding_<k>' columns");
  EXPECT_CONTAINS(e("id,embedding\na,\"[1,2]\"\nb,\"[1,2]\"\nc,\"[1,2,3]\"\n"),
                  "line 4, column 'embedding': 3 values, expected 2 (as in the first row)");
  ReadOptions d3 = o;
  d3.dim = 3;
  EXPECT_CONTAINS(err("id,embedding\na,\"[1,2]\"\n", d3),
                  "line 2, column 'embedding': 2 values, expected 3");
  EXPECT_CONTAINS(err("id,embedding_0\na,1\n", d3),
                  "the header spreads the vector over 1 columns, expected 3");
  EXPECT_CONTAINS(e("id,embedding\na,[1]\nb,\"[1]\nc,[2]\n"),
                  "e.csv: line 3: unterminated quoted field (the file ends inside it)");
  EXPECT_CONTAINS(e("id,embedding\na,[1]\nb\"c,[2]\n"),
                  "e.csv: line 3: quote inside an unquoted field");
  EXPECT_CONTAINS(e("id,embedding\n\"a\"b,[2]\n"),
                  "e.csv: line 2: unexpected character after a closing quote");
  EXPECT_CONTAINS(e(""), "e.csv: empty file: no header row");
  ReadOptions cl = o;
  cl.header = false;
  cl.columns = {"id", "embedding", "nope"};
  EXPECT_CONTAINS(err("a,[1],2\n", cl), "the column list names unknown column 'nope'");
}

TEST_F(FormatsTest, JsonlParsing) {
  Write("a.jsonl",
        "{\"id\": \"a\", \"embedding\": [1, -0.5e1, 2E+2], \"title\": \"\\\"q\\\" \\\\ \\/ "
        "\\b\\f\\n\\r\\t \\u00e9 \\ud83d\\ude00 \\u0000\", \"year\": 2021, \"score\": 3, "
        "\"ok\": false, \"x\": null}\n"
        "\n"
        "   \t \r\n"
        "{\"embedding\":[1e-50,-1e-60,0],\"id\":7,\"title\":null}\r\n"
        "  {\"id\":\"c\",\"embedding\":[0,0,0],\"meta\":{\"a\":[1,{\"b\":[]}]},\"score\":-1.5}  ");
  ReadOptions o;
  o.attributes = {{"title", AttrType::kText}, {"year", AttrType::kInt},
                  {"score", AttrType::kFloat}, {"ok", AttrType::kBool}, {"x", AttrType::kText}};
  o.ignore_unknown_fields = true;
  const Batch b = ReadOk(P("a.jsonl"), o);
  ASSERT_EQ(b.rows(), 3u);
  EXPECT_EQ(b.ids, (std::vector<Key>{Key{"a"}, Key{"7"}, Key{"c"}}));
  EXPECT_EQ(Bits(b.vectors), Bits({1, -5, 200, 0, -0.0f, 0, 0, 0, 0}));
  const Value null;
  EXPECT_EQ(b.attributes[0],
            (std::vector<Value>{Value{std::string("\"q\" \\ / \b\f\n\r\t \xc3\xa9 \xf0\x9f\x98\x80 "
                                                  "\0", 23)},
                                Value{int64_t{2021}}, Value{3.0}, Value{false}, null}));
  EXPECT_EQ(b.attributes[1], (std::vector<Value>{null, null, null, null, null}));
  EXPECT_EQ(b.attributes[2], (std::vector<Value>{null, null, Value{-1.5}, null, null}));
  ReadOptions big;
  big.id_type = IdType::kBigint;
  big.dim = 1;
  EXPECT_EQ(ReadOk(Write("b.jsonl", "{\"id\": -9223372036854775808, \"embedding\": [1]}"), big).ids,
            std::vector<Key>{Key{INT64_MIN}});
  ReadOptions noid;
  noid.id_field = "";
  noid.vector_field = "v";
  const Batch n = ReadOk(Write("n.jsonl", "{\"v\": [2]}\n"), noid);
  EXPECT_TRUE(n.ids.empty());
  EXPECT_EQ(n.vectors, std::vector<float>{2});
  // Numbers are the decimal rounded to float, whichever reader takes the line: just above the
  // halfway point 1 + 2^-24 (a double rounding 1.0 + 2^-24 to even would give 1), at the edges
  // of the float range, below it (zero, signed), and on a line with an ignored field.
  const Batch r = ReadOk(Write("r.jsonl",
                               "{\"v\": [1.0000000596046447753906250001, 3.4028234e38, "
                               "1.17549435e-38, 1e-45, -1e-60, -0, 0.1]}\n"
                               "{\"v\": [1.0000000596046447753906250001, 3.4028234e38, "
                               "1.17549435e-38, 1e-45, -1e-60, -0, 0.1], \"x\": 1}\n"),
                         [&] {
                           ReadOptions i = noid;
                           i.ignore_unknown_fields = true;
                           return i;
                         }());
  const std::vector<float> want = {std::nextafter(1.0f, 2.0f), 3.4028234e38f, 1.17549435e-38f,
                                   1e-45f, -0.0f, -0.0f, 0.1f};
  std::vector<float> twice = want;
  twice.insert(twice.end(), want.begin(), want.end());
  EXPECT_EQ(Bits(r.vectors), Bits(twice));
}

TEST_F(FormatsTest, JsonlErrors) {
  ReadOptions o;
  o.attributes = {{"title", AttrType::kText}, {"year", AttrType::kInt}, {"ok", AttrType::kBool}};
  // The error for one line; `at` is the text at the reported byte.
  const auto check = [&](std::string line, std::string_view at, std::string_view message,
                         const ReadOptions& opt) {
    const size_t byte = line.find(at);
    ASSERT_NE(byte, std::string::npos) << at;
    const std::string err = ErrorOf(Write("e.jsonl", line + "\n"), opt);
    EXPECT_CONTAINS(err, fmt::format("e.jsonl: line 1, byte {}: {}", byte + 1, message));
  };
  const auto e = [&](std::string line, std::string_view at, std::string_view message) {
    check(std::move(line), at, message, o);
  };
  e(R"({"id": "a" "embedding": [1]})", "\"embedding", "expected ',' or '}' after a value");
  e(R"({"id": "a", "embedding": [1],})", "}", "expected a string");
  e(R"({"id": "a)", "\"a", "unterminated string");
  e(R"({"id": "a\x", "embedding": [1]})", "\\x", "invalid escape '\\x'");
  e(R"({"id": "\u12g4", "embedding": [1]})", "12g4", "\\u needs 4 hex digits");
  e(R"({"id": "\ud800", "embedding": [1]})", "\\ud800",
    "high surrogate \\ud800 not followed by a low one");
  e(R"({"id": "\ud800\u0041", "embedding": [1]})", "\\ud800",
    "high surrogate \\ud800 followed by \\u0041, not a low surrogate");
  e(R"({"id": "\udc00", "embedding": [1]})", "\\udc00", "lone low surrogate \\udc00");
  e("{\"id\": \"a\xff\", \"embedding\": [1]}", "\xff", "invalid UTF-8 in a string");
  e("{\"id\": \"a\xc0\x80\", \"embedding\": [1]}", "\xc0", "invalid UTF-8 in a string");
  e("{\"id\": \"a\tb\", \"embedding\": [1]}", "\t", "control character in a string");
  e(R"({"id": "a", "embedding": [01]})", "01", "invalid number: leading zero");
  e(R"({"id": "a", "embedding": [1.]})", "1.", "invalid number: no digits after '.'");
  e(R"({"id": "a", "embedding": [1e+]})", "1e", "invalid number: no digits in the exponent");
  e(R"({"id": "a", "embedding": [NaN]})", "NaN", "expected a value");
  e(R"({"id": "a", "embedding": [+1]})", "+1", "expected a value");
  e(R"({"id": "a", "embedding": [1x]})", "x", "expected ',' or ']' in the vector");
  e(R"({"id": "a", "embedding": [1]}{"id": "b"})", "{\"id\": \"b", "text after the object");
  e(R"({"id": "a", "embedding": [1, "2"]})", "\"2", "field 'embedding', element 1: expected a "
    "number, got a string");
  e(R"({"id": "a", "embedding": [1e39]})", "1e39",
    "field 'embedding', element 0: '1e39' is outside the float32 range");
  e(R"({"id": "a", "embedding": []})", "[", "field 'embedding' is empty");
  e(R"({"id": "a", "embedding": 5})", "5", "expected an array of numbers for field 'embedding'");
  e(R"({"id": "a", "embedding": [1 2]})", "2", "expected ',' or ']' in the vector");
  e(R"([1, 2])", "[", "expected '{': each line must hold one JSON object");
  e(R"({"id": "a", "embedding": [1]} x)", "x", "text after the object (one object per line)");
  e(R"({"id": "a", "embedding": [1], "id": "b"})", "\"id\": \"b", "field 'id' twice");
  e(R"({"id": "a", "embedding": [1], "color": 1})", "\"color", "unknown field 'color'");
  e(R"({"id": "a"})", "{", "no field 'embedding' (the vector)");
  e(R"({"embedding": [1]})", "{", "no field 'id' (the id)");
  e(R"({"id": "a", "embedding": [1], "year": 1.5})", "1.5", "field 'year': expected INT, got 1.5");
  e(R"({"id": "a", "embedding": [1], "year": 9223372036854775808})", "92",
    "field 'year': '9223372036854775808' is outside the 64-bit integer range");
  e(R"({"id": "a", "embedding": [1], "title": 5})", "5", "field 'title': expected TEXT, got 5");
  e(R"({"id": "a", "embedding": [1], "ok": "true"})", "\"true",
    "field 'ok': expected BOOL, got a string");
  e(R"({"id": "a", "embedding": [1], "ok": [true]})", "[true", "field 'ok': expected BOOL, got an array");
  e(R"({"id": "a", "embedding": [1], "ok": tru})", "tru", "expected a value");
  e(R"({"id": 1.5, "embedding": [1]})", "1.5", "field 'id': a TEXT id must be a string (or an "
    "integer), not a number");
  e(R"({"id": "", "embedding": [1]})", "\"\"", "field 'id': the id is empty");
  ReadOptions big = o;
  big.id_type = IdType::kBigint;
  check(R"({"id": "7", "embedding": [1]})", "\"7", "field 'id': a BIGINT id must be an integer, "
        "not a string", big);
  ReadOptions ignore = o;
  ignore.ignore_unknown_fields = true;
  EXPECT_CONTAINS(ErrorOf(Write("e.jsonl", "{\"x\": " + std::string(70, '[') +
                                              std::string(70, ']') + "}"), ignore),
                  "e.jsonl: line 1, byte 71: nested deeper than 64 levels");
  // Line numbers count blank lines; the dimension comes from the first row.
  const std::string err = ErrorOf(Write("d.jsonl", "{\"id\": \"a\", \"embedding\": [1, 2]}\n\n"
                                                   "{\"id\": \"b\", \"embedding\": [1, 2, 3]}\n"));
  EXPECT_CONTAINS(err, "d.jsonl: line 3, byte 26: field 'embedding': 3 values, expected 2 (as in "
                  "the first row)");
}

}  // namespace
}  // namespace mrldb::formats
