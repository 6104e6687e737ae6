#include "bench/vector_file.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>

#include <fmt/format.h>

#include "mrldb/insert_batch.h"

namespace mrldb::bench {
namespace {

Status Bad(const std::string& path, const std::string& why) {
  return Status::InvalidArgument(fmt::format("{}: {}", path, why));
}

// The value of `key` in a .npy header dict: a quoted string, a (tuple) or a bare word.
std::string NpyField(const std::string& h, const std::string& key) {
  size_t p = h.find("'" + key + "'");
  if (p == std::string::npos || (p = h.find(':', p)) == std::string::npos) return "";
  p = h.find_first_not_of(' ', p + 1);
  if (p == std::string::npos) return "";
  if (h[p] == '\'' || h[p] == '"') return h.substr(p + 1, h.find(h[p], p + 1) - p - 1);
  if (h[p] == '(') return h.substr(p, h.find(')', p) - p + 1);
  return h.substr(p, h.find_first_of(",}", p) - p);
}

Result<Matrix> ReadNpy(const std::string& path, uint64_t file_size, FILE* f) {
  unsigned char pre[12];
  if (std::fread(pre, 1, 8, f) != 8 || std::memcmp(pre, "\x93NUMPY", 6) != 0) {
    return Bad(path, "not a .npy file (wrong magic; expected \\x93NUMPY)");
  }
  const int len_bytes = pre[6] == 1 ? 2 : (pre[6] == 2 || pre[6] == 3) ? 4 : 0;
  if (len_bytes == 0) {
    return Bad(path, fmt::format("unsupported .npy version {}.{}", pre[6], pre[7]));
  }
  if (std::fread(pre + 8, 1, len_bytes, f) != static_cast<size_t>(len_bytes)) {
    return Bad(path, "truncated header");
  }
  size_t header_len = 0;
  for (int i = len_bytes - 1; i >= 0; --i) header_len = header_len << 8 | pre[8 + i];
  std::string h(header_len, '\0');
  if (std::fread(h.data(), 1, header_len, f) != header_len) return Bad(path, "truncated header");
  const std::string descr = NpyField(h, "descr"), shape = NpyField(h, "shape");
  const size_t esize = descr == "<f4" || descr == "=f4"   ? 4
                       : descr == "<f2" || descr == "=f2" ? 2
                                                          : 0;
  if (esize == 0) {
    return Bad(path, fmt::format("unsupported dtype '{}': need little-endian float32 ('<f4') or "
                                 "float16 ('<f2')", descr));
  }
  if (NpyField(h, "fortran_order") != "False") {
    return Bad(path, "fortran_order is not False: save a C-order array (np.ascontiguousarray)");
  }
  std::vector<uint64_t> dims;
  for (size_t p = 1; (p = shape.find_first_not_of(" ,", p)) < shape.size() && shape[p] != ')';) {
    uint64_t v = 0;
    auto [end, ec] = std::from_chars(shape.data() + p, shape.data() + shape.size(), v);
    if (ec != std::errc()) return Bad(path, fmt::format("cannot read shape '{}'", shape));
    dims.push_back(v);
    p = end - shape.data();
  }
  if (dims.size() != 2) return Bad(path, fmt::format("shape {} is not 2-D (n, dim)", shape));
  if (dims[0] == 0 || dims[1] == 0 || dims[1] > 65536) {
    return Bad(path, fmt::format("shape {}: need n >= 1 and 1 <= dim <= 65536", shape));
  }
  const uint64_t offset = 8 + len_bytes + header_len, want = dims[0] * dims[1] * esize;
  if (file_size < offset + want) {
    return Bad(path, fmt::format("truncated: shape {} needs {} bytes of data, the file has {}",
                                 shape, want, file_size - std::min(file_size, offset)));
  }
  Matrix m{dims[0], static_cast<uint32_t>(dims[1]), {}};
  m.v.resize(m.n * m.d);
  if (esize == 4) {
    if (std::fread(m.v.data(), 4, m.v.size(), f) != m.v.size()) return Bad(path, "read failed");
    return m;
  }
  std::vector<uint16_t> half(1 << 16);
  for (size_t done = 0; done < m.v.size();) {
    const size_t c = std::min(half.size(), m.v.size() - done);
    if (std::fread(half.data(), 2, c, f) != c) return Bad(path, "read failed");
    for (size_t i = 0; i < c; ++i) m.v[done + i] = HalfToFloat(half[i]);
    done += c;
  }
  return m;
}

Result<Matrix> ReadFvecs(const std::string& path, uint64_t file_size, FILE* f) {
  int32_t d0 = 0;
  if (std::fread(&d0, 4, 1, f) != 1) return Bad(path, "empty file");
  if (d0 <= 0 || d0 > 65536) {
    return Bad(path, fmt::format("first vector's dimension {} is not in 1..65536", d0));
  }
  const uint64_t record = 4 + 4 * static_cast<uint64_t>(d0);
  if (file_size % record != 0) {
    return Bad(path, fmt::format("size {} is not a multiple of the record size {} (4 + 4 x dim "
                                 "{}): ragged or truncated .fvecs", file_size, record, d0));
  }
  Matrix m{file_size / record, static_cast<uint32_t>(d0), {}};
  m.v.resize(m.n * m.d);
  for (size_t i = 0; i < m.n; ++i) {
    int32_t d = d0;
    if (i > 0 && std::fread(&d, 4, 1, f) != 1) return Bad(path, "read failed");
    if (d != d0) {
      return Bad(path, fmt::format("ragged .fvecs: vector {} has dimension {}, vector 0 has {}",
                                   i, d, d0));
    }
    if (std::fread(m.Row(i), 4, m.d, f) != m.d) return Bad(path, "read failed");
  }
  return m;
}

}  // namespace

Result<Matrix> ReadVectorFile(const std::string& path) {
  const bool npy = path.ends_with(".npy"), fvecs = path.ends_with(".fvecs");
  if (!npy && !fvecs) return Bad(path, "unknown file type: need .npy or .fvecs");
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return Status::IOError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  std::error_code ec;
  const uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::IOError(fmt::format("cannot stat '{}': {}", path, ec.message()));
  return npy ? ReadNpy(path, size, f.get()) : ReadFvecs(path, size, f.get());
}

}  // namespace mrldb::bench
