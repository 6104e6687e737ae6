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

// A COPY whose options are parsed and whose files (or streams) are settled.
struct CopyJob {
  const query::Copy* s;
  query::Position pos;
  CollectionSpec spec;
  CopyOptions c;            // c.format is set
  std::string path;         // the server file; empty for STDIN/STDOUT
  std::string ids_path;     // the `ids` option's server file, or empty
  std::string name;         // for messages: the file as the statement named it, or "STDIN"/"STDOUT"
  bool vectors_only = false;  // npy, fvecs

  // An error after some batches committed says how many rows made it in.
  Status Fail(const Status& st, uint64_t committed) const {
    return Status::InvalidArgument(fmt::format("{} ({} rows committed before the error)",
                                               st.message(), committed))
        .WithPosition(pos.line, pos.column);
  }
};

Result<ResultSet> Session::Impl::Copy(const query::Copy& s, const query::Position& pos) {
  CopyJob job{&s, pos, {}, {}, {}, {}, {}, false};
  MRLDB_ASSIGN_OR_RETURN(job.spec, Spec(s.collection, s.collection_pos));
  MRLDB_ASSIGN_OR_RETURN(job.c, ParseCopyOptions(s.options, s.from));
  const std::string_view what = s.from ? "COPY FROM" : "COPY TO";
  if (s.stdio) {
    // The data travels over the wire: files named in options would be the server's, so they
    // have no place here (a client reads or writes its own files).
    const std::string_view where = s.from ? "FROM STDIN" : "TO STDOUT";
    if (options_.copy_channel == nullptr) {
      return Status::NotSupported(fmt::format(
                 "COPY {} needs a client that {} the data (the shell's \\copy, the clients' "
                 "CopyFrom/CopyTo, copy_from/copy_to); this session has none",
                 where, s.from ? "sends" : "receives"))
          .WithPosition(pos.line, pos.column);
    }
    if (!job.c.format) {
      return ErrorAt(pos, fmt::format("COPY {} needs WITH (format 'npy|fvecs|csv|jsonl'): there "
                                      "is no file name to tell it by", where));
    }
    if (!job.c.ids.empty() || job.c.overwrite) {
      return ErrorAt(pos, fmt::format("COPY {} takes no {}: {}", where,
                                      job.c.ids.empty() ? "overwrite" : "ids file",
                                      job.c.ids.empty()
                                          ? "the client writes its own file"
                                          : "the ids of npy and fvecs travel over the wire too "
                                            "(docs/protocol.md, COPY)"));
    }
    job.name = s.from ? "STDIN" : "STDOUT";
  } else {
    MRLDB_ASSIGN_OR_RETURN(job.path, CopyPath(s.path, what, !s.from, pos));
    if (!job.c.ids.empty()) {
      MRLDB_ASSIGN_OR_RETURN(job.ids_path, CopyPath(job.c.ids, what, !s.from, pos));
    }
    if (!job.c.format) {
      auto f = formats::FormatFromPath(job.path);
      if (!f.ok()) return ErrorAt(pos, f.status().message() + " (or give WITH (format ...))");
      job.c.format = *f;
    }
    job.name = s.path;
  }
  job.vectors_only = *job.c.format == formats::Format::kNpy || *job.c.format == formats::Format::kFvecs;
  return s.from ? CopyIn(job) : CopyOut(job);
}

namespace {

// COPY FROM STDIN's ids part (npy, fvecs), which comes first and is held in memory: the ids
// reader counts the ids before the first row, so that a count that differs fails before
// anything is imported.
Result<std::string> ReadIdsPart(CopyChannel* channel, size_t max_bytes) {
  constexpr size_t kPiece = size_t{1} << 20;
  std::string ids;
  for (;;) {
    const size_t at = ids.size();
    ids.resize(at + kPiece);
    MRLDB_ASSIGN_OR_RETURN(const size_t n, channel->Read(CopyPart::kIds, ids.data() + at, kPiece));
    ids.resize(at + n);
    if (n == 0) return ids;
    if (ids.size() > max_bytes) {
      return Status::InvalidArgument(fmt::format(
          "the ids of COPY FROM STDIN take more than {} bytes, the most this server holds: split "
          "the COPY, or send csv or jsonl, which carry each row's id", max_bytes));
    }
  }
}

}  // namespace

// The reader of a COPY FROM: the file, or (STDIN) the channel's data part.
Result<std::unique_ptr<formats::VectorReader>> Session::Impl::CopyReader(const CopyJob& job) {
  const CopyOptions& c = job.c;
  const CollectionSpec& spec = job.spec;
  CopyChannel* channel = job.path.empty() ? options_.copy_channel : nullptr;
  formats::ReadOptions ro;
  ro.format = c.format;
  ro.dim = spec.dim;
  ro.id_type = spec.id_type;
  if (channel != nullptr) {
    MRLDB_RETURN_IF_ERROR(channel->BeginIn(formats::FormatName(*c.format), job.vectors_only));
  }
  if (job.vectors_only && channel != nullptr) {
    MRLDB_ASSIGN_OR_RETURN(ro.ids_data, ReadIdsPart(channel, options_.max_copy_ids_bytes));
  } else if (job.vectors_only) {
    ro.ids_path = job.ids_path.empty() ? formats::DefaultIdsPath(job.path) : job.ids_path;
    // A missing vectors file is reported as such (by the reader), not as a missing ids file.
    if (job.ids_path.empty() && std::filesystem::exists(job.path) &&
        !std::filesystem::exists(ro.ids_path)) {
      return Status::InvalidArgument(fmt::format(
          "{} files hold vectors only: give the ids with WITH (ids 'file') (looked for '{}')",
          formats::FormatName(*c.format), ro.ids_path));
    }
  } else {
    ro.id_field = spec.id_column;
    ro.vector_field = spec.vector_column;
    ro.attributes = spec.attributes;
    ro.ignore_unknown_fields = c.ignore_unknown;
    if (c.header) ro.header = *c.header;
    if (c.delimiter) ro.delimiter = *c.delimiter;
  }
  if (channel == nullptr) return formats::VectorReader::Open(job.path, ro);
  return formats::VectorReader::OpenStream(
      job.name, [channel](char* dst, size_t n) { return channel->Read(CopyPart::kData, dst, n); },
      ro);
}

Result<ResultSet> Session::Impl::CopyIn(const CopyJob& job) {
  const CopyOptions& c = job.c;
  const CollectionSpec& spec = job.spec;
  const query::Position& pos = job.pos;
  uint64_t committed = 0, read = 0, skipped = 0;
  // A CANCEL comes as the session's flag, or (STDIN) as the channel's error.
  const auto cancelled = [&] {
    return Status::Cancelled(fmt::format("COPY cancelled after {} rows", committed));
  };
  auto reader = CopyReader(job);
  if (!reader.ok()) {
    if (reader.status().code() == Status::Code::kCancelled) return cancelled();
    return reader.status().WithPosition(pos.line, pos.column);
  }
  const size_t batch_rows = c.batch_rows ? c.batch_rows : options_.copy_batch_rows;
  formats::Batch batch;
  InsertBatch insert;
  for (;;) {
    if (cancel_) return cancelled();
    auto more = (*reader)->Next(&batch, batch_rows);
    if (!more.ok() && more.status().code() == Status::Code::kCancelled) return cancelled();
    if (!more.ok()) return job.Fail(more.status(), committed);
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
      return job.Fail(Status::InvalidArgument(fmt::format("rows {}..{} of '{}': {}", read + 1,
                                                          read + batch.rows(), job.name,
                                                          st.message())),
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

Result<ResultSet> Session::Impl::CopyOut(const CopyJob& job) {
  const CopyOptions& c = job.c;
  const CollectionSpec& spec = job.spec;
  formats::WriteOptions wo;
  wo.format = c.format;
  wo.dim = spec.dim;
  wo.overwrite = c.overwrite;
  if (job.vectors_only && !job.path.empty()) {
    wo.ids_path = job.ids_path.empty() ? formats::DefaultIdsPath(job.path) : job.ids_path;
  } else if (!job.vectors_only) {
    wo.id_field = spec.id_column;
    wo.vector_field = spec.vector_column;
    wo.attributes = spec.attributes;
    if (c.header) wo.header = *c.header;
    if (c.delimiter) wo.delimiter = *c.delimiter;
  }
  MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db_->DescribeCollection(spec.name));
  Result<std::unique_ptr<formats::VectorWriter>> writer = Status::Ok();
  if (job.path.empty()) {
    CopyChannel* channel = options_.copy_channel;
    // npy's header holds the row count, and a stream cannot be rewritten at the end.
    if (*c.format == formats::Format::kNpy) wo.rows = info.live_rows;
    MRLDB_RETURN_IF_ERROR(channel->BeginOut(formats::FormatName(*c.format), job.vectors_only));
    const auto part = [channel](CopyPart p) -> formats::StreamWrite {
      return [channel, p](std::string_view bytes) { return channel->Write(p, bytes); };
    };
    writer = formats::VectorWriter::CreateStream(job.name, part(CopyPart::kData),
                                                 job.vectors_only ? part(CopyPart::kIds) : nullptr, wo);
  } else {
    writer = formats::VectorWriter::Create(job.path, wo);
  }
  if (!writer.ok()) return writer.status().WithPosition(job.pos.line, job.pos.column);
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
      batch.Append(r.id, r.vector, job.vectors_only ? std::vector<Value>{} : std::move(r.attributes));
    }
    if (Status st = (*writer)->Write(batch); !st.ok()) {
      // (TO STDOUT: a CANCEL also comes as the channel's error.)
      if (st.code() == Status::Code::kCancelled) {
        return Status::Cancelled(fmt::format("COPY cancelled after {} rows", written));
      }
      return st;
    }
    written += rows.size();
    if (options_.progress && !options_.progress({written, info.live_rows})) {
      return Status::InvalidArgument(fmt::format("COPY stopped after {} rows", written));
    }
  }
  if (Status st = (*writer)->Finish(); !st.ok()) {
    if (wo.rows && written != *wo.rows) {
      return Status::InvalidArgument(fmt::format("{}: the collection changed while it was exported ({} rows "
                                         "at the start, {} exported); run the COPY again",
                                         job.name, *wo.rows, written));
    }
    return st;
  }
  return ResultSet{{}, {}, fmt::format("COPY {}", written), written};
}

}  // namespace mrldb
