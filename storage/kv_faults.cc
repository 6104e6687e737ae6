#include "storage/kv_faults.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <rocksdb/env.h>
#include <rocksdb/write_batch.h>

#include "storage/coding.h"

namespace mrldb::storage {

bool IsStorageFault(const rocksdb::Status& s) {
  return s.IsIOError() || s.IsCorruption() || s.severity() >= rocksdb::Status::Severity::kHardError;
}

Status ReadOnlyError(const rocksdb::Status& cause) {
  if (cause.IsNoSpace()) {
    return Status::ReadOnly(fmt::format(
        "disk full: {}; the database is read-only until space is freed", cause.ToString()));
  }
  return Status::ReadOnly(fmt::format(
      "storage write failed: {}; the database is read-only until the fault clears",
      cause.ToString()));
}

void FaultState::Record(const rocksdb::Status& cause, bool wal, bool fatal) {
  std::lock_guard<std::mutex> l(mu_);
  if (!faulted_.load(std::memory_order_relaxed)) {
    fault_ = Fault{cause, wal, fatal};
    faulted_.store(true, std::memory_order_release);
    return;
  }
  fault_.wal |= wal;
  fault_.fatal |= fatal;
}

void FaultState::Clear() {
  std::lock_guard<std::mutex> l(mu_);
  fault_ = Fault{};
  faulted_.store(false, std::memory_order_release);
}

FaultState::Fault FaultState::Get() const {
  std::lock_guard<std::mutex> l(mu_);
  return fault_;
}

Status FaultState::WriteError() const {
  std::lock_guard<std::mutex> l(mu_);
  if (!faulted_.load(std::memory_order_relaxed)) return Status::Ok();
  return ReadOnlyError(fault_.cause);
}

namespace {

using Severity = rocksdb::Status::Severity;

class FaultListener final : public rocksdb::EventListener {
 public:
  FaultListener(std::shared_ptr<FaultState> state, std::function<void(std::string_view)> log)
      : state_(std::move(state)), log_(std::move(log)) {}

  const char* Name() const override { return "mrldb.FaultListener"; }

  void OnBackgroundError(rocksdb::BackgroundErrorReason reason, rocksdb::Status* error) override {
    if (error->severity() < Severity::kHardError) return;  // soft: RocksDB resumes by itself
    // kWriteCallback: a WAL append or sync failed; kMemTable: a memtable switch could not
    // write the WAL's buffer. Either way the current WAL writer has failed.
    const bool wal = reason == rocksdb::BackgroundErrorReason::kWriteCallback ||
                     reason == rocksdb::BackgroundErrorReason::kMemTable;
    const bool first = !state_->faulted();
    state_->Record(*error, wal, error->severity() >= Severity::kFatalError);
    if (first && log_) {
      log_(fmt::format("storage fault: {}; writes are refused until it clears",
                       error->ToString()));
    }
  }

  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason, rocksdb::Status error,
                            bool* auto_recovery) override {
    if (error.severity() >= Severity::kHardError) *auto_recovery = false;
  }

 private:
  std::shared_ptr<FaultState> state_;
  std::function<void(std::string_view)> log_;
};

class FailedBatchFilter final : public rocksdb::WalFilter {
 public:
  explicit FailedBatchFilter(uint64_t last) : last_(last) {}
  const char* Name() const override { return "mrldb.FailedBatchFilter"; }

  WalProcessingOption LogRecord(const rocksdb::WriteBatch& batch, rocksdb::WriteBatch*,
                                bool*) const override {
    // A WriteBatch's contents start with its fixed64 sequence number (write_batch.cc).
    const std::string& rep = batch.Data();
    if (rep.size() >= 8 && DecodeFixed64(rep.data()) > last_) {
      return WalProcessingOption::kIgnoreCurrentRecord;
    }
    return WalProcessingOption::kContinueProcessing;
  }

 private:
  const uint64_t last_;
};

class QuietLogger final : public rocksdb::Logger {
 public:
  explicit QuietLogger(std::string path)
      : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), path_(std::move(path)) {
    file_ = std::fopen(path_.c_str(), "a");
  }
  ~QuietLogger() override {
    if (file_) std::fclose(file_);
  }

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    char line[2048];
    std::vsnprintf(line, sizeof(line), format, ap);
    std::lock_guard<std::mutex> l(mu_);
    if (file_ && std::ftell(file_) > kMaxBytes) {
      std::fclose(file_);
      file_ = std::fopen(path_.c_str(), "w");
    }
    if (!file_) return;
    char stamp[32];
    const std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ ", &tm);
    // Failures (a full disk) are ignored: the log must never stop the database.
    std::fputs(stamp, file_);
    std::fputs(line, file_);
    std::fputc('\n', file_);
    std::fflush(file_);
  }

 private:
  static constexpr long kMaxBytes = 4l << 20;
  const std::string path_;
  std::mutex mu_;
  std::FILE* file_ = nullptr;  // GUARDED_BY(mu_)
};

}  // namespace

namespace {

constexpr char kMarkFile[] = "FAILED_WRITES";
constexpr char kMarkText[] = "mrldb failed writes after ";

Status SyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status::IOError(fmt::format("cannot open '{}': {}", path, std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return Status::IOError(fmt::format("fsync of '{}': {}", path, std::strerror(err)));
  return Status::Ok();
}

}  // namespace

Status WriteFailedWritesMark(const std::string& db_path, uint64_t last_sequence) {
  const std::string path = db_path + "/" + kMarkFile, tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << kMarkText << last_sequence << '\n';
    if (!out.flush()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return Status::IOError(fmt::format("cannot write '{}'", tmp));
    }
  }
  MRLDB_RETURN_IF_ERROR(SyncPath(tmp));
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return Status::IOError(fmt::format("cannot rename '{}': {}", tmp, std::strerror(errno)));
  }
  return SyncPath(db_path);
}

Result<std::optional<uint64_t>> ReadFailedWritesMark(const std::string& db_path) {
  const std::string path = db_path + "/" + kMarkFile;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return std::optional<uint64_t>();
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  const std::string prefix = kMarkText;
  const char* digits = line.c_str() + std::min(prefix.size(), line.size());
  char* end = nullptr;
  errno = 0;
  const uint64_t seq = std::strtoull(digits, &end, 10);
  if (line.compare(0, prefix.size(), prefix) != 0 || end == digits || *end != '\0' || errno) {
    return Status::Corruption(fmt::format("'{}' is not an mrldb failed-writes mark", path));
  }
  return std::optional<uint64_t>(seq);
}

Status RemoveFailedWritesMark(const std::string& db_path) {
  const std::string path = db_path + "/" + kMarkFile;
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return Status::Ok();
    return Status::IOError(fmt::format("cannot remove '{}': {}", path, std::strerror(errno)));
  }
  return SyncPath(db_path);
}

std::shared_ptr<rocksdb::EventListener> NewFaultListener(
    std::shared_ptr<FaultState> state, std::function<void(std::string_view)> log) {
  return std::make_shared<FaultListener>(std::move(state), std::move(log));
}

std::unique_ptr<rocksdb::WalFilter> NewFailedBatchFilter(uint64_t last_sequence) {
  return std::make_unique<FailedBatchFilter>(last_sequence);
}

std::shared_ptr<rocksdb::Logger> NewQuietLogger(const std::string& path) {
  return std::make_shared<QuietLogger>(path);
}

}  // namespace mrldb::storage
