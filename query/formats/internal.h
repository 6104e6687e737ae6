// Internal to mrldb::formats: the per-format readers and writers behind VectorReader::Open and
// VectorWriter::Create. Each takes options already checked by them (see formats.cc).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "query/formats/formats.h"
#include "query/formats/io.h"

namespace mrldb::formats {

// The per-format reader subclasses reach VectorReader's protected members through this.
Result<std::unique_ptr<VectorReader>> OpenNpyReader(std::unique_ptr<InputFile> file,
                                                    const ReadOptions& options);
Result<std::unique_ptr<VectorReader>> OpenFvecsReader(std::unique_ptr<InputFile> file,
                                                      const ReadOptions& options);
Result<std::unique_ptr<VectorReader>> OpenCsvReader(std::unique_ptr<InputFile> file,
                                                    const ReadOptions& options);
Result<std::unique_ptr<VectorReader>> OpenJsonlReader(std::unique_ptr<InputFile> file,
                                                      const ReadOptions& options);

Result<std::unique_ptr<VectorWriter>> CreateNpyWriter(std::unique_ptr<OutputFile> file,
                                                      const WriteOptions& options);
Result<std::unique_ptr<VectorWriter>> CreateFvecsWriter(std::unique_ptr<OutputFile> file,
                                                      const WriteOptions& options);
Result<std::unique_ptr<VectorWriter>> CreateCsvWriter(std::unique_ptr<OutputFile> file,
                                                      const WriteOptions& options);
Result<std::unique_ptr<VectorWriter>> CreateJsonlWriter(std::unique_ptr<OutputFile> file,
                                                      const WriteOptions& options);

// A text-format reader (csv, jsonl) that parses its first row while opening, so that dim() is
// known before the first Next(), and hands that row out first.
class LookaheadReader : public VectorReader {
 protected:
  using VectorReader::VectorReader;
  // Parses the first row; call at the end of the subclass's initialization.
  Status ReadFirstRow() {
    MRLDB_ASSIGN_OR_RETURN(const size_t n, ParseRows(&first_, 1));
    has_first_ = n == 1;
    return Status::Ok();
  }
  // Appends up to max_rows parsed rows to *out and returns how many (0 at the end).
  virtual Result<size_t> ParseRows(Batch* out, size_t max_rows) = 0;

  Result<size_t> ReadRows(Batch* out, size_t max_rows) final {
    size_t n = 0;
    if (has_first_) {
      has_first_ = false;
      out->vectors.insert(out->vectors.end(), first_.vectors.begin(), first_.vectors.end());
      for (Key& id : first_.ids) out->ids.push_back(std::move(id));
      out->attributes.push_back(std::move(first_.attributes[0]));
      first_ = Batch();
      n = 1;
    }
    MRLDB_ASSIGN_OR_RETURN(const size_t more, ParseRows(out, max_rows - n));
    return n + more;
  }

 private:
  Batch first_;
  bool has_first_ = false;
};

// A .npy file's header (see npy.cc): the dtype ('<f4', '<i8', '<U12' ...), the shape, and where
// the C-order data starts.
struct NpyHeader {
  std::string descr;
  bool fortran_order = false;
  std::vector<uint64_t> shape;
  uint64_t data_offset = 0;
};
// Reads the magic, version and header of a .npy file from its start, leaving `file` at the data.
// A Fortran-order array is refused. Errors: InvalidArgument naming the file; IOError.
Result<NpyHeader> ReadNpyHeader(InputFile* file);
// "(3,)", "(3, 4)": a shape as NumPy prints it.
std::string ShapeText(const std::vector<uint64_t>& shape);

// The largest vector dimension mrldb stores.
inline constexpr uint32_t kMaxDim = 65536;

}  // namespace mrldb::formats
