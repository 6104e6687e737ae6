// A small tmpfs for real full-disk tests, and a filler to fill it. Mounting needs root and a
// container that permits it; callers skip (saying why) when mounted() is false.
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace mrldb::testing {

// A tmpfs of `mib` MiB mounted on a fresh directory for the test's lifetime.
class SmallTmpfs {
 public:
  explicit SmallTmpfs(int mib) {
    const std::string opts = "size=" + std::to_string(mib) + "m";
    if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, opts.c_str()) != 0) {
      error_ = std::strerror(errno);
    }
  }
  ~SmallTmpfs() {
    if (error_.empty()) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  bool mounted() const { return error_.empty(); }
  const std::string& error() const { return error_; }
  std::string path(const std::string& name) const { return dir_.path() + "/" + name; }

 private:
  struct MountPoint {
    MountPoint() { std::filesystem::create_directories(dir.path()); }
    TempDir dir;
    std::string path() const { return dir.path(); }
  } dir_;
  std::string error_;
};

// Writes `bytes` (or, with 0, until the disk is full) into `path`; returns the bytes written.
inline uint64_t Fill(const std::string& path, uint64_t bytes) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) return 0;
  std::vector<char> block(64 << 10, 'x');
  uint64_t written = 0;
  while (bytes == 0 || written < bytes) {
    const size_t n = std::fwrite(block.data(), 1, block.size(), f);
    written += n;
    if (n < block.size() || std::fflush(f) != 0) break;
  }
  std::fclose(f);
  return written;
}

}  // namespace mrldb::testing
