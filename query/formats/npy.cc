// NumPy .npy: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
// Layout: "\x93NUMPY", major and minor version bytes, the header length (uint16 little-endian
// for 1.0, uint32 for 2.0 and 3.0), the header (a Python dict literal, padded with spaces and a
// final '\n'), then the data.
#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <limits>
#include <cstring>
#include <optional>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "mrldb/insert_batch.h"
#include "query/formats/convert.h"
#include "query/formats/internal.h"

namespace mrldb::formats {
namespace {

static_assert(std::endian::native == std::endian::little, "mrldb::formats assumes little-endian");

// A parser of the header dict: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }.
class HeaderParser {
 public:
  explicit HeaderParser(std::string_view h) : h_(h) {}

  // On failure returns the reason.
  std::optional<std::string> Parse(NpyHeader* out) {
    bool descr = false, order = false, shape = false;
    if (!Consume('{')) return "does not start with '{'";
    while (!Consume('}')) {
      std::string key;
      if (!String(&key)) return "expected a quoted key";
      if (!Consume(':')) return fmt::format("expected ':' after '{}'", key);
      if (key == "descr") {
        if (!String(&out->descr)) {  // a structured dtype is a list
          return std::string("unsupported dtype: a structured dtype");
        }
        descr = true;
      } else if (key == "fortran_order") {
        if (Word("True")) {
          out->fortran_order = true;
        } else if (!Word("False")) {
          return "fortran_order is neither True nor False";
        }
        order = true;
      } else if (key == "shape") {
        if (!Tuple(&out->shape)) return "shape is not a tuple of integers";
        shape = true;
      } else {
        return fmt::format("unknown key '{}'", key);
      }
      if (!Consume(',') && !(Space(), Peek() == '}')) return "expected ',' or '}'";
    }
    Space();
    if (p_ != h_.size()) return "text after the closing '}'";
    if (!descr || !order || !shape) {
      return fmt::format("missing '{}'", !descr ? "descr" : !order ? "fortran_order" : "shape");
    }
    return std::nullopt;
  }

 private:
  void Space() {
    while (p_ < h_.size() && (h_[p_] == ' ' || h_[p_] == '\n' || h_[p_] == '\t')) ++p_;
  }
  char Peek() const { return p_ < h_.size() ? h_[p_] : '\0'; }
  bool Consume(char c) {
    Space();
    if (Peek() != c) return false;
    ++p_;
    return true;
  }
  bool Word(std::string_view w) {
    Space();
    if (h_.substr(p_, w.size()) != w) return false;
    p_ += w.size();
    return true;
  }
  bool String(std::string* out) {
    Space();
    const char q = Peek();
    if (q != '\'' && q != '"') return false;
    const size_t end = h_.find(q, p_ + 1);
    if (end == h_.npos) return false;
    *out = std::string(h_.substr(p_ + 1, end - p_ - 1));
    p_ = end + 1;
    return true;
  }
  bool Tuple(std::vector<uint64_t>* out) {
    if (!Consume('(')) return false;
    while (!Consume(')')) {
      Space();
      uint64_t v = 0;
      auto [end, ec] = std::from_chars(h_.data() + p_, h_.data() + h_.size(), v);
      if (ec != std::errc()) return false;
      p_ = end - h_.data();
      if (Peek() == 'L') ++p_;  // Python 2 longs
      out->push_back(v);
      if (!Consume(',') && !(Space(), Peek() == ')')) return false;
    }
    return true;
  }

  std::string_view h_;
  size_t p_ = 0;
};

}  // namespace

std::string ShapeText(const std::vector<uint64_t>& shape) {
  if (shape.size() == 1) return fmt::format("({},)", shape[0]);
  return fmt::format("({})", fmt::join(shape, ", "));
}

Result<NpyHeader> ReadNpyHeader(InputFile* file) {
  const std::string& path = file->path();
  unsigned char pre[12];
  if (file->Read(pre, 8) != 8 || std::memcmp(pre, "\x93NUMPY", 6) != 0) {
    MRLDB_RETURN_IF_ERROR(file->status());
    return DataError(path, "not a .npy file (wrong magic; expected \\x93NUMPY)");
  }
  if (!((pre[6] == 1 || pre[6] == 2 || pre[6] == 3) && pre[7] == 0)) {
    return DataError(path, fmt::format("unsupported .npy version {}.{} (need 1.0, 2.0 or 3.0)",
                                       pre[6], pre[7]));
  }
  const size_t len_bytes = pre[6] == 1 ? 2 : 4;
  if (file->Read(pre + 8, len_bytes) != len_bytes) return DataError(path, "truncated header");
  uint64_t header_len = 0;
  for (size_t i = len_bytes; i-- > 0;) header_len = header_len << 8 | pre[8 + i];
  const uint64_t offset = 8 + len_bytes + header_len;
  if (file->size() && offset > *file->size()) {
    return DataError(path, fmt::format("truncated header: {} bytes announced, the file has {}",
                                       header_len, *file->size() - 8 - len_bytes));
  }
  std::string h(header_len, '\0');
  if (file->Read(h.data(), header_len) != header_len) {
    MRLDB_RETURN_IF_ERROR(file->status());
    return DataError(path, "truncated header");
  }
  NpyHeader header;
  if (auto why = HeaderParser(h).Parse(&header)) {
    const std::string_view shown = Trim(h);
    return DataError(path, fmt::format("malformed .npy header ({}): {}", *why,
                                       shown.substr(0, std::min<size_t>(shown.size(), 200))));
  }
  if (header.fortran_order) {
    return DataError(path, "fortran_order is True: save a C-order array "
                           "(np.save(path, np.ascontiguousarray(x)))");
  }
  header.data_offset = offset;
  return header;
}

namespace {

class NpyReader final : public VectorReader {
 public:
  NpyReader(std::unique_ptr<InputFile> file, size_t element_size, bool big_endian)
      : VectorReader(file->path(), Format::kNpy),
        file_(std::move(file)),
        element_size_(element_size),
        big_endian_(big_endian) {}

  Status Init(uint64_t rows, uint32_t dim, std::string note) {
    rows_ = rows;
    dim_ = dim;
    note_ = std::move(note);
    total_rows_ = rows;
    return Status::Ok();
  }

 protected:
  Result<size_t> ReadRows(Batch* out, size_t max_rows) override {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(max_rows, rows_ - row_));
    if (k == 0) {
      // A file's size was checked against the shape when it opened; a stream's end is checked
      // here.
      if (!file_->size() && file_->Peek() >= 0) {
        return DataError(path(), fmt::format("unexpected bytes after the data: shape ({}, {}) "
                                             "ends at byte {}", rows_, dim_, file_->offset()));
      }
      MRLDB_RETURN_IF_ERROR(file_->status());
      return size_t{0};
    }
    const size_t count = k * dim_, first = out->vectors.size();
    out->vectors.resize(first + count);
    float* dst = out->vectors.data() + first;
    if (element_size_ == 4) {
      MRLDB_RETURN_IF_ERROR(ReadExactly(dst, count * 4));
      if (big_endian_) {
        auto* u = reinterpret_cast<uint32_t*>(dst);
        for (size_t i = 0; i < count; ++i) u[i] = __builtin_bswap32(u[i]);
      }
    } else if (element_size_ == 8) {
      wide_.resize(std::min<size_t>(count, 1 << 16));  // narrowed a slice at a time
      for (size_t done = 0; done < count;) {
        const size_t c = std::min(wide_.size(), count - done);
        MRLDB_RETURN_IF_ERROR(ReadExactly(wide_.data(), c * 8));
        for (size_t i = 0; i < c; ++i) {
          uint64_t bits;
          std::memcpy(&bits, &wide_[i], 8);
          if (big_endian_) bits = __builtin_bswap64(bits);
          double v;
          std::memcpy(&v, &bits, 8);
          if (std::isfinite(v) && std::fabs(v) > std::numeric_limits<float>::max()) {
            const size_t at = done + i;
            return DataError(path(), fmt::format("row {} (0-based), element {}: {} is out of "
                                                 "float32 range", row_ + at / dim_, at % dim_, v));
          }
          dst[done + i] = static_cast<float>(v);
        }
        done += c;
      }
    } else {
      half_.resize(std::min<size_t>(count, 1 << 16));  // widened a slice at a time
      for (size_t done = 0; done < count;) {
        const size_t c = std::min(half_.size(), count - done);
        MRLDB_RETURN_IF_ERROR(ReadExactly(half_.data(), c * 2));
        for (size_t i = 0; i < c; ++i) {
          dst[done + i] = HalfToFloat(big_endian_ ? __builtin_bswap16(half_[i]) : half_[i]);
        }
        done += c;
      }
    }
    for (size_t i = 0; i < count; ++i) {
      if (!std::isfinite(dst[i])) {
        return DataError(path(), fmt::format("row {} (0-based), element {}: {} is not allowed",
                                             row_ + i / dim_, i % dim_, dst[i]));
      }
    }
    row_ += k;
    return k;
  }

 private:
  Status ReadExactly(void* dst, size_t n) {
    if (file_->Read(dst, n) == n) return Status::Ok();
    MRLDB_RETURN_IF_ERROR(file_->status());
    if (!file_->size()) {
      return DataError(path(), fmt::format("truncated: shape ({}, {}) needs {} bytes of data "
                                           "after the header; the stream ended at byte {}",
                                           rows_, dim_, rows_ * dim_ * element_size_,
                                           file_->offset()));
    }
    return DataError(path(), "truncated (the file shrank while being read)");
  }

  std::unique_ptr<InputFile> file_;
  size_t element_size_;
  bool big_endian_;
  uint64_t rows_ = 0, row_ = 0;
  std::vector<uint16_t> half_;
  std::vector<double> wide_;
};

}  // namespace

Result<std::unique_ptr<VectorReader>> OpenNpyReader(std::unique_ptr<InputFile> file,
                                                    const ReadOptions& options) {
  const std::string path = file->path();
  MRLDB_ASSIGN_OR_RETURN(const NpyHeader header, ReadNpyHeader(file.get()));
  const uint64_t offset = header.data_offset;
  const std::string& d = header.descr;
  const bool f4 = d == "<f4" || d == "=f4" || d == ">f4", f2 = d == "<f2" || d == "=f2" || d == ">f2";
  const bool f8 = d == "<f8" || d == "=f8" || d == ">f8";
  if (!f4 && !f2 && !f8) {
    return DataError(path, fmt::format("unsupported dtype '{}': need float32 ('<f4', '>f4'), "
                                       "float16 ('<f2') or float64 ('<f8')", d));
  }
  const std::vector<uint64_t>& shape = header.shape;
  if (shape.size() != 2) {
    return DataError(path, fmt::format("shape {} is not 2-D (rows, dim)", ShapeText(shape)));
  }
  if (shape[1] == 0 || shape[1] > kMaxDim) {
    return DataError(path, fmt::format("shape {}: dim {} is not in 1..{}", ShapeText(shape),
                                       shape[1], kMaxDim));
  }
  if (options.dim != 0 && shape[1] != options.dim) {
    return DataError(path, fmt::format("vectors have dim {}, expected {}", shape[1], options.dim));
  }
  const size_t esize = f4 ? 4 : f8 ? 8 : 2;
  const uint64_t have = file->size().value_or(offset) - offset;
  if (file->size() && (shape[0] > have / esize / shape[1] || have != shape[0] * shape[1] * esize)) {
    const bool truncated = shape[0] > have / esize / shape[1];
    return DataError(path, fmt::format("{}: shape {} needs {} bytes of data, the file has {}",
                                       truncated ? "truncated" : "unexpected bytes after the data",
                                       ShapeText(shape), shape[0] * shape[1] * esize, have));
  }
  auto reader = std::make_unique<NpyReader>(std::move(file), esize, d[0] == '>');
  MRLDB_RETURN_IF_ERROR(reader->Init(shape[0], static_cast<uint32_t>(shape[1]),
                                     // widening float16 loses nothing: no note
                                     f8 ? "float64 values narrowed to float32" : ""));
  return std::unique_ptr<VectorReader>(std::move(reader));
}

// ---- Writer -------------------------------------------------------------------------------------

namespace {

// Version 1.0, float32, C order; the header block is always 128 bytes, so that Finish() can
// rewrite it in place with the final row count.
constexpr size_t kHeaderBlock = 128;

std::string NpyHeaderBlock(uint64_t rows, uint32_t dim) {
  std::string dict = fmt::format("{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {}), }}",
                                 rows, dim);
  const size_t len = kHeaderBlock - 10;
  dict.resize(len - 1, ' ');
  dict.push_back('\n');
  std::string block = "\x93NUMPY";
  block.push_back('\x01');
  block.push_back('\x00');
  block.push_back(static_cast<char>(len & 0xFF));
  block.push_back(static_cast<char>(len >> 8));
  return block + dict;
}

class NpyWriter final : public VectorWriter {
 public:
  NpyWriter(const WriteOptions& options, std::unique_ptr<OutputFile> file)
      : VectorWriter(Format::kNpy, options), file_(std::move(file)) {}

  // With WriteOptions::rows the header holds it from the start (a stream cannot be rewritten).
  Status Start() {
    const std::string block = NpyHeaderBlock(options_.rows.value_or(0), options_.dim);
    return file_->Append(block.data(), block.size());
  }

 protected:
  Status WriteRows(const Batch& batch) override {
    return file_->Append(batch.vectors.data(), batch.vectors.size() * sizeof(float));
  }
  Status FinishFile() override {
    const uint64_t rows = (file_->size() - kHeaderBlock) / (4 * uint64_t{options_.dim});
    if (options_.rows && rows != *options_.rows) {
      return Status::InvalidArgument(fmt::format(
          "{}: {} rows were written, but the header announced {}", file_->path(), rows,
          *options_.rows));
    }
    if (!options_.rows) {
      const std::string block = NpyHeaderBlock(rows, options_.dim);
      MRLDB_RETURN_IF_ERROR(file_->WriteAt(0, block.data(), block.size()));
    }
    MRLDB_RETURN_IF_ERROR(file_->Close());
    return file_->Commit();
  }

 private:
  std::unique_ptr<OutputFile> file_;
};

}  // namespace

Result<std::unique_ptr<VectorWriter>> CreateNpyWriter(std::unique_ptr<OutputFile> file,
                                                      const WriteOptions& options) {
  auto writer = std::make_unique<NpyWriter>(options, std::move(file));
  MRLDB_RETURN_IF_ERROR(writer->Start());
  return std::unique_ptr<VectorWriter>(std::move(writer));
}

}  // namespace mrldb::formats
