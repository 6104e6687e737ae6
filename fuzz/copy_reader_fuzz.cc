// libFuzzer targets for the files COPY reads (query/formats), one binary per format, chosen by
// MRLDB_FUZZ_FORMAT: npy_fuzz, fvecs_fuzz, csv_fuzz, jsonl_fuzz and ids_fuzz (an ids file, read
// beside a generated .fvecs file with as many rows as the input has lines).
//
// The input's first byte picks reader options (bit 0: BIGINT ids; bits 1-2: the csv delimiter;
// bit 3: ignore_unknown_fields; bit 4: expected dimension 3; bit 5: no id field; bit 6: a csv
// without a header row; bit 7: no attribute columns), the rest is the file. The file is read to its end in batches of at most
// 64 rows. Nothing may crash, hang or allocate beyond what the file holds (scripts/fuzz runs with
// -malloc_limit_mb, so a header claiming 2^40 rows must be an error, not an allocation). What is
// read must keep the Batch contract (shapes, finite values, valid UTF-8 text), and a file read
// without error must come back the same when written in its format and read again (COPY TO,
// then COPY FROM).
#include <stdlib.h>
#include <unistd.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/types.h"
#include "query/formats/formats.h"

namespace {

using mrldb::formats::Batch;
using mrldb::formats::Format;

std::string g_dir;

void Check(bool ok) {
  if (!ok) std::abort();
}

void WriteFile(const std::string& path, std::string_view bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  Check(f.good());
}

// Reads `path` to its end; false on an error (which must be a data or I/O error, not Internal).
bool ReadAllRows(const std::string& path, const mrldb::formats::ReadOptions& o, Batch* all) {
  auto reader = mrldb::formats::VectorReader::Open(path, o);
  if (!reader.ok()) {
    Check(reader.status().code() != mrldb::Status::Code::kInternal);
    return false;
  }
  auto& r = **reader;
  all->dim = r.dim();
  const size_t names = r.attribute_names().size();
  Batch batch;
  while (true) {
    auto more = r.Next(&batch, 64);
    if (!more.ok()) {
      Check(more.status().code() != mrldb::Status::Code::kInternal);
      Check(batch.rows() == 0 && batch.vectors.empty());
      Check(!r.Next(&batch, 64).ok());  // the error is sticky
      return false;
    }
    if (!*more) break;
    const size_t rows = batch.rows();
    Check(rows >= 1 && rows <= 64 && batch.dim == r.dim() && batch.dim >= 1);
    Check(batch.vectors.size() == rows * batch.dim);
    Check(r.has_ids() ? batch.ids.size() == rows : batch.ids.empty());
    Check(names ? batch.attributes.size() == rows : batch.attributes.empty());
    for (float v : batch.vectors) Check(std::isfinite(v));
    for (size_t i = 0; i < rows; ++i) {
      if (const auto* t = r.has_ids() ? std::get_if<std::string>(&batch.ids[i]) : nullptr) {
        Check(!t->empty() && mrldb::InvalidUtf8Offset(*t) < 0);
      }
      std::vector<mrldb::Value> attrs;
      if (names > 0) {
        Check(batch.attributes[i].size() == names);
        for (const mrldb::Value& v : batch.attributes[i]) {
          if (const auto* t = std::get_if<std::string>(&v)) Check(mrldb::InvalidUtf8Offset(*t) < 0);
          if (const auto* d = std::get_if<double>(&v)) Check(std::isfinite(*d));
        }
        attrs = std::move(batch.attributes[i]);
      }
      all->Append(r.has_ids() ? batch.ids[i] : mrldb::Key{}, batch.vector(i), std::move(attrs));
    }
    if (!r.has_ids()) all->ids.clear();
  }
  Check(r.rows_read() == all->rows());
  if (r.total_rows()) Check(*r.total_rows() == all->rows());
  return true;
}

bool SameRows(const Batch& a, const Batch& b) {
  // A csv/jsonl file without rows has no dimension of its own (a spread header gives one, the
  // array form written back does not).
  if (a.vectors.empty()) return b.vectors.empty();
  if (a.dim != b.dim || a.ids != b.ids || a.vectors.size() != b.vectors.size()) return false;
  if (!a.vectors.empty() &&
      std::memcmp(a.vectors.data(), b.vectors.data(), a.vectors.size() * sizeof(float)) != 0) {
    return false;
  }
  return a.attributes == b.attributes;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const std::string base = std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
  std::string tmpl = base + "/mrldb-" MRLDB_FUZZ_FORMAT "-fuzz-XXXXXX";
  Check(mkdtemp(tmpl.data()) != nullptr);
  g_dir = tmpl;
  std::atexit([] {
    std::error_code ec;
    std::filesystem::remove_all(g_dir, ec);
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string_view target = MRLDB_FUZZ_FORMAT;
  const uint8_t bits = data[0];
  const std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);

  mrldb::formats::ReadOptions o;
  o.id_type = bits & 1 ? mrldb::IdType::kBigint : mrldb::IdType::kText;
  o.dim = bits & 16 ? 3 : 0;
  std::string path = g_dir + "/in";
  if (target == "npy") {
    o.format = Format::kNpy;
  } else if (target == "fvecs") {
    o.format = Format::kFvecs;
  } else if (target == "ids") {
    // The vectors: as many rows of dimension 1 as the ids file has lines.
    o.format = Format::kFvecs;
    o.dim = 0;
    size_t lines = 0;
    for (char c : bytes) lines += c == '\n';
    if (!bytes.empty() && bytes.back() != '\n') ++lines;
    std::string fvecs;
    for (size_t i = 0; i < lines; ++i) {
      const int32_t d = 1;
      const float v = static_cast<float>(i);
      fvecs.append(reinterpret_cast<const char*>(&d), 4);
      fvecs.append(reinterpret_cast<const char*>(&v), 4);
    }
    WriteFile(path, fvecs);
    o.ids_path = g_dir + "/in.ids";
  } else {
    o.format = target == "csv" ? Format::kCsv : Format::kJsonl;
    if (!(bits & 128)) {
      o.attributes = {{"title", mrldb::AttrType::kText},
                      {"year", mrldb::AttrType::kInt},
                      {"score", mrldb::AttrType::kFloat},
                      {"ok", mrldb::AttrType::kBool}};
    }
    o.ignore_unknown_fields = bits & 8;
    if (bits & 32) o.id_field.clear();
    if (target == "csv") {
      static constexpr char kDelimiters[] = {',', ';', '\t', '|'};
      o.delimiter = kDelimiters[(bits >> 1) & 3];
      if (bits & 64) {
        o.header = false;
        o.columns = {"embedding"};
        if (!o.attributes.empty()) o.columns.insert(o.columns.end(), {"title", "year"});
        if (!o.id_field.empty()) o.columns.insert(o.columns.begin(), o.id_field);
      }
    }
  }
  WriteFile(o.ids_path.empty() ? path : o.ids_path, bytes);

  Batch first;
  if (!ReadAllRows(path, o, &first) || first.dim == 0) return 0;

  // Round trip: what was read, written in the same format, reads back the same.
  mrldb::formats::WriteOptions w;
  w.format = o.format;
  w.dim = first.dim;
  w.overwrite = true;
  w.id_field = o.id_field;
  w.attributes = o.attributes;
  w.delimiter = o.delimiter;
  const std::string out = g_dir + "/out";
  if (!o.ids_path.empty()) w.ids_path = g_dir + "/out.ids";
  auto writer = mrldb::formats::VectorWriter::Create(out, w);
  Check(writer.ok());
  mrldb::Status st = (*writer)->Write(first);
  if (st.ok()) st = (*writer)->Finish();
  // The writers refuse only what no reader could have produced from a file of this format
  // (an ids-file id holding '\r' can be read, but not written as a line of its own).
  if (!st.ok()) {
    Check(st.code() == mrldb::Status::Code::kInvalidArgument && !o.ids_path.empty());
    return 0;
  }
  mrldb::formats::ReadOptions back = o;
  back.header = true;
  back.columns.clear();
  back.ids_path = w.ids_path;
  Batch second;
  Check(ReadAllRows(out, back, &second));
  Check(SameRows(first, second));
  return 0;
}
