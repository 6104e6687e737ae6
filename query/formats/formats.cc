// The format-independent parts: names, option checks, dispatch, the ids file, sticky errors.
#include "query/formats/formats.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <fmt/format.h>

#include "query/formats/convert.h"
#include "query/formats/ids_file.h"
#include "query/formats/internal.h"

namespace mrldb::formats {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool VectorsOnly(Format f) { return f == Format::kNpy || f == Format::kFvecs; }

// Checks what readers and writers share. `what`: "ReadOptions" or "WriteOptions".
Status CheckCommon(Format format, std::string_view what, uint32_t dim, const std::string& id_field,
                   const std::string& vector_field, const std::vector<ColumnDef>& attributes,
                   bool ids_file, char delimiter) {
  const auto bad = [&](std::string_view msg) {
    return Status::InvalidArgument(fmt::format("{}: {}", what, msg));
  };
  if (dim > kMaxDim) return bad(fmt::format("dim {} is above {}", dim, kMaxDim));
  if (VectorsOnly(format)) {
    if (!attributes.empty()) {
      return bad(fmt::format("{} files hold vectors only, not attribute columns (use csv or "
                             "jsonl)", FormatName(format)));
    }
    return Status::Ok();
  }
  if (ids_file) {
    return bad(fmt::format("an ids file goes with npy and fvecs only; {} has an id column",
                           FormatName(format)));
  }
  if (vector_field.empty()) return bad("the vector column name is empty");
  if (id_field == vector_field) {
    return bad(fmt::format("'{}' is both the id and the vector column", id_field));
  }
  std::set<std::string_view> names;
  for (const ColumnDef& c : attributes) {
    if (c.name.empty()) return bad("an attribute column has an empty name");
    if (c.name == id_field || c.name == vector_field || !names.insert(c.name).second) {
      return bad(fmt::format("column '{}' is named twice", c.name));
    }
  }
  if (format == Format::kCsv && (delimiter == '"' || delimiter == '\r' || delimiter == '\n')) {
    return bad("the csv delimiter cannot be '\"' or a line break");
  }
  return Status::Ok();
}

}  // namespace

std::string_view FormatName(Format format) {
  switch (format) {
    case Format::kNpy: return "npy";
    case Format::kFvecs: return "fvecs";
    case Format::kCsv: return "csv";
    case Format::kJsonl: return "jsonl";
  }
  return "?";
}

Result<Format> ParseFormat(std::string_view name) {
  const std::string n = Lower(name);
  if (n == "npy") return Format::kNpy;
  if (n == "fvecs") return Format::kFvecs;
  if (n == "csv") return Format::kCsv;
  if (n == "jsonl" || n == "ndjson") return Format::kJsonl;
  return Status::InvalidArgument(
      fmt::format("unknown file format '{}' (npy, fvecs, csv, jsonl)", name));
}

Result<Format> FormatFromPath(const std::string& path) {
  const size_t dot = path.rfind('.');
  const size_t slash = path.rfind('/');
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    auto f = ParseFormat(std::string_view(path).substr(dot + 1));
    if (f.ok()) return f;
  }
  return Status::InvalidArgument(fmt::format(
      "{}: cannot tell the format from the extension (.npy, .fvecs, .csv, .jsonl); name it",
      path));
}

std::string DefaultIdsPath(const std::string& vectors_path) {
  const size_t dot = vectors_path.rfind('.');
  const size_t slash = vectors_path.rfind('/');
  const bool ext = dot != std::string::npos && (slash == std::string::npos || dot > slash + 1);
  return (ext ? vectors_path.substr(0, dot) : vectors_path) + ".ids.txt";
}

// ---- Batch --------------------------------------------------------------------------------------

void Batch::Clear() {
  ids.clear();
  vectors.clear();
  attributes.clear();
}

void Batch::Append(Key id, std::span<const float> vector, std::vector<Value> attrs) {
  ids.push_back(std::move(id));
  vectors.insert(vectors.end(), vector.begin(), vector.end());
  attributes.push_back(std::move(attrs));
}

// ---- VectorReader -------------------------------------------------------------------------------

VectorReader::VectorReader(std::string path, Format format)
    : path_(std::move(path)), format_(format) {}

VectorReader::~VectorReader() = default;

namespace {

Status CheckReadOptions(Format format, const ReadOptions& options) {
  MRLDB_RETURN_IF_ERROR(CheckCommon(format, "ReadOptions", options.dim, options.id_field,
                                    options.vector_field, options.attributes,
                                    !options.ids_path.empty() || options.ids_data.has_value(),
                                    options.delimiter));
  if (!options.ids_path.empty() && options.ids_data) {
    return Status::InvalidArgument("ReadOptions: ids_path and ids_data both given");
  }
  if (format != Format::kCsv && !options.columns.empty()) {
    return Status::InvalidArgument("ReadOptions: a column list applies to csv only");
  }
  if (format == Format::kCsv && !options.header && options.columns.empty()) {
    return Status::InvalidArgument(
        "ReadOptions: a csv file without a header row needs the list of its columns");
  }
  return Status::Ok();
}

}  // namespace

Result<std::unique_ptr<VectorReader>> VectorReader::Open(const std::string& path,
                                                         const ReadOptions& options) {
  Format format;
  if (options.format) {
    format = *options.format;
  } else {
    MRLDB_ASSIGN_OR_RETURN(format, FormatFromPath(path));
  }
  MRLDB_RETURN_IF_ERROR(CheckReadOptions(format, options));
  MRLDB_ASSIGN_OR_RETURN(auto file, InputFile::Open(path));
  return OpenInput(std::move(file), format, options);
}

Result<std::unique_ptr<VectorReader>> VectorReader::OpenStream(const std::string& name,
                                                               StreamRead read,
                                                               const ReadOptions& options) {
  if (!options.format) return Status::InvalidArgument("ReadOptions: a stream needs its format");
  MRLDB_RETURN_IF_ERROR(CheckReadOptions(*options.format, options));
  return OpenInput(InputFile::FromStream(name, std::move(read)), *options.format, options);
}

Result<std::unique_ptr<VectorReader>> VectorReader::OpenInput(std::unique_ptr<InputFile> file,
                                                              Format format,
                                                              const ReadOptions& options) {
  const std::string path = file->path();
  std::unique_ptr<VectorReader> reader;
  switch (format) {
    case Format::kNpy: {
      MRLDB_ASSIGN_OR_RETURN(reader, OpenNpyReader(std::move(file), options));
      break;
    }
    case Format::kFvecs: {
      MRLDB_ASSIGN_OR_RETURN(reader, OpenFvecsReader(std::move(file), options));
      break;
    }
    case Format::kCsv: {
      MRLDB_ASSIGN_OR_RETURN(reader, OpenCsvReader(std::move(file), options));
      break;
    }
    case Format::kJsonl: {
      MRLDB_ASSIGN_OR_RETURN(reader, OpenJsonlReader(std::move(file), options));
      break;
    }
  }
  if (!options.ids_path.empty() || options.ids_data) {
    if (options.ids_data) {
      MRLDB_ASSIGN_OR_RETURN(reader->ids_, IdsFileReader::FromMemory(path + " ids", *options.ids_data,
                                                                     options.id_type));
    } else {
      MRLDB_ASSIGN_OR_RETURN(reader->ids_, IdsFileReader::Open(options.ids_path, options.id_type));
    }
    // A stream's row count is known only at its end (fvecs): Next compares the counts there.
    if (reader->total_rows_ && reader->ids_->count() != *reader->total_rows_) {
      return DataError(reader->ids_->path(), fmt::format("{} ids, but {} has {} rows",
                                                         reader->ids_->count(), path,
                                                         *reader->total_rows_));
    }
    reader->has_ids_ = true;
  }
  return reader;
}

Result<bool> VectorReader::Next(Batch* out, size_t max_rows) {
  if (max_rows == 0) return Status::InvalidArgument("VectorReader::Next: max_rows is 0");
  out->Clear();
  out->dim = dim_;
  if (!failed_.ok()) return failed_;
  auto n = ReadRows(out, max_rows);
  Status s = n.ok() ? Status::Ok() : n.status();
  if (s.ok() && ids_ && *n > 0) s = ids_->Read(*n, &out->ids);
  if (s.ok() && ids_ && *n == 0 && ids_->read() != ids_->count()) {
    s = DataError(ids_->path(), fmt::format("{} ids, more than the {} rows of {}", ids_->count(),
                                            rows_read_, path_));
  }
  if (!s.ok()) {
    failed_ = s;
    out->Clear();
    return s;
  }
  out->dim = dim_;
  if (attribute_names_.empty()) out->attributes.clear();
  rows_read_ += *n;
  return *n > 0;
}

Result<Batch> ReadAll(const std::string& path, const ReadOptions& options) {
  MRLDB_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(path, options));
  Batch all, batch;
  if (auto total = reader->total_rows()) {
    // Straight into one batch: no second copy of the vectors.
    MRLDB_ASSIGN_OR_RETURN(bool any, reader->Next(&all, std::max<uint64_t>(*total, 1)));
    MRLDB_ASSIGN_OR_RETURN(bool more, reader->Next(&batch, 1));
    if (any && !more) return all;
    if (!any && !more) {
      all.dim = reader->dim();
      return all;
    }
    return Status::Internal(fmt::format("{}: more rows than the {} announced", path, *total));
  }
  all.dim = reader->dim();
  while (true) {
    MRLDB_ASSIGN_OR_RETURN(bool more, reader->Next(&batch, 1 << 16));
    if (!more) break;
    all.vectors.insert(all.vectors.end(), batch.vectors.begin(), batch.vectors.end());
    std::move(batch.ids.begin(), batch.ids.end(), std::back_inserter(all.ids));
    std::move(batch.attributes.begin(), batch.attributes.end(),
              std::back_inserter(all.attributes));
  }
  return all;
}

// ---- VectorWriter -------------------------------------------------------------------------------

VectorWriter::VectorWriter(Format format, const WriteOptions& options)
    : options_(options), format_(format) {}

VectorWriter::~VectorWriter() = default;

Result<std::unique_ptr<VectorWriter>> VectorWriter::Create(const std::string& path,
                                                           const WriteOptions& options) {
  Format format;
  if (options.format) {
    format = *options.format;
  } else {
    MRLDB_ASSIGN_OR_RETURN(format, FormatFromPath(path));
  }
  if (options.dim == 0) return Status::InvalidArgument("WriteOptions: dim is required");
  MRLDB_RETURN_IF_ERROR(CheckCommon(format, "WriteOptions", options.dim, options.id_field,
                                    options.vector_field, options.attributes,
                                    !options.ids_path.empty(), options.delimiter));
  if (!options.ids_path.empty() && options.ids_path == path) {
    return Status::InvalidArgument("WriteOptions: the ids file is the vector file");
  }
  if (options.ids_path.size() >= 4 && FormatFromPath(options.ids_path).ok() &&
      *FormatFromPath(options.ids_path) == Format::kNpy) {
    return Status::InvalidArgument(fmt::format(
        "ids '{}': ids are written as text, one per line (.npy ids are read only); name the "
        "file e.g. '{}'", options.ids_path, DefaultIdsPath(path)));
  }
  MRLDB_ASSIGN_OR_RETURN(auto file, OutputFile::Create(path, options.overwrite));
  std::unique_ptr<OutputFile> ids;
  if (!options.ids_path.empty()) {
    MRLDB_ASSIGN_OR_RETURN(ids, OutputFile::Create(options.ids_path, options.overwrite));
  }
  return CreateOutput(std::move(file), std::move(ids), format, options);
}

Result<std::unique_ptr<VectorWriter>> VectorWriter::CreateStream(const std::string& name,
                                                                 StreamWrite data, StreamWrite ids,
                                                                 const WriteOptions& options) {
  if (!options.format) return Status::InvalidArgument("WriteOptions: a stream needs its format");
  const Format format = *options.format;
  if (options.dim == 0) return Status::InvalidArgument("WriteOptions: dim is required");
  if (!options.ids_path.empty()) {
    return Status::InvalidArgument("WriteOptions: a stream's ids go to a stream, not ids_path");
  }
  MRLDB_RETURN_IF_ERROR(CheckCommon(format, "WriteOptions", options.dim, options.id_field,
                                    options.vector_field, options.attributes, ids != nullptr,
                                    options.delimiter));
  if (format == Format::kNpy && !options.rows) {
    return Status::InvalidArgument("WriteOptions: npy to a stream needs the row count (rows)");
  }
  return CreateOutput(OutputFile::ToStream(name, std::move(data)),
                      ids ? OutputFile::ToStream(name + " ids", std::move(ids)) : nullptr, format,
                      options);
}

Result<std::unique_ptr<VectorWriter>> VectorWriter::CreateOutput(std::unique_ptr<OutputFile> file,
                                                                 std::unique_ptr<OutputFile> ids,
                                                                 Format format,
                                                                 const WriteOptions& options) {
  const std::string path = file->path();
  std::unique_ptr<VectorWriter> writer;
  switch (format) {
    case Format::kNpy: {
      MRLDB_ASSIGN_OR_RETURN(writer, CreateNpyWriter(std::move(file), options));
      break;
    }
    case Format::kFvecs: {
      MRLDB_ASSIGN_OR_RETURN(writer, CreateFvecsWriter(std::move(file), options));
      break;
    }
    case Format::kCsv: {
      MRLDB_ASSIGN_OR_RETURN(writer, CreateCsvWriter(std::move(file), options));
      break;
    }
    case Format::kJsonl: {
      MRLDB_ASSIGN_OR_RETURN(writer, CreateJsonlWriter(std::move(file), options));
      break;
    }
  }
  writer->path_ = path;
  if (ids) writer->ids_ = std::make_unique<IdsFileWriter>(std::move(ids));
  return writer;
}

Status VectorWriter::CheckBatch(const Batch& batch) const {
  const uint32_t dim = options_.dim;
  if (batch.dim != dim || batch.vectors.size() % dim != 0) {
    return DataError(path_, fmt::format(
        "batch of dim {} with {} values; the writer's dim is {}", batch.dim,
        batch.vectors.size(), dim));
  }
  const size_t rows = batch.rows();
  const bool ids = VectorsOnly(format_) ? ids_ != nullptr : !options_.id_field.empty();
  if (ids && batch.ids.size() != rows) {
    return DataError(path_, fmt::format("batch has {} ids for {} rows", batch.ids.size(),
                                               rows));
  }
  const size_t n_attrs = VectorsOnly(format_) ? 0 : options_.attributes.size();
  if (n_attrs > 0 && !batch.attributes.empty() && batch.attributes.size() != rows) {
    return DataError(path_, fmt::format("batch has attributes for {} rows, not {}",
                                               batch.attributes.size(), rows));
  }
  for (size_t i = 0; i < rows; ++i) {
    const uint64_t row = rows_written_ + i;
    const std::span<const float> v = batch.vector(i);
    for (size_t j = 0; j < dim; ++j) {
      if (!std::isfinite(v[j])) {
        return DataError(path_, fmt::format(
            "row {}, element {}: {} cannot be written (readers reject NaN and Inf)", row, j,
            v[j]));
      }
    }
    if (ids && !VectorsOnly(format_)) {
      const auto* text = std::get_if<std::string>(&batch.ids[i]);
      if (text != nullptr && text->empty()) {
        return DataError(path_, fmt::format("row {}: the id is empty", row));
      }
    }
    // Readers refuse invalid UTF-8, so a writer does not produce it (rows stored before the
    // engine checked it could hold some).
    if (const auto* text = ids ? std::get_if<std::string>(&batch.ids[i]) : nullptr) {
      if (std::string bad = DescribeInvalidUtf8(*text); !bad.empty()) {
        return DataError(path_, fmt::format("row {}: the id {}", row, bad));
      }
    }
    if (n_attrs == 0 || batch.attributes.empty() || batch.attributes[i].empty()) continue;
    const std::vector<Value>& attrs = batch.attributes[i];
    if (attrs.size() != n_attrs) {
      return DataError(path_, fmt::format("row {}: {} attribute values for {} columns", row,
                                                 attrs.size(), n_attrs));
    }
    for (size_t a = 0; a < n_attrs; ++a) {
      const ColumnDef& c = options_.attributes[a];
      const Value& val = attrs[a];
      if (!std::holds_alternative<std::monostate>(val) && !ValueHasType(val, c.type)) {
        return DataError(path_, fmt::format("row {}, column '{}': {} is not {}", row,
                                                   c.name, DescribeValue(val),
                                                   AttrTypeName(c.type)));
      }
      if (const auto* f = std::get_if<double>(&val); f != nullptr && !std::isfinite(*f)) {
        return DataError(path_, fmt::format("row {}, column '{}': {} cannot be written",
                                                   row, c.name, *f));
      }
      if (const auto* t = std::get_if<std::string>(&val)) {
        if (std::string bad = DescribeInvalidUtf8(*t); !bad.empty()) {
          return DataError(path_, fmt::format("row {}, column '{}': the value {}", row, c.name,
                                              bad));
        }
      }
    }
  }
  return Status::Ok();
}

Status VectorWriter::Write(const Batch& batch) {
  if (finished_) return Status::InvalidArgument("VectorWriter::Write after Finish");
  if (!failed_.ok()) return failed_;
  Status s = CheckBatch(batch);
  if (s.ok()) s = WriteRows(batch);
  if (s.ok() && ids_) s = ids_->Write(batch.ids, rows_written_);
  if (!s.ok()) {
    failed_ = s;
    return s;
  }
  rows_written_ += batch.rows();
  return Status::Ok();
}

Status VectorWriter::Finish() {
  if (!failed_.ok()) return failed_;
  if (finished_) return Status::InvalidArgument("VectorWriter::Finish called twice");
  Status s = FinishFile();
  if (s.ok() && ids_) s = ids_->Close();
  if (s.ok() && ids_) s = ids_->Commit();
  if (!s.ok()) {
    failed_ = s;
    return s;
  }
  finished_ = true;
  return Status::Ok();
}

}  // namespace mrldb::formats
