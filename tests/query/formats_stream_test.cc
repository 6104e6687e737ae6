// Readers and writers on streams (COPY ... FROM STDIN / TO STDOUT): the same rows and the same
// errors as on files, for every format, whatever the pieces the stream comes in.
#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "tests/query/formats_test_util.h"

namespace mrldb::formats {
namespace {

constexpr char kF4Dict[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";

// A stream over `bytes` handing out pieces of 1..`max_piece` bytes (a network's packets).
StreamRead Pieces(std::string bytes, size_t max_piece = 7, uint32_t seed = 1) {
  auto data = std::make_shared<std::string>(std::move(bytes));
  auto at = std::make_shared<size_t>(0);
  auto rng = std::make_shared<std::mt19937>(seed);
  return [=](char* dst, size_t n) -> Result<size_t> {
    const size_t piece = std::uniform_int_distribution<size_t>(1, max_piece)(*rng);
    const size_t c = std::min({n, piece, data->size() - *at});
    std::memcpy(dst, data->data() + *at, c);
    *at += c;
    return c;
  };
}

// Reads a whole stream; the error ("" when none) goes to *error.
Batch ReadStream(StreamRead read, const ReadOptions& o, std::string* error) {
  Batch all;
  auto r = VectorReader::OpenStream("STDIN", std::move(read), o);
  if (!r.ok()) {
    *error = r.status().ToString();
    return all;
  }
  all.dim = (*r)->dim();
  Batch batch;
  for (;;) {
    auto more = (*r)->Next(&batch, 3);
    if (!more.ok()) {
      *error = more.status().ToString();
      return all;
    }
    if (!*more) break;
    all.vectors.insert(all.vectors.end(), batch.vectors.begin(), batch.vectors.end());
    all.ids.insert(all.ids.end(), batch.ids.begin(), batch.ids.end());
    for (auto& a : batch.attributes) all.attributes.push_back(a);
  }
  error->clear();
  return all;
}

std::string StreamError(std::string bytes, ReadOptions o) {
  std::string error;
  ReadStream(Pieces(std::move(bytes)), o, &error);
  return error;
}

class FormatsStreamTest : public FormatsTest {
 protected:
  // The file written by the file writer, read back through a stream: the same rows as from the
  // file.
  void ExpectSameRows(const std::string& name, const ReadOptions& o) {
    const Batch file = ReadOk(P(name), o);
    ReadOptions so = o;
    so.format = *FormatFromPath(name);
    if (!o.ids_path.empty()) {
      so.ids_path.clear();
      so.ids_data = Slurp(o.ids_path);
    }
    std::string error;
    const Batch stream = ReadStream(Pieces(Slurp(P(name))), so, &error);
    ASSERT_EQ(error, "") << name;
    EXPECT_EQ(stream.dim, file.dim) << name;
    EXPECT_EQ(Bits(stream.vectors), Bits(file.vectors)) << name;
    EXPECT_EQ(stream.ids, file.ids) << name;
    EXPECT_EQ(stream.attributes, file.attributes) << name;
  }
};

TEST_F(FormatsStreamTest, EveryFormatReadsTheSameRowsAsFromAFile) {
  Batch b;
  b.dim = 4;
  b.vectors = OddFloats(4 * 40, 3);
  std::vector<ColumnDef> attrs = {{"title", AttrType::kText}, {"year", AttrType::kInt}};
  for (int i = 0; i < 40; ++i) {
    b.ids.push_back(Key{int64_t{i * 3}});
    b.attributes.push_back({Value{fmt::format("t,\"{}\"\n", i)}, i % 3 ? Value{int64_t{i}} : Value{}});
  }
  for (const char* name : {"v.npy", "v.fvecs", "v.csv", "v.jsonl"}) {
    WriteOptions w;
    w.dim = 4;
    const bool vectors_only = std::string_view(name).ends_with("npy") ||
                              std::string_view(name).ends_with("fvecs");
    if (vectors_only) w.ids_path = P(std::string(name) + ".ids");
    else w.attributes = attrs;
    WriteOk(P(name), w, b, 9);
    ReadOptions o;
    o.id_type = IdType::kBigint;
    if (vectors_only) o.ids_path = w.ids_path;
    else o.attributes = attrs;
    ExpectSameRows(name, o);
  }
}

TEST_F(FormatsStreamTest, ErrorsNameThePlaceAsForAFile) {
  const std::vector<float> v = {1, 2, 3, 4, 5, 6};
  ReadOptions o;
  o.format = Format::kNpy;
  // What a file's size tells when it opens, a stream tells when it ends.
  // (The header takes 128 bytes.)
  EXPECT_CONTAINS(StreamError(Npy(kF4Dict, Bytes(v)).substr(0, 128 + 20), o),
                  "STDIN: truncated: shape (2, 3) needs 24 bytes of data after the header; the "
                  "stream ended at byte 148");
  EXPECT_CONTAINS(StreamError(Npy(kF4Dict, Bytes(v) + "xy"), o),
                  "STDIN: unexpected bytes after the data: shape (2, 3) ends at byte 152");
  EXPECT_CONTAINS(StreamError(Npy(kF4Dict, Bytes(v)).substr(0, 100), o), "STDIN: truncated header");
  EXPECT_CONTAINS(StreamError("\x93NUMPZ", o), "STDIN: not a .npy file");

  o.format = Format::kFvecs;
  const auto rec = [](int32_t d, int n) {
    std::string s(reinterpret_cast<const char*>(&d), 4);
    return s + std::string(4 * n, '\0');
  };
  EXPECT_CONTAINS(StreamError(rec(2, 2) + rec(3, 3), o),
                  "STDIN: ragged .fvecs: record 1 (0-based) has dimension 3, record 0 has 2");
  EXPECT_CONTAINS(StreamError(rec(2, 2) + rec(2, 1), o),
                  "STDIN: truncated: record 1 (0-based) has 8 of its 12 bytes");
  EXPECT_CONTAINS(StreamError(rec(2, 2) + "ab", o),
                  "STDIN: truncated: record 1 (0-based) has 2 of its 12 bytes");
  std::string error;
  EXPECT_EQ(ReadStream(Pieces(""), o, &error).rows(), 0u);
  EXPECT_EQ(error, "");

  o.format = Format::kCsv;
  o.id_type = IdType::kBigint;
  o.attributes = {{"year", AttrType::kInt}};
  EXPECT_CONTAINS(StreamError("\xEF\xBB\xBFid,embedding,year\n1,\"[1,2]\",3\n2,\"[1,2]\",x\n", o),
                  "STDIN: line 3, column 'year': expected INT: 'x' is not an integer");
  o.format = Format::kJsonl;
  EXPECT_CONTAINS(StreamError("{\"id\": 1, \"embedding\": [1, 2]}\n{\"id\": 2, \"embedding\": [1,}\n", o),
                  "STDIN: line 2, byte 27: expected a value");

  // Ids held in memory: text or .npy, counted against the vectors.
  o = ReadOptions{};
  o.format = Format::kNpy;
  o.ids_data = "a\nb\nc\n";
  EXPECT_CONTAINS(StreamError(Npy(kF4Dict, Bytes(v)), o), "STDIN ids: 3 ids, but STDIN has 2 rows");
  o.ids_data = Npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }",
                   Bytes(std::vector<int64_t>{7, 8}));
  EXPECT_EQ(ReadStream(Pieces(Npy(kF4Dict, Bytes(v))), o, &error).ids,
            (std::vector<Key>{Key{"7"}, Key{"8"}}));
  EXPECT_EQ(error, "");
  o.format = Format::kFvecs;  // a stream's row count is known at its end only
  o.ids_data = "1\n";
  EXPECT_CONTAINS(StreamError(rec(2, 2) + rec(2, 2), o),
                  "STDIN ids: has 1 ids, fewer than the rows of the vector file");
  o.ids_data = "1\n2\n3\n";
  EXPECT_CONTAINS(StreamError(rec(2, 2) + rec(2, 2), o), "STDIN ids: 3 ids, more than the 2 rows");

  // The stream's own error ends the read as it is.
  o = ReadOptions{};
  o.format = Format::kJsonl;
  ReadStream([](char*, size_t) -> Result<size_t> { return Status::IOError("the client left"); },
             o, &error);
  EXPECT_CONTAINS(error, "the client left");
  EXPECT_CONTAINS(StreamError("", ReadOptions{}), "a stream needs its format");
}

TEST_F(FormatsStreamTest, WritersToStreamsWriteWhatTheyWriteToFiles) {
  Batch b;
  b.dim = 3;
  b.vectors = OddFloats(3 * 30, 4);
  for (int i = 0; i < 30; ++i) {
    b.ids.push_back(Key{fmt::format("k{}", i)});
    b.attributes.push_back({i % 2 ? Value{1.5 * i} : Value{}});
  }
  for (const char* name : {"w.npy", "w.fvecs", "w.csv", "w.jsonl"}) {
    const bool vectors_only = std::string_view(name).ends_with("npy") ||
                              std::string_view(name).ends_with("fvecs");
    WriteOptions w;
    w.dim = 3;
    if (vectors_only) w.ids_path = P(std::string(name) + ".ids");
    else w.attributes = {{"score", AttrType::kFloat}};
    WriteOk(P(name), w, b, 7);
    w.ids_path.clear();
    w.format = *FormatFromPath(name);
    w.rows = 30;
    std::string data, ids;
    auto s = VectorWriter::CreateStream(
        "STDOUT", [&](std::string_view x) { data.append(x); return Status::Ok(); },
        vectors_only ? StreamWrite([&](std::string_view x) { ids.append(x); return Status::Ok(); })
                     : StreamWrite(),
        w);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    ASSERT_OK((*s)->Write(b));
    ASSERT_OK((*s)->Finish());
    EXPECT_EQ(data, Slurp(P(name))) << name;
    if (vectors_only) {
      EXPECT_EQ(ids, Slurp(P(std::string(name) + ".ids"))) << name;
    }
  }
  // npy: the header's row count is written first, so it must be known and then kept.
  WriteOptions w;
  w.dim = 3;
  w.format = Format::kNpy;
  const StreamWrite sink = [](std::string_view) { return Status::Ok(); };
  EXPECT_CONTAINS(VectorWriter::CreateStream("STDOUT", sink, {}, w).status().ToString(),
                  "npy to a stream needs the row count");
  w.rows = 31;
  auto s = VectorWriter::CreateStream("STDOUT", sink, {}, w);
  ASSERT_TRUE(s.ok());
  ASSERT_OK((*s)->Write(b));
  EXPECT_CONTAINS((*s)->Finish().ToString(), "STDOUT: 30 rows were written, but the header announced 31");
  // The sink's error ends the write.
  w.format = Format::kCsv;
  s = VectorWriter::CreateStream("STDOUT", [](std::string_view) { return Status::IOError("gone"); },
                                 {}, w);
  ASSERT_TRUE(s.ok());
  Status st = (*s)->Write(b);
  if (st.ok()) st = (*s)->Finish();
  EXPECT_CONTAINS(st.ToString(), "gone");
}

}  // namespace
}  // namespace mrldb::formats
