// The csv and jsonl writers.
#include <algorithm>

#include "query/formats/convert.h"
#include "query/formats/internal.h"

namespace mrldb::formats {
namespace {

void AppendId(std::string* out, const Key& id, char csv_delimiter) {
  if (const auto* text = std::get_if<std::string>(&id)) {
    if (csv_delimiter) AppendCsvField(out, *text, csv_delimiter, true);
    else AppendJsonString(out, *text);
  } else {
    AppendInt(out, std::get<int64_t>(id));
  }
}

// A csv or jsonl writer: rows are formatted as text by FormatRows straight into the file's
// buffer (std::to_chars, no per-value format string or per-row string; see AppendFloats).
class TextWriter : public VectorWriter {
 protected:
  TextWriter(Format format, const WriteOptions& options, std::unique_ptr<OutputFile> file)
      : VectorWriter(format, options), file_(std::move(file)) {}
  // Appends rows [begin, end) of the batch to *out.
  virtual void FormatRows(const Batch& batch, size_t begin, size_t end,
                          std::string* out) const = 0;

  Status WriteRows(const Batch& batch) final {
    // Formatted in slices so that the buffer is flushed every ~1 MiB.
    constexpr size_t kRowsPerSlice = 256;
    for (size_t begin = 0; begin < batch.rows(); begin += kRowsPerSlice) {
      FormatRows(batch, begin, std::min(batch.rows(), begin + kRowsPerSlice), &file_->buffer());
      MRLDB_RETURN_IF_ERROR(file_->MaybeFlush());
    }
    return Status::Ok();
  }
  Status FinishFile() final {
    MRLDB_RETURN_IF_ERROR(file_->Close());
    return file_->Commit();
  }

  std::unique_ptr<OutputFile> file_;
};

class CsvWriter final : public TextWriter {
 public:
  CsvWriter(const WriteOptions& options, std::unique_ptr<OutputFile> file)
      : TextWriter(Format::kCsv, options, std::move(file)),
        quote_vector_(std::string_view("[],.-+e0123456789").find(options.delimiter) !=
                      std::string_view::npos) {}

  Status Start() {
    if (!options_.header) return Status::Ok();
    std::string& out = file_->buffer();
    const char d = options_.delimiter;
    if (!options_.id_field.empty()) {
      AppendCsvField(&out, options_.id_field, d, true);
      out.push_back(d);
    }
    AppendCsvField(&out, options_.vector_field, d, true);
    for (const ColumnDef& c : options_.attributes) {
      out.push_back(d);
      AppendCsvField(&out, c.name, d, true);
    }
    out.push_back('\n');
    return file_->MaybeFlush();
  }

 protected:
  void FormatRows(const Batch& batch, size_t begin, size_t end, std::string* out_text) const override {
    const char d = options_.delimiter;
    std::string& out = *out_text;
    for (size_t i = begin; i < end; ++i) {
      if (!options_.id_field.empty()) {
        AppendId(&out, batch.ids[i], d);
        out.push_back(d);
      }
      // The vector's text is made of "[],.-+e" and digits: quoted when the delimiter is one of
      // them (as AppendCsvField would), written in place without a copy.
      if (quote_vector_) out.push_back('"');
      AppendFloats(&out, batch.vector(i));
      if (quote_vector_) out.push_back('"');
      const std::vector<Value>* attrs =
          batch.attributes.empty() || batch.attributes[i].empty() ? nullptr : &batch.attributes[i];
      for (size_t a = 0; a < options_.attributes.size(); ++a) {
        out.push_back(d);
        if (attrs == nullptr) continue;
        const Value& v = (*attrs)[a];
        if (const auto* s = std::get_if<std::string>(&v)) {
          AppendCsvField(&out, *s, d, true);  // "" = the empty string, nothing = NULL
        } else if (const auto* x = std::get_if<int64_t>(&v)) {
          AppendInt(&out, *x);
        } else if (const auto* f = std::get_if<double>(&v)) {
          AppendDouble(&out, *f);
        } else if (const auto* b = std::get_if<bool>(&v)) {
          out.append(*b ? "true" : "false");
        }
      }
      out.push_back('\n');
    }
  }

 private:
  const bool quote_vector_;
};

class JsonlWriter final : public TextWriter {
 public:
  JsonlWriter(const WriteOptions& options, std::unique_ptr<OutputFile> file)
      : TextWriter(Format::kJsonl, options, std::move(file)) {
    // The keys, quoted once: {"id": ..., "embedding": [...], "title": ...}.
    if (!options.id_field.empty()) AppendKey(&id_key_, options.id_field);
    AppendKey(&vector_key_, options.vector_field);
    for (const ColumnDef& c : options.attributes) AppendKey(&attr_keys_.emplace_back(), c.name);
  }

 protected:
  void FormatRows(const Batch& batch, size_t begin, size_t end, std::string* out_text) const override {
    std::string& out = *out_text;
    for (size_t i = begin; i < end; ++i) {
      out.push_back('{');
      if (!id_key_.empty()) {
        out.append(id_key_);
        AppendId(&out, batch.ids[i], /*csv_delimiter=*/0);
        out.append(", ");
      }
      out.append(vector_key_);
      AppendFloats(&out, batch.vector(i));
      const std::vector<Value>* attrs =
          batch.attributes.empty() || batch.attributes[i].empty() ? nullptr : &batch.attributes[i];
      for (size_t a = 0; a < attr_keys_.size(); ++a) {
        out.append(", ");
        out.append(attr_keys_[a]);
        const Value& v = attrs == nullptr ? kNull : (*attrs)[a];
        if (const auto* s = std::get_if<std::string>(&v)) {
          AppendJsonString(&out, *s);
        } else if (const auto* x = std::get_if<int64_t>(&v)) {
          AppendInt(&out, *x);
        } else if (const auto* f = std::get_if<double>(&v)) {
          AppendDouble(&out, *f);
        } else if (const auto* b = std::get_if<bool>(&v)) {
          out.append(*b ? "true" : "false");
        } else {
          out.append("null");
        }
      }
      out.append("}\n");
    }
  }

 private:
  static void AppendKey(std::string* out, std::string_view name) {
    AppendJsonString(out, name);
    out->append(": ");
  }
  static inline const Value kNull{};

  std::string id_key_, vector_key_;
  std::vector<std::string> attr_keys_;
};

}  // namespace

Result<std::unique_ptr<VectorWriter>> CreateCsvWriter(std::unique_ptr<OutputFile> file,
                                                      const WriteOptions& options) {
  auto writer = std::make_unique<CsvWriter>(options, std::move(file));
  MRLDB_RETURN_IF_ERROR(writer->Start());
  return std::unique_ptr<VectorWriter>(std::move(writer));
}

Result<std::unique_ptr<VectorWriter>> CreateJsonlWriter(std::unique_ptr<OutputFile> file,
                                                        const WriteOptions& options) {
  return std::unique_ptr<VectorWriter>(new JsonlWriter(options, std::move(file)));
}

}  // namespace mrldb::formats
