// COPY collection FROM/TO 'file': streaming import in atomic batches, export of all rows.
#include <filesystem>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "query/formats/formats.h"
#include "query/session_impl.h"

namespace mrldb {

using query::ErrorAt;

namespace {

struct CopyOptions {
  std::optional<formats::Format> format;
  std::string ids;
  std::optional<bool> header;
  std::optional<char> delimiter;
  size_t batch_rows = 0;
  bool overwrite = false;
  bool ignore_unknown = false;
  // on_conflict: what a row whose id is stored does: 'error' (the default: the batch fails),
  // 'skip' (the row is left out) or 'replace' (the stored row is replaced).
  enum class OnConflict { kError, kSkip, kReplace } on_conflict = OnConflict::kError;
};

Result<CopyOptions> ParseCopyOptions(const std::vector<query::Option>& options, bool from) {
  CopyOptions c;
  for (const query::Option& o : options) {
    const auto* v = std::get_if<Value>(&o.value);
    const auto* text = v ? std::get_if<std::string>(v) : nullptr;
    const auto* num = v ? std::get_if<int64_t>(v) : nullptr;
    const auto* flag = v ? std::get_if<bool>(v) : nullptr;
    if (o.key == "format" && text) {
      auto f = formats::ParseFormat(*text);
      if (!f.ok()) return ErrorAt(o.pos, f.status().message());
      c.format = *f;
    } else if (o.key == "ids" && text) {
      c.ids = *text;
    } else if (o.key == "header" && flag) {
      c.header = *flag;
    } else if (o.key == "delimiter" && text && text->size() == 1) {
      c.delimiter = (*text)[0];
    } else if (o.key == "batch_size" && num && from) {
      if (*num < 1 || *num > 1000000) return ErrorAt(o.pos, "batch_size must be in 1..1000000");
      c.batch_rows = static_cast<size_t>(*num);
    } else if (o.key == "overwrite" && flag && !from) {
      c.overwrite = *flag;
    } else if (o.key == "ignore_unknown_fields" && flag && from) {
      c.ignore_unknown = *flag;
    } else if (o.key == "on_conflict" && text && from) {
      if (*text == "error") c.on_conflict = CopyOptions::OnConflict::kError;
      else if (*text == "skip") c.on_conflict = CopyOptions::OnConflict::kSkip;
      else if (*text == "replace") c.on_conflict = CopyOptions::OnConflict::kReplace;
      else {
        return ErrorAt(o.pos, fmt::format("on_conflict must be 'error', 'skip' or 'replace', not "
                                          "'{}'", *text));
      }
    } else {
      return ErrorAt(o.pos, fmt::format(
          "unknown or mistyped COPY option \"{}\" (COPY FROM: format 'npy|fvecs|csv|jsonl', ids "
          "'file', header true|false, delimiter ',', batch_size n, ignore_unknown_fields "
          "true|false, on_conflict 'error|skip|replace'; COPY TO: format, ids, header, delimiter, overwrite true|false)", o.key));
    }
  }
  return c;
}

}  // namespace

Result<std::string> Session::Impl::CopyPath(const std::string& path, std::string_view what,
                                            bool for_write, const query::Position& pos) const {
  namespace fs = std::filesystem;
  if (options_.copy_refused) {
    const std::string why = what.starts_with("COPY")
        ? *options_.copy_refused
        : fmt::format("{} reads a file on the server, as COPY does: {}", what, *options_.copy_refused);
    return Status::NotSupported(why).WithPosition(pos.line, pos.column);
  }
  if (path.empty()) return ErrorAt(pos, fmt::format("{} needs a file name", what));
  if (!options_.copy_dir) return path;
  std::error_code ec;
  const fs::path root = fs::canonical(*options_.copy_dir, ec);
  if (ec) {
    return Status::IOError(fmt::format("the COPY directory '{}' is not usable: {}", *options_.copy_dir,
                                       ec.message()));
  }
  fs::path p(path);
  if (p.is_relative()) p = root / p;
  // weakly_canonical resolves "..", and every symbolic link along the existing part of the path.
  const fs::path real = fs::weakly_canonical(p, ec);
  if (ec) return ErrorAt(pos, fmt::format("cannot resolve '{}': {}", path, ec.message()));
  auto rel = real.lexically_relative(root);
  if (rel.empty() || *rel.begin() == "..") {
    return Status::InvalidArgument(fmt::format(
               "{} '{}' is refused: the server only {} files inside its COPY directory", what,
               path, for_write ? "writes" : "reads"))
        .WithPosition(pos.line, pos.column);
  }
  return real.string();
}

Result<std::vector<float>> Session::Impl::ReadQueries(const std::string& file,
                                                      const CollectionSpec& spec,
                                                      const query::Position& pos) const {
  MRLDB_ASSIGN_OR_RETURN(std::string path,
                         CopyPath(file, "TUNE ... USING QUERIES FROM", /*for_write=*/false, pos));
  auto format = formats::FormatFromPath(path);
  if (!format.ok()) return ErrorAt(pos, format.status().message());
  formats::ReadOptions ro;
  ro.format = *format;
  ro.dim = spec.dim;
  if (*format == formats::Format::kCsv || *format == formats::Format::kJsonl) {
    ro.id_field.clear();  // queries need no ids; the vector column is all that is read
    ro.vector_field = spec.vector_column;
    ro.ignore_unknown_fields = true;
  }
  auto batch = formats::ReadAll(path, ro);
  if (!batch.ok()) return batch.status().WithPosition(pos.line, pos.column);
  if (batch->rows() == 0) return ErrorAt(pos, fmt::format("'{}' holds no queries", file));
  return std::move(batch->vectors);
}

Result<ResultSet> Session::Impl::Copy(const query::Copy& s, const query::Position& pos) {
  MRLDB_ASSIGN_OR_RETURN(CollectionSpec spec, Spec(s.collection, s.collection_pos));
  MRLDB_ASSIGN_OR_RETURN(CopyOptions c, ParseCopyOptions(s.options, s.from));
  const std::string_view what = s.from ? "COPY FROM" : "COPY TO";
  MRLDB_ASSIGN_OR_RETURN(std::string path, CopyPath(s.path, what, !s.from, pos));
  std::string ids_path;
  if (!c.ids.empty()) {
    MRLDB_ASSIGN_OR_RETURN(ids_path, CopyPath(c.ids, what, !s.from, pos));
  }
  if (!c.format) {
    auto f = formats::FormatFromPath(path);
    if (!f.ok()) return ErrorAt(pos, f.status().message() + " (or give WITH (format ...))");
    c.format = *f;
  }
  const bool vectors_only = *c.format == formats::Format::kNpy || *c.format == formats::Format::kFvecs;
  // An error after some batches committed says how many rows made it in.
  auto fail = [&](const Status& st, uint64_t committed) {
    return Status::InvalidArgument(fmt::format("{} ({} rows committed before the error)",
                                               st.message(), committed))
        .WithPosition(pos.line, pos.column);
  };

  if (s.from) {
    formats::ReadOptions ro;
    ro.format = c.format;
    ro.dim = spec.dim;
    ro.id_type = spec.id_type;
    if (vectors_only) {
      ro.ids_path = ids_path.empty() ? formats::DefaultIdsPath(path) : ids_path;
      // A missing vectors file is reported as such (by the reader), not as a missing ids file.
      if (ids_path.empty() && std::filesystem::exists(path) &&
          !std::filesystem::exists(ro.ids_path)) {
        return ErrorAt(pos, fmt::format("{} files hold vectors only: give the ids with WITH (ids "
                                        "'file') (looked for '{}')", formats::FormatName(*c.format),
                                        ro.ids_path));
      }
    } else {
      ro.id_field = spec.id_column;
      ro.vector_field = spec.vector_column;
      ro.attributes = spec.attributes;
      ro.ignore_unknown_fields = c.ignore_unknown;
      if (c.header) ro.header = *c.header;
      if (c.delimiter) ro.delimiter = *c.delimiter;
    }
    auto reader = formats::VectorReader::Open(path, ro);
    if (!reader.ok()) return reader.status().WithPosition(pos.line, pos.column);
    const size_t batch_rows = c.batch_rows ? c.batch_rows : options_.copy_batch_rows;
    formats::Batch batch;
    InsertBatch insert;
    uint64_t committed = 0, read = 0, skipped = 0;
    for (;;) {
      if (cancel_) return Status::Cancelled(fmt::format("COPY cancelled after {} rows", committed));
      auto more = (*reader)->Next(&batch, batch_rows);
      if (!more.ok()) return fail(more.status(), committed);
      if (!*more) break;
      // on_conflict 'skip': the batch's ids already stored (point reads) are left out, so that
      // an interrupted COPY can be run again.
      std::set<Key> stored;
      if (c.on_conflict == CopyOptions::OnConflict::kSkip) {
        FindOptions find;
        find.ids = batch.ids;
        MRLDB_ASSIGN_OR_RETURN(std::vector<Record> found, db_->Find(spec.name, find));
        for (Record& r : found) stored.insert(std::move(r.id));
        skipped += stored.size();
      }
      insert.Clear();
      insert.Reserve(batch.rows(), batch.dim);
      for (size_t i = 0; i < batch.rows(); ++i) {
        if (stored.count(batch.ids[i])) continue;
        insert.Add(batch.ids[i], batch.vector(i),
                   batch.attributes.empty() ? std::vector<Value>{} : std::move(batch.attributes[i]));
      }
      Status st = insert.size() == 0 ? Status::Ok()
                  : c.on_conflict == CopyOptions::OnConflict::kReplace
                      ? db_->Upsert(spec.name, insert)
                      : db_->Insert(spec.name, insert);
      if (!st.ok()) {
        return fail(Status::InvalidArgument(fmt::format("rows {}..{} of '{}': {}", read + 1,
                                                        read + batch.rows(), s.path, st.message())),
                    committed);
      }
      committed += insert.size();
      read += batch.rows();
      if (options_.progress && !options_.progress({read, (*reader)->total_rows()})) {
        return Status::Cancelled(fmt::format("COPY stopped after {} rows", committed))
            .WithPosition(pos.line, pos.column);
      }
    }
    std::string tag = fmt::format("COPY {}", committed);
    std::vector<std::string> notes;
    if (skipped) notes.push_back(fmt::format("{} rows skipped: their ids were stored", skipped));
    if (!(*reader)->note().empty()) notes.push_back((*reader)->note());
    if (!notes.empty()) tag += fmt::format(" ({})", fmt::join(notes, "; "));
    return ResultSet{{}, {}, std::move(tag), committed};
  }

  // COPY TO.
  formats::WriteOptions wo;
  wo.format = c.format;
  wo.dim = spec.dim;
  wo.overwrite = c.overwrite;
  if (vectors_only) {
    wo.ids_path = ids_path.empty() ? formats::DefaultIdsPath(path) : ids_path;
  } else {
    wo.id_field = spec.id_column;
    wo.vector_field = spec.vector_column;
    wo.attributes = spec.attributes;
    if (c.header) wo.header = *c.header;
    if (c.delimiter) wo.delimiter = *c.delimiter;
  }
  auto writer = formats::VectorWriter::Create(path, wo);
  if (!writer.ok()) return writer.status().WithPosition(pos.line, pos.column);
  MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db_->DescribeCollection(spec.name));
  constexpr uint64_t kChunk = 10000;
  formats::Batch batch;
  batch.dim = spec.dim;
  uint64_t written = 0;
  for (;;) {
    if (cancel_) return Status::Cancelled(fmt::format("COPY cancelled after {} rows", written));
    FindOptions find;
    find.offset = written;
    find.limit = kChunk;
    find.vector_dims = spec.dim;
    MRLDB_ASSIGN_OR_RETURN(std::vector<Record> rows, db_->Find(spec.name, find));
    if (rows.empty()) break;
    batch.Clear();
    for (Record& r : rows) {
      batch.Append(r.id, r.vector, vectors_only ? std::vector<Value>{} : std::move(r.attributes));
    }
    MRLDB_RETURN_IF_ERROR((*writer)->Write(batch));
    written += rows.size();
    if (options_.progress && !options_.progress({written, info.live_rows})) {
      return Status::InvalidArgument(fmt::format("COPY stopped after {} rows", written));
    }
  }
  MRLDB_RETURN_IF_ERROR((*writer)->Finish());
  return ResultSet{{}, {}, fmt::format("COPY {}", written), written};
}

}  // namespace mrldb
