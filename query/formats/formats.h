// mrldb::formats: the files COPY reads and writes, as streaming readers and writers.
//
//   npy    NumPy .npy, 2-D C-order float32 ('<f4', '>f4', '=f4'), float16 ('<f2', '>f2', '=f2',
//          widened to float32) or float64 ('<f8', '>f8', '=f8', narrowed to float32: a value
//          beyond float32's range is an error), format versions 1.0, 2.0 and 3.0. Vectors only; ids optionally
//          from a separate ids file (one per line).
//   fvecs  The ANN-benchmark format: per record an int32 little-endian dimension d, then d float32
//          values. Vectors only; ids as for npy.
//   csv    RFC 4180 text with a header row: the id column, the vector (as a JSON-style array
//          "[0.1, 0.2]" in one field, or spread over columns <vector>_0 .. <vector>_{D-1}) and
//          attribute columns by name.
//   jsonl  One JSON object per line: {"id": 7, "embedding": [0.1, 0.2], "title": "x", "y": null}.
//
// A reader streams the file in batches of at most `max_rows` rows, so a file of any size is read
// in bounded memory. A writer appends batches and completes the file in Finish(). Readers and
// writers also work on streams instead of files (COPY ... FROM STDIN / TO STDOUT: the bytes
// travel over the wire): see VectorReader::OpenStream and VectorWriter::CreateStream.
//
// Values. Vectors: float32, every row of one dimension (1..65536); NaN and Inf are errors, a
// number too small for float32 becomes 0 and one too large is an error. Attributes are converted
// to their ColumnDef type:
//   csv    an empty unquoted field is NULL; a quoted empty field ("") is the empty TEXT value
//          (NULL for the other types). INT: a decimal int64; FLOAT: a finite decimal number;
//          BOOL: true/false/t/f/1/0 (any case); these three ignore spaces around the value.
//          TEXT: the field as it is.
//   jsonl  null or a missing field is NULL. INT: an integer number (no fraction or exponent);
//          FLOAT: any number; BOOL: true/false; TEXT: a string. Anything else is an error.
//
// Error messages name the file and where in it the problem is: "f.csv: line 7, column 'year':
// expected INT, got 'abc'", "f.jsonl: line 3, byte 17: expected ',' or '}'", "f.fvecs: record
// 12 (0-based) has dimension 7, record 0 has 8". Lines and bytes are 1-based, binary records and
// rows 0-based (as NumPy indexes them). The codes: IOError (open, read or write failed),
// AlreadyExists (a writer's target exists), InvalidArgument (everything wrong with the options
// or the data).
//
// Thread safety: a reader or writer is used by one thread at a time; distinct objects are
// independent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb::formats {

class IdsFileReader;  // internal (ids_file.h)
class IdsFileWriter;
class InputFile;      // internal (io.h)
class OutputFile;

enum class Format : uint8_t { kNpy = 1, kFvecs = 2, kCsv = 3, kJsonl = 4 };

// A stream a reader takes instead of a file: fills up to n bytes of dst and returns how many, 0
// only at the end of the stream. An error ends the read; the reader returns it as it is.
using StreamRead = std::function<Result<size_t>(char* dst, size_t n)>;
// Where a writer's bytes go instead of a file, about 1 MiB at a time. An error ends the write.
using StreamWrite = std::function<Status(std::string_view bytes)>;

std::string_view FormatName(Format format);  // "npy", "fvecs", "csv", "jsonl"
// Case-insensitive: npy, fvecs, csv, jsonl (also "ndjson"). InvalidArgument listing the formats.
Result<Format> ParseFormat(std::string_view name);
// By extension: .npy, .fvecs, .csv, .jsonl, .ndjson (case-insensitive). InvalidArgument naming
// the file otherwise.
Result<Format> FormatFromPath(const std::string& path);
// Where the ids of a vectors-only file go by default: "<path without extension>.ids.txt".
std::string DefaultIdsPath(const std::string& vectors_path);

// Rows of one dimension: ids, vectors and attribute values, row i of each belonging together.
struct Batch {
  uint32_t dim = 0;
  // One per row, or empty when the rows carry no ids (a reader's has_ids() is false).
  std::vector<Key> ids;
  // Row-major rows() x dim float32 values.
  std::vector<float> vectors;
  // A reader's batches: one entry per row, each with attribute_names().size() values (NULL
  // where the row has none); empty when attribute_names() is (always for npy and fvecs).
  // A writer's: the same, or an empty list or entry for all NULL.
  std::vector<std::vector<Value>> attributes;

  size_t rows() const { return dim == 0 ? 0 : vectors.size() / dim; }
  std::span<const float> vector(size_t row) const {
    return {vectors.data() + row * dim, dim};
  }
  // Removes all rows; keeps dim and the capacity.
  void Clear();
  // Appends a row. REQUIRES: vector.size() == dim.
  void Append(Key id, std::span<const float> vector, std::vector<Value> attributes = {});
};

struct ReadOptions {
  // The file's format. Unset: from the extension (FormatFromPath).
  std::optional<Format> format;
  // Expected dimension, 1..65536; a file of another dimension is an error (naming the line or
  // record). 0: whatever the file has (csv/jsonl: the first row's).
  uint32_t dim = 0;
  // How ids are converted: BIGINT ids must be integers (csv, ids file: decimal text; jsonl: an
  // integer number); TEXT ids are taken as they are (jsonl: a string, or an integer number taken
  // as its decimal text).
  IdType id_type = IdType::kText;
  // npy/fvecs: a text file with one id per line ("\n" or "\r\n"), as many as the file has rows
  // (checked when the reader opens). Empty: the rows carry no ids. Must be empty for csv/jsonl.
  std::string ids_path;
  // npy/fvecs, instead of ids_path: the ids file's content, held in memory (COPY ... FROM STDIN
  // receives it before the vectors), text or a .npy array (told apart by NumPy's magic). Errors
  // name it "<name> ids" (see OpenStream).
  std::optional<std::string> ids_data;
  // csv/jsonl: the id column / field, required in every row. Empty: the file has no ids (a column
  // or field of any name other than vector_field and the attributes is then unknown).
  std::string id_field = "id";
  // csv/jsonl: the vector column / field. Non-empty.
  std::string vector_field = "embedding";
  // csv/jsonl: the attribute columns that may appear, with their types (the collection's
  // columns, or those a COPY names). A row lacking one has NULL there. Names unique, non-empty and
  // distinct from id_field and vector_field. Must be empty for npy/fvecs.
  std::vector<ColumnDef> attributes;
  // csv/jsonl: a column or field that is none of the above is an error, unless this is set (then
  // it is skipped).
  bool ignore_unknown_fields = false;
  // csv: the field delimiter; not '"', '\r' or '\n'.
  char delimiter = ',';
  // csv: whether the first row names the columns.
  bool header = true;
  // csv: the file's columns, in order (names as in a header: id_field, vector_field or
  // <vector_field>_0.., attributes). With header = false this is required (and names them);
  // with header = true the header row must match it exactly. Must be empty for other formats.
  std::vector<std::string> columns;
};

// Reads a vector file batch by batch.
//
// Usage:
//   MRLDB_ASSIGN_OR_RETURN(auto reader, VectorReader::Open(path, options));
//   Batch batch;
//   while (true) {
//     MRLDB_ASSIGN_OR_RETURN(bool more, reader->Next(&batch, 10000));
//     if (!more) break;
//     ... batch.rows() rows ...
//   }
class VectorReader {
 public:
  // Opens `path` and reads the header (npy), checks the size (npy, fvecs), the ids file (count,
  // and for BIGINT every line), the header row (csv) and the first row (csv, jsonl: so dim() is
  // known). Errors: IOError when a file cannot be opened or read; InvalidArgument for bad options
  // (naming the option) or bad data (naming the file and the place).
  static Result<std::unique_ptr<VectorReader>> Open(const std::string& path,
                                                    const ReadOptions& options);
  // The same for a stream, whose name ("STDIN") stands for the path in errors. options.format
  // is required. A stream has no size, so what Open finds from a file's size is found while
  // reading: an npy stream shorter or longer than its header's shape, a truncated or ragged
  // fvecs record, fail the batch they are in (total_rows(): npy only).
  static Result<std::unique_ptr<VectorReader>> OpenStream(const std::string& name, StreamRead read,
                                                          const ReadOptions& options);
  virtual ~VectorReader();
  VectorReader(const VectorReader&) = delete;
  VectorReader& operator=(const VectorReader&) = delete;

  // Replaces *out's contents by the next 1..max_rows rows and returns true, or clears *out and
  // returns false at the end of the file. Rows come in file order; out->dim == dim(); ids and
  // attributes as documented at Batch. After an error (InvalidArgument naming the file and the
  // line, byte, row or record; IOError) *out is empty and the reader is finished: every later
  // call returns the same error. Rows returned before an error are good. max_rows 0 is an
  // InvalidArgument. REQUIRES: out != nullptr.
  Result<bool> Next(Batch* out, size_t max_rows);

  Format format() const { return format_; }
  const std::string& path() const { return path_; }
  // The vector dimension: from the header (npy), the first record (fvecs) or the first row
  // (csv/jsonl; for csv with a spread vector, the header). An fvecs/csv/jsonl file without rows
  // gives ReadOptions::dim, so possibly 0.
  uint32_t dim() const { return dim_; }
  // Whether batches carry ids (an ids file, or csv/jsonl with an id_field).
  bool has_ids() const { return has_ids_; }
  // The names of the values in each Batch::attributes entry, in order: ReadOptions::attributes'
  // names (empty for npy/fvecs).
  const std::vector<std::string>& attribute_names() const { return attribute_names_; }
  // Rows returned by Next so far.
  uint64_t rows_read() const { return rows_read_; }
  // The number of rows in the file when known without reading it (npy, fvecs); csv/jsonl: unset.
  std::optional<uint64_t> total_rows() const { return total_rows_; }
  // How the values were converted to float32, for the user ("float64 values narrowed to
  // float32"); empty when nothing was lost (float32, or float16 widened).
  const std::string& note() const { return note_; }

 protected:
  VectorReader(std::string path, Format format);
  // Appends up to max_rows rows to *out (dim already set) and returns how many; 0 = the end.
  // Ids: only when has_ids() and not supplied from an ids file.
  virtual Result<size_t> ReadRows(Batch* out, size_t max_rows) = 0;

  // Set by the format's reader before Open returns (has_ids_ also by Open, for an ids file).
  uint32_t dim_ = 0;
  bool has_ids_ = false;
  std::vector<std::string> attribute_names_;
  std::optional<uint64_t> total_rows_;
  std::string note_;

 private:
  // Open and OpenStream after their checks: the format's reader, then the ids.
  static Result<std::unique_ptr<VectorReader>> OpenInput(std::unique_ptr<InputFile> file,
                                                         Format format,
                                                         const ReadOptions& options);

  std::string path_;
  Format format_;
  uint64_t rows_read_ = 0;
  Status failed_;                       // sticky error
  std::unique_ptr<IdsFileReader> ids_;  // npy/fvecs ids file, or null
};

// Reads the whole file into one batch (for benchmarks and tests; COPY streams with Next).
Result<Batch> ReadAll(const std::string& path, const ReadOptions& options = {});

struct WriteOptions {
  // The file's format. Unset: from the extension.
  std::optional<Format> format;
  // The vector dimension, 1..65536. Required: every batch must have this dim.
  uint32_t dim = 0;
  // csv/jsonl: the id column / field, written first. Empty: no ids are written (batches may then
  // lack them).
  std::string id_field = "id";
  // csv/jsonl: the vector column / field, written second. Non-empty.
  std::string vector_field = "embedding";
  // csv/jsonl: the attribute columns written after the vector, in the order of each
  // Batch::attributes entry; a value must be NULL or of its column's type. Names unique and
  // distinct from id_field and vector_field. Must be empty for npy/fvecs (they hold vectors only).
  std::vector<ColumnDef> attributes;
  // npy/fvecs: also write the ids, one per line, to this text file (see DefaultIdsPath). Empty:
  // ids are not written. Must be empty for csv/jsonl.
  std::string ids_path;
  // csv: the field delimiter (not '"', '\r' or '\n') and whether to write a header row.
  char delimiter = ',';
  bool header = true;
  // Whether existing files may be replaced. Default: AlreadyExists if one exists.
  bool overwrite = false;
  // npy to a stream (CreateStream): the number of rows that will be written, for the header,
  // which a stream cannot rewrite at the end; Finish fails when another number was written.
  // Required there, ignored otherwise.
  std::optional<uint64_t> rows;
};

// Writes a vector file batch by batch:
//   npy    version 1.0, '<f4', C order, shape (rows, dim) (the header is completed by Finish).
//   fvecs  int32 dim + dim float32 per row.
//   csv    a header row (unless header = false), then per row: id, the vector as "[x0,x1,...]"
//          (quoted when the delimiter is ','), attributes; NULL as an empty field, the empty TEXT
//          value as "", fields quoted (quotes doubled) when they need it; "\n" line ends.
//   jsonl  {"id": 7, "embedding": [x0,x1], "title": "x", "year": null}: every attribute, NULL as
//          null; strings escaped (control characters as \uXXXX, UTF-8 kept).
// Floats are written in their shortest round-trip decimal form (std::to_chars), so reading a file
// back gives the same bits; BIGINT ids are written as integers, TEXT ids as text (JSON strings).
//
// The files are written to "<path>.partial" and renamed into place by Finish(): they exist only
// once complete, an existing file is replaced (overwrite) only by a complete one, and a writer
// destroyed before Finish() succeeded removes its partial files, so a failed COPY TO leaves
// nothing half-written behind.
class VectorWriter {
 public:
  // Creates `path` (and ids_path when set). Errors: InvalidArgument (bad options), AlreadyExists
  // (a target exists and overwrite is false), IOError (cannot create).
  static Result<std::unique_ptr<VectorWriter>> Create(const std::string& path,
                                                      const WriteOptions& options);
  // The same to streams: the file's bytes go to `data` and, for npy/fvecs, the ids (text, one
  // per line) to `ids` when set (options.ids_path must be empty and overwrite is moot).
  // `name` stands for the path in errors. options.format is required.
  static Result<std::unique_ptr<VectorWriter>> CreateStream(const std::string& name,
                                                            StreamWrite data, StreamWrite ids,
                                                            const WriteOptions& options);
  virtual ~VectorWriter();
  VectorWriter(const VectorWriter&) = delete;
  VectorWriter& operator=(const VectorWriter&) = delete;

  // Appends the batch's rows. Errors: InvalidArgument naming the file and the row (0-based over
  // all rows written) for a wrong dim, missing ids, an empty TEXT id, a TEXT id with a line break
  // (ids file), NaN/Inf (the readers reject them) or an attribute of the wrong type; IOError.
  // After an error the writer is finished: later calls return the same error.
  Status Write(const Batch& batch);
  // Completes the header (npy: the row count), flushes, syncs and closes the files and moves
  // them into place. Errors: IOError; AlreadyExists when a target appeared since Create (without
  // overwrite); the sticky error of a failed Write; InvalidArgument when called twice.
  Status Finish();

  Format format() const { return format_; }
  uint64_t rows_written() const { return rows_written_; }

 protected:
  VectorWriter(Format format, const WriteOptions& options);
  // Writes the rows of a batch already checked against the options (dim, ids, attribute types).
  virtual Status WriteRows(const Batch& batch) = 0;
  // Completes, closes and commits the file (see OutputFile); the ids file is done by Finish().
  // A file not committed is removed when the writer is destroyed.
  virtual Status FinishFile() = 0;

  const WriteOptions options_;

 private:
  // Create and CreateStream after their checks: the format's writer, and the ids (or null).
  static Result<std::unique_ptr<VectorWriter>> CreateOutput(std::unique_ptr<OutputFile> file,
                                                            std::unique_ptr<OutputFile> ids,
                                                            Format format,
                                                            const WriteOptions& options);
  Status CheckBatch(const Batch& batch) const;

  std::string path_;
  Format format_;
  uint64_t rows_written_ = 0;
  bool finished_ = false;
  Status failed_;
  std::unique_ptr<IdsFileWriter> ids_;  // npy/fvecs ids file, or null
};

}  // namespace mrldb::formats
