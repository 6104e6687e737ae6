// FaultFs: a RocksDB file system that fails writes on cue, for storage-fault tests and the
// scripts/faults harness. Everything else is passed to the operating system's file system.
//
//   auto fs = std::make_shared<FaultFs>();
//   storage::StorageHooks hooks{fs, std::chrono::milliseconds(0)};
//   fs->FailAfter(0, FaultFs::Error::kNoSpace, FaultFs::kWal, FaultFs::kAppend);  // next WAL append
//   ... writes get Status::ReadOnly ...
//   fs->Heal();                                                                  // space is back
//
// Thread safety: all methods may be called while RocksDB runs.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <rocksdb/file_system.h>

namespace mrldb::testing {

class FaultFs : public rocksdb::FileSystemWrapper {
 public:
  enum class Error { kNoSpace, kIO };
  // Which files fail (bit mask), by name: *.log, *.sst, MANIFEST-*, everything else.
  enum Kind : unsigned { kWal = 1, kTable = 2, kManifest = 4, kOther = 8, kAnyFile = 15 };
  // Which operations fail (bit mask). kSync covers Sync, Fsync and RangeSync; kCreate the
  // creation of a writable file.
  enum Op : unsigned { kAppend = 1, kSync = 2, kCreate = 4, kAnyOp = 7 };

  FaultFs();
  const char* Name() const override { return "mrldb.FaultFs"; }

  // Lets `skip` more matching operations succeed, then fails every matching one with `error`
  // until Heal(). A failing append with kNoSpace writes the first half of its data first, as a
  // write() that runs out of space part way does.
  void FailAfter(uint64_t skip, Error error, unsigned kinds, unsigned ops);
  void Heal();
  bool failing() const { return armed_.load(); }
  // Operations failed since construction.
  uint64_t failures() const { return failures_.load(); }

  // Called by the wrapped files: the error to return for `op` on `file`, or OK.
  rocksdb::IOStatus Check(const std::string& file, Op op);

  rocksdb::IOStatus NewWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* r,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& f, const rocksdb::FileOptions& o,
                                       std::unique_ptr<rocksdb::FSWritableFile>* r,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& f, const std::string& old,
                                      const rocksdb::FileOptions& o,
                                      std::unique_ptr<rocksdb::FSWritableFile>* r,
                                      rocksdb::IODebugContext* dbg) override;

 private:
  static unsigned KindOf(const std::string& file);
  rocksdb::IOStatus Wrap(const std::string& f, rocksdb::IOStatus s,
                         std::unique_ptr<rocksdb::FSWritableFile>* r);

  std::atomic<bool> armed_{false};
  std::atomic<int64_t> skip_{0};
  std::atomic<unsigned> kinds_{0}, ops_{0};
  std::atomic<bool> no_space_{true};
  std::atomic<uint64_t> failures_{0};
};

}  // namespace mrldb::testing
