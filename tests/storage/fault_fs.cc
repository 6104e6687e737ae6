#include "tests/storage/fault_fs.h"

namespace mrldb::testing {

namespace {

bool EndsWith(const std::string& s, const char* suffix) {
  const std::string t(suffix);
  return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

class FaultFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultFile(std::unique_ptr<rocksdb::FSWritableFile>&& f, std::string name, FaultFs* fs)
      : FSWritableFileOwnerWrapper(std::move(f)), name_(std::move(name)), fs_(fs) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                           rocksdb::IODebugContext* g) override {
    rocksdb::IOStatus s = fs_->Check(name_, FaultFs::kAppend);
    if (!s.ok()) return Torn(s, d, o, g);
    return target()->Append(d, o, g);
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& d, const rocksdb::IOOptions& o,
                           const rocksdb::DataVerificationInfo& v,
                           rocksdb::IODebugContext* g) override {
    rocksdb::IOStatus s = fs_->Check(name_, FaultFs::kAppend);
    if (!s.ok()) return Torn(s, d, o, g);
    return target()->Append(d, o, v, g);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& d, uint64_t off,
                                     const rocksdb::IOOptions& o,
                                     rocksdb::IODebugContext* g) override {
    rocksdb::IOStatus s = fs_->Check(name_, FaultFs::kAppend);
    if (!s.ok()) return s;
    return target()->PositionedAppend(d, off, o, g);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    rocksdb::IOStatus s = fs_->Check(name_, FaultFs::kSync);
    return s.ok() ? target()->Sync(o, g) : s;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) override {
    rocksdb::IOStatus s = fs_->Check(name_, FaultFs::kSync);
    return s.ok() ? target()->Fsync(o, g) : s;
  }
  rocksdb::IOStatus RangeSync(uint64_t off, uint64_t n, const rocksdb::IOOptions& o,
                              rocksdb::IODebugContext* g) override {
    rocksdb::IOStatus s = fs_->Check(name_, FaultFs::kSync);
    return s.ok() ? target()->RangeSync(off, n, o, g) : s;
  }

 private:
  // Out of space part way: half of the data reaches the file.
  rocksdb::IOStatus Torn(const rocksdb::IOStatus& s, const rocksdb::Slice& d,
                         const rocksdb::IOOptions& o, rocksdb::IODebugContext* g) {
    if (s.IsNoSpace() && d.size() > 1) {
      target()->Append(rocksdb::Slice(d.data(), d.size() / 2), o, g).PermitUncheckedError();
    }
    return s;
  }

  const std::string name_;
  FaultFs* const fs_;
};

}  // namespace

FaultFs::FaultFs() : rocksdb::FileSystemWrapper(rocksdb::FileSystem::Default()) {}

void FaultFs::FailAfter(uint64_t skip, Error error, unsigned kinds, unsigned ops) {
  armed_.store(false);
  skip_.store(static_cast<int64_t>(skip));
  kinds_.store(kinds);
  ops_.store(ops);
  no_space_.store(error == Error::kNoSpace);
  armed_.store(true);
}

void FaultFs::Heal() { armed_.store(false); }

unsigned FaultFs::KindOf(const std::string& file) {
  if (EndsWith(file, ".log")) return kWal;
  if (EndsWith(file, ".sst")) return kTable;
  if (file.find("MANIFEST-") != std::string::npos) return kManifest;
  return kOther;
}

rocksdb::IOStatus FaultFs::Check(const std::string& file, Op op) {
  if (!armed_.load() || !(ops_.load() & op) || !(kinds_.load() & KindOf(file))) {
    return rocksdb::IOStatus::OK();
  }
  if (skip_.fetch_sub(1) > 0) return rocksdb::IOStatus::OK();
  failures_.fetch_add(1);
  if (no_space_.load()) {
    // As the POSIX file system reports ENOSPC: NoSpace, marked retryable.
    rocksdb::IOStatus s = rocksdb::IOStatus::NoSpace("injected: No space left on device", file);
    s.SetRetryable(true);
    return s;
  }
  return rocksdb::IOStatus::IOError("injected: Input/output error", file);
}

rocksdb::IOStatus FaultFs::Wrap(const std::string& f, rocksdb::IOStatus s,
                                std::unique_ptr<rocksdb::FSWritableFile>* r) {
  if (s.ok()) r->reset(new FaultFile(std::move(*r), f, this));
  return s;
}

rocksdb::IOStatus FaultFs::NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                           std::unique_ptr<rocksdb::FSWritableFile>* r,
                                           rocksdb::IODebugContext* dbg) {
  if (rocksdb::IOStatus s = Check(f, kCreate); !s.ok()) return s;
  return Wrap(f, target()->NewWritableFile(f, o, r, dbg), r);
}

rocksdb::IOStatus FaultFs::ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                              std::unique_ptr<rocksdb::FSWritableFile>* r,
                                              rocksdb::IODebugContext* dbg) {
  if (rocksdb::IOStatus s = Check(f, kCreate); !s.ok()) return s;
  return Wrap(f, target()->ReopenWritableFile(f, o, r, dbg), r);
}

rocksdb::IOStatus FaultFs::ReuseWritableFile(const std::string& f, const std::string& old,
                                             const rocksdb::FileOptions& o,
                                             std::unique_ptr<rocksdb::FSWritableFile>* r,
                                             rocksdb::IODebugContext* dbg) {
  if (rocksdb::IOStatus s = Check(f, kCreate); !s.ok()) return s;
  return Wrap(f, target()->ReuseWritableFile(f, old, o, r, dbg), r);
}

}  // namespace mrldb::testing
