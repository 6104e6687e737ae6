// Internals shared by the KvStore's files (kv_store.cc, kv_recovery.cc): the RocksDB instance
// and the holds and swaps of its gate.
#pragma once

#include <chrono>
#include <memory>

#include <rocksdb/db.h>

#include "storage/kv_store.h"

namespace mrldb::storage {

struct KvStore::Instance {
  std::unique_ptr<rocksdb::DB> db;
  rocksdb::ColumnFamilyHandle* handles[3] = {nullptr, nullptr, nullptr};
  bool read_only = false;
};

// A hold of the current instance for the scope.
class Hold {
 public:
  explicit Hold(InstanceGate* gate) : gate_(gate) { gate_->Acquire(); }
  ~Hold() { gate_->Release(); }
  Hold(const Hold&) = delete;
  Hold& operator=(const Hold&) = delete;

 private:
  InstanceGate* gate_;
};

// How long a recovery's reopen waits for reads to end before it is deferred.
constexpr std::chrono::milliseconds kSwapWait{2000};

// One swap of the instance, begun when every read has ended (within `limit` where given:
// ok()); the gate is released however the swap ends.
class Swap {
 public:
  explicit Swap(InstanceGate* gate) : gate_(gate), ok_(true) { gate_->BeginSwap(); }
  Swap(InstanceGate* gate, std::chrono::milliseconds limit)
      : gate_(gate), ok_(gate_->TryBeginSwap(limit)) {}
  ~Swap() {
    if (ok_) gate_->EndSwap();
  }
  Swap(const Swap&) = delete;
  Swap& operator=(const Swap&) = delete;
  bool ok() const { return ok_; }

 private:
  InstanceGate* gate_;
  bool ok_;
};

}  // namespace mrldb::storage
