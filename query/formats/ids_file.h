// Internal to mrldb::formats: the ids file that goes with a vectors-only file (npy, fvecs): one
// id per line, "\n" or "\r\n" line ends, line i holding the id of row i.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"
#include "query/formats/io.h"

namespace mrldb::formats {

class IdsFileReader {
 public:
  // Opens `path` and checks every line: non-empty, and for BIGINT a decimal int64 (spaces around
  // it ignored; a TEXT id is the whole line). Errors: IOError; InvalidArgument naming the line.
  static Result<std::unique_ptr<IdsFileReader>> Open(const std::string& path, IdType type);

  const std::string& path() const { return file_->path(); }
  // The number of ids (lines) in the file.
  uint64_t count() const { return count_; }
  // Ids read so far.
  uint64_t read() const { return read_; }
  // Appends the next n ids to *out. Errors: fewer than n left (InvalidArgument); IOError.
  Status Read(size_t n, std::vector<Key>* out);

 private:
  IdsFileReader(std::unique_ptr<InputFile> file, IdType type) : file_(std::move(file)), type_(type) {}
  Status ReadId(Key* out);

  std::unique_ptr<InputFile> file_;
  IdType type_;
  uint64_t count_ = 0, read_ = 0;
  std::string line_;
};

class IdsFileWriter {
 public:
  // Errors as OutputFile::Create.
  static Result<std::unique_ptr<IdsFileWriter>> Create(const std::string& path, bool overwrite);

  // Writes one line per id. `first_row` is the row number of ids[0], for errors: an empty TEXT id
  // or one containing "\r" or "\n" cannot be written (InvalidArgument naming the row).
  Status Write(const std::vector<Key>& ids, uint64_t first_row);
  Status Close() { return file_->Close(); }
  Status Commit() { return file_->Commit(); }

 private:
  explicit IdsFileWriter(std::unique_ptr<OutputFile> file) : file_(std::move(file)) {}
  std::unique_ptr<OutputFile> file_;
};

}  // namespace mrldb::formats
