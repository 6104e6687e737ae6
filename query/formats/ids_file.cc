#include "query/formats/ids_file.h"

#include <cctype>
#include <charconv>
#include <cstring>
#include <iterator>

#include <fmt/format.h>

#include "query/formats/convert.h"
#include "query/formats/internal.h"

namespace mrldb::formats {

namespace {

// A UTF-32LE string of `n` code units, NUL-padded at the end (NumPy's '<U<n>'), as UTF-8.
Result<std::string> Utf32ToUtf8(const char* data, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    uint32_t c;
    std::memcpy(&c, data + 4 * i, 4);
    if (c == 0) break;  // the padding (NumPy strips trailing NULs too)
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
      return Status::InvalidArgument(fmt::format("U+{:X} is not a Unicode character", c));
    }
    if (c < 0x80) {
      out.push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out.push_back(static_cast<char>(0xC0 | c >> 6));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | c >> 12));
      out.push_back(static_cast<char>(0x80 | (c >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | c >> 18));
      out.push_back(static_cast<char>(0x80 | (c >> 12 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c >> 6 & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (c & 0x3F)));
    }
  }
  return out;
}

bool IsNpyPath(const std::string& path) {
  if (path.size() < 4) return false;
  std::string ext = path.substr(path.size() - 4);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".npy";
}

}  // namespace

Result<std::unique_ptr<IdsFileReader>> IdsFileReader::Open(const std::string& path,
                                                           IdType type) {
  MRLDB_ASSIGN_OR_RETURN(auto file, InputFile::Open(path));
  return Check(std::move(file), type, IsNpyPath(path));
}

Result<std::unique_ptr<IdsFileReader>> IdsFileReader::FromMemory(const std::string& name,
                                                                 std::string data, IdType type) {
  const bool npy = data.starts_with("\x93NUMPY");
  return Check(InputFile::FromMemory(name, std::move(data)), type, npy);
}

Result<std::unique_ptr<IdsFileReader>> IdsFileReader::Check(std::unique_ptr<InputFile> file,
                                                            IdType type, bool npy) {
  std::unique_ptr<IdsFileReader> r(new IdsFileReader(std::move(file), type));
  if (npy) MRLDB_RETURN_IF_ERROR(r->OpenNpy());
  // A first pass checks every id and counts them, so that a bad id or a count that differs
  // from the vector file's is found before any row is imported.
  Key key;
  while (true) {
    MRLDB_ASSIGN_OR_RETURN(const bool more, r->Next(&key));
    if (!more) break;
    ++r->count_;
  }
  MRLDB_RETURN_IF_ERROR(r->file_->status());
  MRLDB_RETURN_IF_ERROR(r->file_->Seek(r->npy_offset_));
  r->read_ = 0;
  return r;
}

Status IdsFileReader::OpenNpy() {
  MRLDB_ASSIGN_OR_RETURN(const NpyHeader h, ReadNpyHeader(file_.get()));
  const std::string& d = h.descr;
  const bool little = d.size() >= 3 && (d[0] == '<' || d[0] == '=' || d[0] == '|');
  if (little && (d.substr(1) == "i8" || d.substr(1) == "i4")) {
    npy_kind_ = 'i';
    npy_size_ = d[2] == '8' ? 8 : 4;
  } else if (little && d[1] == 'U') {
    size_t n = 0;
    const auto [end, ec] = std::from_chars(d.data() + 2, d.data() + d.size(), n);
    if (ec != std::errc() || end != d.data() + d.size() || n == 0 || n > 65536) {
      return DataError(path(), fmt::format("unsupported dtype '{}'", d));
    }
    npy_kind_ = 'U';
    npy_size_ = 4 * n;
  } else {
    return DataError(path(), fmt::format(
        "unsupported dtype '{}' for ids: need int64 ('<i8'), int32 ('<i4') or unicode strings "
        "('<U<n>', e.g. np.array(ids).astype(str))", d));
  }
  const bool one_d = h.shape.size() == 1 || (h.shape.size() == 2 && h.shape[1] == 1);
  if (!one_d) {
    return DataError(path(), fmt::format("shape {} is not 1-D: one id per row", ShapeText(h.shape)));
  }
  const uint64_t have = *file_->size() - h.data_offset;  // a file or memory: sized
  if (have / npy_size_ != h.shape[0] || have % npy_size_ != 0) {
    return DataError(path(), fmt::format("shape {} needs {} bytes of data, the file has {}",
                                         ShapeText(h.shape), h.shape[0] * npy_size_, have));
  }
  npy_offset_ = h.data_offset;
  element_.resize(npy_size_);
  return Status::Ok();
}

Result<bool> IdsFileReader::Next(Key* out) {
  if (npy_kind_ == 0) {
    if (!file_->ReadLine(&line_)) {
      MRLDB_RETURN_IF_ERROR(file_->status());
      return false;
    }
    auto key = KeyFromText(line_, type_);
    if (!key.ok()) {
      return DataError(path(), fmt::format("line {}: {}", read_ + 1, key.status().message()));
    }
    *out = std::move(key).value();
    ++read_;
    return true;
  }
  const size_t got = file_->Read(element_.data(), npy_size_);
  if (got != npy_size_) {
    MRLDB_RETURN_IF_ERROR(file_->status());
    if (got == 0) return false;
    return DataError(path(), "truncated (the file shrank while being read)");
  }
  auto bad = [&](const Status& why) {
    return DataError(path(), fmt::format("element {} (0-based): {}", read_, why.message()));
  };
  if (npy_kind_ == 'i') {
    int64_t v;
    if (npy_size_ == 8) {
      std::memcpy(&v, element_.data(), 8);
    } else {
      int32_t v32;
      std::memcpy(&v32, element_.data(), 4);
      v = v32;
    }
    *out = type_ == IdType::kBigint ? Key{v} : Key{std::to_string(v)};
  } else {
    auto text = Utf32ToUtf8(element_.data(), npy_size_ / 4);
    if (!text.ok()) return bad(text.status());
    auto key = KeyFromText(*text, type_);
    if (!key.ok()) return bad(key.status());
    *out = std::move(key).value();
  }
  ++read_;
  return true;
}

Status IdsFileReader::Read(size_t n, std::vector<Key>* out) {
  Key key;
  for (size_t i = 0; i < n; ++i) {
    MRLDB_ASSIGN_OR_RETURN(const bool more, Next(&key));
    if (!more) {
      return DataError(path(), fmt::format("has {} ids, fewer than the rows of the vector file",
                                           read_));
    }
    out->push_back(std::move(key));
  }
  return Status::Ok();
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
