// The csv and jsonl writers.
#include <iterator>

#include <fmt/format.h>

#include "query/formats/convert.h"
#include "query/formats/internal.h"

namespace mrldb::formats {
namespace {

void AppendVector(std::string* out, std::span<const float> v) {
  out->push_back('[');
  for (size_t j = 0; j < v.size(); ++j) {
    if (j > 0) out->push_back(',');
    AppendFloat(out, v[j]);
  }
  out->push_back(']');
}

class CsvWriter final : public VectorWriter {
 public:
  CsvWriter(const WriteOptions& options, std::unique_ptr<OutputFile> file)
      : VectorWriter(Format::kCsv, options), file_(std::move(file)) {}

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
  Status WriteRows(const Batch& batch) override {
    const char d = options_.delimiter;
    std::string& out = file_->buffer();
    for (size_t i = 0; i < batch.rows(); ++i) {
      if (!options_.id_field.empty()) {
        if (const auto* text = std::get_if<std::string>(&batch.ids[i])) {
          AppendCsvField(&out, *text, d, true);
        } else {
          fmt::format_to(std::back_inserter(out), "{}", std::get<int64_t>(batch.ids[i]));
        }
        out.push_back(d);
      }
      vector_text_.clear();
      AppendVector(&vector_text_, batch.vector(i));
      AppendCsvField(&out, vector_text_, d, false);
      const std::vector<Value>* attrs =
          batch.attributes.empty() || batch.attributes[i].empty() ? nullptr : &batch.attributes[i];
      for (size_t a = 0; a < options_.attributes.size(); ++a) {
        out.push_back(d);
        if (attrs == nullptr) continue;
        const Value& v = (*attrs)[a];
        if (const auto* s = std::get_if<std::string>(&v)) {
          AppendCsvField(&out, *s, d, true);  // "" = the empty string, nothing = NULL
        } else if (const auto* x = std::get_if<int64_t>(&v)) {
          fmt::format_to(std::back_inserter(out), "{}", *x);
        } else if (const auto* f = std::get_if<double>(&v)) {
          AppendDouble(&out, *f);
        } else if (const auto* b = std::get_if<bool>(&v)) {
          out.append(*b ? "true" : "false");
        }
      }
      out.push_back('\n');
      MRLDB_RETURN_IF_ERROR(file_->MaybeFlush());
    }
    return Status::Ok();
  }
  Status FinishFile() override {
    MRLDB_RETURN_IF_ERROR(file_->Close());
    return file_->Commit();
  }

 private:
  std::unique_ptr<OutputFile> file_;
  std::string vector_text_;
};

class JsonlWriter final : public VectorWriter {
 public:
  JsonlWriter(const WriteOptions& options, std::unique_ptr<OutputFile> file)
      : VectorWriter(Format::kJsonl, options), file_(std::move(file)) {
    // The keys, quoted once: {"id": ..., "embedding": [...], "title": ...}.
    if (!options.id_field.empty()) AppendKey(&id_key_, options.id_field);
    AppendKey(&vector_key_, options.vector_field);
    for (const ColumnDef& c : options.attributes) AppendKey(&attr_keys_.emplace_back(), c.name);
  }

 protected:
  Status WriteRows(const Batch& batch) override {
    std::string& out = file_->buffer();
    for (size_t i = 0; i < batch.rows(); ++i) {
      out.push_back('{');
      if (!id_key_.empty()) {
        out.append(id_key_);
        if (const auto* text = std::get_if<std::string>(&batch.ids[i])) {
          AppendJsonString(&out, *text);
        } else {
          fmt::format_to(std::back_inserter(out), "{}", std::get<int64_t>(batch.ids[i]));
        }
        out.append(", ");
      }
      out.append(vector_key_);
      AppendVector(&out, batch.vector(i));
      const std::vector<Value>* attrs =
          batch.attributes.empty() || batch.attributes[i].empty() ? nullptr : &batch.attributes[i];
      for (size_t a = 0; a < attr_keys_.size(); ++a) {
        out.append(", ");
        out.append(attr_keys_[a]);
        const Value& v = attrs == nullptr ? kNull : (*attrs)[a];
        if (const auto* s = std::get_if<std::string>(&v)) {
          AppendJsonString(&out, *s);
        } else if (const auto* x = std::get_if<int64_t>(&v)) {
          fmt::format_to(std::back_inserter(out), "{}", *x);
        } else if (const auto* f = std::get_if<double>(&v)) {
          AppendDouble(&out, *f);
        } else if (const auto* b = std::get_if<bool>(&v)) {
          out.append(*b ? "true" : "false");
        } else {
          out.append("null");
        }
      }
      out.append("}\n");
      MRLDB_RETURN_IF_ERROR(file_->MaybeFlush());
    }
    return Status::Ok();
  }
  Status FinishFile() override {
    MRLDB_RETURN_IF_ERROR(file_->Close());
    return file_->Commit();
  }

 private:
  static void AppendKey(std::string* out, std::string_view name) {
    AppendJsonString(out, name);
    out->append(": ");
  }
  static inline const Value kNull{};

  std::unique_ptr<OutputFile> file_;
  std::string id_key_, vector_key_;
  std::vector<std::string> attr_keys_;
};

}  // namespace

Result<std::unique_ptr<VectorWriter>> CreateCsvWriter(const std::string& path,
                                                      const WriteOptions& options) {
  MRLDB_ASSIGN_OR_RETURN(auto file, OutputFile::Create(path, options.overwrite));
  auto writer = std::make_unique<CsvWriter>(options, std::move(file));
  MRLDB_RETURN_IF_ERROR(writer->Start());
  return std::unique_ptr<VectorWriter>(std::move(writer));
}

Result<std::unique_ptr<VectorWriter>> CreateJsonlWriter(const std::string& path,
                                                        const WriteOptions& options) {
  MRLDB_ASSIGN_OR_RETURN(auto file, OutputFile::Create(path, options.overwrite));
  return std::unique_ptr<VectorWriter>(new JsonlWriter(options, std::move(file)));
}

}  // namespace mrldb::formats
