// .fvecs (the ANN benchmarks' format): per record an int32 little-endian dimension d, then d
// float32 values; every record has the same d.
#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "query/formats/internal.h"

namespace mrldb::formats {
namespace {

class FvecsReader final : public VectorReader {
 public:
  // `rows`: from the file's size; unset for a stream, whose first record's dimension has been
  // read (Open needs it) and whose records are then checked one by one.
  FvecsReader(std::unique_ptr<InputFile> file, uint32_t dim, std::optional<uint64_t> rows)
      : VectorReader(file->path(), Format::kFvecs), file_(std::move(file)), rows_(rows),
        dim_read_(!rows) {
    dim_ = dim;
    total_rows_ = rows;
  }

 protected:
  Result<size_t> ReadRows(Batch* out, size_t max_rows) override {
    if (!rows_) return ReadStream(out, max_rows);
    const size_t k = static_cast<size_t>(std::min<uint64_t>(max_rows, *rows_ - row_));
    if (k == 0) return size_t{0};
    const size_t record = 4 + 4 * size_t{dim_};
    const size_t first = out->vectors.size();
    out->vectors.resize(first + k * dim_);
    float* dst = out->vectors.data() + first;
    // Records are read a few MiB at a time, then checked and copied.
    const size_t slice = std::max<size_t>(1, (4 << 20) / record);
    for (size_t done = 0; done < k;) {
      const size_t c = std::min(slice, k - done);
      buffer_.resize(c * record);
      if (file_->Read(buffer_.data(), buffer_.size()) != buffer_.size()) {
        MRLDB_RETURN_IF_ERROR(file_->status());
        return DataError(path(), "truncated (the file shrank while being read)");
      }
      for (size_t i = 0; i < c; ++i, ++done) {
        const char* rec = buffer_.data() + i * record;
        int32_t d = 0;
        std::memcpy(&d, rec, 4);
        if (d != static_cast<int32_t>(dim_)) {
          return DataError(path(), fmt::format("ragged .fvecs: record {} (0-based) has "
                                               "dimension {}, record 0 has {}", row_ + done, d,
                                               dim_));
        }
        float* row = dst + done * dim_;
        std::memcpy(row, rec + 4, 4 * size_t{dim_});
        for (uint32_t j = 0; j < dim_; ++j) {
          if (!std::isfinite(row[j])) {
            return DataError(path(), fmt::format("record {} (0-based), element {}: {} is not "
                                                 "allowed", row_ + done, j, row[j]));
          }
        }
      }
    }
    row_ += k;
    return k;
  }

 private:
  Result<size_t> ReadStream(Batch* out, size_t max_rows) {
    size_t n = 0;
    const size_t bytes = 4 * size_t{dim_};
    for (; n < max_rows; ++n, ++row_) {
      int32_t d = static_cast<int32_t>(dim_);
      if (!dim_read_) {
        const size_t got = file_->Read(&d, 4);
        MRLDB_RETURN_IF_ERROR(file_->status());
        if (got == 0) break;
        if (got < 4) {
          return DataError(path(), fmt::format("truncated: record {} (0-based) has {} of its {} "
                                               "bytes", row_, got, 4 + bytes));
        }
      }
      dim_read_ = false;
      if (d != static_cast<int32_t>(dim_)) {
        return DataError(path(), fmt::format("ragged .fvecs: record {} (0-based) has dimension "
                                             "{}, record 0 has {}", row_, d, dim_));
      }
      const size_t first = out->vectors.size();
      out->vectors.resize(first + dim_);
      float* row = out->vectors.data() + first;
      if (const size_t got = file_->Read(row, bytes); got != bytes) {
        MRLDB_RETURN_IF_ERROR(file_->status());
        return DataError(path(), fmt::format("truncated: record {} (0-based) has {} of its {} "
                                             "bytes", row_, 4 + got, 4 + bytes));
      }
      for (uint32_t j = 0; j < dim_; ++j) {
        if (!std::isfinite(row[j])) {
          return DataError(path(), fmt::format("record {} (0-based), element {}: {} is not "
                                               "allowed", row_, j, row[j]));
        }
      }
    }
    return n;
  }

  std::unique_ptr<InputFile> file_;
  std::optional<uint64_t> rows_;
  uint64_t row_ = 0;
  bool dim_read_;  // a stream: the next record's dimension was read already
  std::vector<char> buffer_;
};

// Why a file whose size is not a whole number of records is bad: the first record with another
// dimension, or the truncated last one.
Status FindBadRecord(InputFile* file, int32_t d0) {
  const uint64_t record = 4 + 4 * static_cast<uint64_t>(d0), size = *file->size();
  for (uint64_t i = 0, at = 0; at < size; ++i, at += record) {
    int32_t d = d0;
    MRLDB_RETURN_IF_ERROR(file->Seek(at));
    if (at + 4 <= size && file->Read(&d, 4) != 4) MRLDB_RETURN_IF_ERROR(file->status());
    if (d != d0) {
      return DataError(file->path(), fmt::format("ragged .fvecs: record {} (0-based) has "
                                                 "dimension {}, record 0 has {}", i, d, d0));
    }
    if (at + record > size) {
      return DataError(file->path(), fmt::format("truncated: record {} (0-based) has {} of its "
                                                 "{} bytes", i, size - at, record));
    }
  }
  return Status::Internal(fmt::format("{}: no bad record found", file->path()));
}

}  // namespace

Result<std::unique_ptr<VectorReader>> OpenFvecsReader(std::unique_ptr<InputFile> file,
                                                      const ReadOptions& options) {
  const std::optional<uint64_t> size = file->size();
  int32_t d0 = 0;
  const size_t got = size == 0 ? 0 : file->Read(&d0, 4);
  MRLDB_RETURN_IF_ERROR(file->status());
  if (got == 0) {
    return std::unique_ptr<VectorReader>(new FvecsReader(std::move(file), options.dim, 0));
  }
  if (got < 4) return DataError(file->path(), "truncated: record 0 has no complete dimension");
  if (d0 <= 0 || static_cast<uint32_t>(d0) > kMaxDim) {
    return DataError(file->path(), fmt::format("record 0 has dimension {}, not in 1..{} (not an "
                                               ".fvecs file?)", d0, kMaxDim));
  }
  if (options.dim != 0 && static_cast<uint32_t>(d0) != options.dim) {
    return DataError(file->path(), fmt::format("vectors have dim {}, expected {}", d0,
                                               options.dim));
  }
  if (!size) {
    return std::unique_ptr<VectorReader>(
        new FvecsReader(std::move(file), static_cast<uint32_t>(d0), std::nullopt));
  }
  const uint64_t record = 4 + 4 * static_cast<uint64_t>(d0);
  if (*size % record != 0) return FindBadRecord(file.get(), d0);
  MRLDB_RETURN_IF_ERROR(file->Seek(0));
  return std::unique_ptr<VectorReader>(
      new FvecsReader(std::move(file), static_cast<uint32_t>(d0), *size / record));
}

// ---- Writer -------------------------------------------------------------------------------------

namespace {

class FvecsWriter final : public VectorWriter {
 public:
  FvecsWriter(const WriteOptions& options, std::unique_ptr<OutputFile> file)
      : VectorWriter(Format::kFvecs, options), file_(std::move(file)) {}

 protected:
  Status WriteRows(const Batch& batch) override {
    const int32_t d = static_cast<int32_t>(options_.dim);
    for (size_t i = 0; i < batch.rows(); ++i) {
      MRLDB_RETURN_IF_ERROR(file_->Append(&d, 4));
      MRLDB_RETURN_IF_ERROR(file_->Append(batch.vector(i).data(), 4 * size_t{options_.dim}));
    }
    return Status::Ok();
  }
  Status FinishFile() override {
    MRLDB_RETURN_IF_ERROR(file_->Close());
    return file_->Commit();
  }

 private:
  std::unique_ptr<OutputFile> file_;
};

}  // namespace

Result<std::unique_ptr<VectorWriter>> CreateFvecsWriter(std::unique_ptr<OutputFile> file,
                                                        const WriteOptions& options) {
  return std::unique_ptr<VectorWriter>(new FvecsWriter(options, std::move(file)));
}

}  // namespace mrldb::formats
