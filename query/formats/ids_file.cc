#include "query/formats/ids_file.h"

#include <iterator>

#include <fmt/format.h>

#include "query/formats/convert.h"

namespace mrldb::formats {

Result<std::unique_ptr<IdsFileReader>> IdsFileReader::Open(const std::string& path,
                                                           IdType type) {
  MRLDB_ASSIGN_OR_RETURN(auto file, InputFile::Open(path));
  std::unique_ptr<IdsFileReader> r(new IdsFileReader(std::move(file), type));
  // A first pass checks every line and counts them, so that a bad id or a count that differs
  // from the vector file's is found before any row is imported.
  while (true) {
    if (!r->file_->ReadLine(&r->line_)) break;
    auto key = KeyFromText(r->line_, type);
    if (!key.ok()) {
      return DataError(path, fmt::format("line {}: {}", r->count_ + 1, key.status().message()));
    }
    ++r->count_;
  }
  MRLDB_RETURN_IF_ERROR(r->file_->status());
  MRLDB_RETURN_IF_ERROR(r->file_->Seek(0));
  return r;
}

Status IdsFileReader::Read(size_t n, std::vector<Key>* out) {
  for (size_t i = 0; i < n; ++i) {
    if (!file_->ReadLine(&line_)) {
      MRLDB_RETURN_IF_ERROR(file_->status());
      return DataError(path(), fmt::format("has {} ids, fewer than the rows of the vector file",
                                           read_));
    }
    auto key = KeyFromText(line_, type_);
    if (!key.ok()) {  // the file changed since Open
      return DataError(path(), fmt::format("line {}: {}", read_ + 1, key.status().message()));
    }
    out->push_back(std::move(key).value());
    ++read_;
  }
  return Status::Ok();
}

Result<std::unique_ptr<IdsFileWriter>> IdsFileWriter::Create(const std::string& path,
                                                             bool overwrite) {
  MRLDB_ASSIGN_OR_RETURN(auto file, OutputFile::Create(path, overwrite));
  return std::unique_ptr<IdsFileWriter>(new IdsFileWriter(std::move(file)));
}

Status IdsFileWriter::Write(const std::vector<Key>& ids, uint64_t first_row) {
  std::string& out = file_->buffer();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (const auto* text = std::get_if<std::string>(&ids[i])) {
      if (text->empty() || text->find_first_of("\r\n") != std::string::npos) {
        return Status::InvalidArgument(fmt::format(
            "{}: row {}: id {} cannot be written to an ids file (one id per line): it is empty "
            "or holds a line break", file_->path(), first_row + i, KeyToString(ids[i])));
      }
      out.append(*text);
    } else {
      fmt::format_to(std::back_inserter(out), "{}", std::get<int64_t>(ids[i]));
    }
    out.push_back('\n');
    MRLDB_RETURN_IF_ERROR(file_->MaybeFlush());
  }
  return Status::Ok();
}

}  // namespace mrldb::formats
