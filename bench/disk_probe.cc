#include "bench/disk_probe.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "bench/measure.h"

namespace mrldb::bench {
namespace {

struct File {
  int fd = -1;
  uint64_t pages = 0;  // whole 4 KiB pages
};

struct Files {
  std::vector<File> f;
  std::vector<uint64_t> cum;  // cumulative pages
  ~Files() {
    for (File& x : f) ::close(x.fd);
  }
};

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  const size_t i = std::min(v->size() - 1, static_cast<size_t>(p * v->size()));
  std::nth_element(v->begin(), v->begin() + i, v->end());
  return (*v)[i];
}

}  // namespace

DiskProbePoint DiskProbeResult::Best() const {
  DiskProbePoint b;
  for (const DiskProbePoint& p : points) {
    if (p.reads_per_s > b.reads_per_s) b = p;
  }
  return b;
}

DiskProbePoint DiskProbeResult::At(unsigned threads) const {
  for (const DiskProbePoint& p : points) {
    if (p.threads == threads) return p;
  }
  return {};
}

Result<DiskProbeResult> ProbeRandomReads(const std::vector<std::string>& paths,
                                         const std::vector<unsigned>& threads, double seconds,
                                         uint64_t seed) {
  Files files;
  DiskProbeResult result;
  for (const std::string& p : paths) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0 || st.st_size < static_cast<off_t>(kProbeReadBytes)) continue;
    const int fd = ::open(p.c_str(), O_RDONLY | O_DIRECT);
    if (fd < 0) {
      return Status::IOError(fmt::format("{}: open with O_DIRECT: {}", p, std::strerror(errno)));
    }
    files.f.push_back({fd, static_cast<uint64_t>(st.st_size) / kProbeReadBytes});
    files.cum.push_back((files.cum.empty() ? 0 : files.cum.back()) + files.f.back().pages);
    result.bytes += static_cast<uint64_t>(st.st_size);
  }
  result.files = files.f.size();
  if (files.f.empty()) return Status::InvalidArgument("disk probe: no file of 4 KiB or more");
  const uint64_t total_pages = files.cum.back();
  for (unsigned t : threads) {
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::string error;
    std::vector<double> lat_us;
    uint64_t reads = 0;
    auto work = [&](unsigned id) {
      std::mt19937_64 rng(seed * 1000003 + t * 131 + id);
      void* raw = nullptr;
      if (posix_memalign(&raw, kProbeReadBytes, kProbeReadBytes) != 0) return;
      std::unique_ptr<void, decltype(&std::free)> buf(raw, &std::free);
      std::vector<double> mine;
      uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const uint64_t page = rng() % total_pages;
        const size_t fi = std::upper_bound(files.cum.begin(), files.cum.end(), page) - files.cum.begin();
        const uint64_t in_file = page - (fi ? files.cum[fi - 1] : 0);
        const auto t0 = Clock::now();
        const ssize_t got = ::pread(files.f[fi].fd, buf.get(), kProbeReadBytes,
                                    static_cast<off_t>(in_file * kProbeReadBytes));
        if (got != static_cast<ssize_t>(kProbeReadBytes)) {
          std::lock_guard lock(mu);
          if (error.empty()) error = got < 0 ? std::strerror(errno) : "short read";
          stop = true;
          break;
        }
        mine.push_back(Since(t0) * 1e6);
        ++n;
      }
      std::lock_guard lock(mu);
      reads += n;
      lat_us.insert(lat_us.end(), mine.begin(), mine.end());
    };
    std::vector<std::thread> pool;
    const auto t0 = Clock::now();
    for (unsigned i = 0; i < t; ++i) pool.emplace_back(work, i);
    std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    stop = true;
    for (std::thread& th : pool) th.join();
    const double elapsed = Since(t0);
    if (!error.empty()) return Status::IOError(fmt::format("disk probe: pread: {}", error));
    DiskProbePoint p;
    p.threads = t;
    p.reads = reads;
    p.reads_per_s = reads / elapsed;
    p.p50_us = Percentile(&lat_us, 0.50);
    p.p99_us = Percentile(&lat_us, 0.99);
    result.points.push_back(p);
  }
  return result;
}

}  // namespace mrldb::bench
