// Internal to mrldb::formats: the ids file that goes with a vectors-only file (npy, fvecs), row i's
// id at position i. Either text, one id per line ("\n" or "\r\n" line ends), or, for a name
// ending in .npy, a 1-D (or (n, 1)) C-order NumPy array of int64 ('<i8'), int32 ('<i4') or
// unicode strings ('<U<n>', UTF-32, NUL-padded: np.array(["a", "b"]).astype(str)). An integer
// becomes its decimal text for TEXT ids; a string must be an integer for BIGINT ids.
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
  // Opens `path` and checks every id: non-empty, and for BIGINT a decimal int64 (spaces around
  // it ignored; a TEXT id is the whole line or string). Errors: IOError; InvalidArgument naming
  // the line (text) or the 0-based element (npy), or the npy dtype or shape.
  static Result<std::unique_ptr<IdsFileReader>> Open(const std::string& path, IdType type);
  // The same for an ids file's content held in memory; a .npy array is told by its magic.
  // `name` stands for the path in errors.
  static Result<std::unique_ptr<IdsFileReader>> FromMemory(const std::string& name,
                                                           std::string data, IdType type);

  const std::string& path() const { return file_->path(); }
  // The number of ids (lines or array elements) in the file.
  uint64_t count() const { return count_; }
  // Ids read so far.
  uint64_t read() const { return read_; }
  // Appends the next n ids to *out. Errors: fewer than n left (InvalidArgument); IOError.
  Status Read(size_t n, std::vector<Key>* out);

 private:
  IdsFileReader(std::unique_ptr<InputFile> file, IdType type) : file_(std::move(file)), type_(type) {}
  // Both openings after the file is there: reads an npy header, then checks and counts the ids.
  static Result<std::unique_ptr<IdsFileReader>> Check(std::unique_ptr<InputFile> file, IdType type,
                                                      bool npy);
  // npy: reads the header and sets the element layout; Open then checks the elements.
  Status OpenNpy();
  // The next id: a line, or an npy element. False at the end; IOError/InvalidArgument.
  Result<bool> Next(Key* out);

  std::unique_ptr<InputFile> file_;
  IdType type_;
  uint64_t count_ = 0, read_ = 0;
  std::string line_;
  // npy: 'i' (integers) or 'U' (UTF-32 strings), the element size in bytes, where data starts.
  char npy_kind_ = 0;
  size_t npy_size_ = 0;
  uint64_t npy_offset_ = 0;
  std::string element_;
};

class IdsFileWriter {
 public:
  explicit IdsFileWriter(std::unique_ptr<OutputFile> file) : file_(std::move(file)) {}

  // Writes one line per id. `first_row` is the row number of ids[0], for errors: an empty TEXT id
  // or one containing "\r" or "\n" cannot be written (InvalidArgument naming the row).
  Status Write(const std::vector<Key>& ids, uint64_t first_row);
  Status Close() { return file_->Close(); }
  Status Commit() { return file_->Commit(); }

 private:
  std::unique_ptr<OutputFile> file_;
};

}  // namespace mrldb::formats
