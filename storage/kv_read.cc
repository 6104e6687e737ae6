// KvStore's batched point reads: MultiGet, and MultiGetSpread, which splits a batch into parts
// read at once by the store's read threads when reads wait on the disk (docs/architecture.md,
// "Memory budget": parallel reads).
#include <algorithm>
#include <chrono>

#include "storage/kv_store.h"
#include "storage/kv_store_internal.h"
#include "storage/read_pool.h"

namespace mrldb::storage {

Status KvStore::MultiGetInto(Cf cf, std::span<const rocksdb::Slice> keys,
                             std::span<rocksdb::PinnableSlice> values,
                             ReadCounters* counters) const {
  Hold hold(&gate_);
  if (!inst_) return Status::IOError("reading keys: storage is unavailable");
  for (auto& v : values) v.Reset();
  thread_local std::vector<rocksdb::Status> statuses;
  statuses.assign(keys.size(), rocksdb::Status());
  {
    ReadCounterScope scope(counters);
    inst_->db->MultiGet(rocksdb::ReadOptions(), inst_->handles[static_cast<int>(cf)], keys.size(),
                        keys.data(), values.data(), statuses.data(), /*sorted_input=*/true);
  }
  for (const rocksdb::Status& s : statuses) {
    if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading keys");
  }
  return Status::Ok();
}

Status KvStore::MultiGet(Cf cf, std::span<const rocksdb::Slice> keys,
                         std::vector<rocksdb::PinnableSlice>* values,
                         ReadCounters* counters) const {
  values->resize(keys.size());
  return MultiGetInto(cf, keys, *values, counters);
}

size_t KvStore::ReadParts(size_t n) const {
  if (n < 2) return 1;
  const unsigned depth = options_.storage_read_depth;
  if (depth != 0) return std::min<size_t>(depth, n);
  if (ReadLatencyNs() < kDiskReadNs) return 1;
  return std::clamp<size_t>(n / kKeysPerPart, 1, kAutoReadDepth);
}

Status KvStore::MultiGetSpread(Cf cf, std::span<const rocksdb::Slice> keys,
                               std::span<rocksdb::PinnableSlice> values,
                               ReadCounters* counters) const {
  const size_t parts = ReadParts(keys.size());
  struct Part {
    ReadCounters io;
    Status status;
  };
  // The caller's scratch, named here: a thread_local named inside the lambda would be the
  // running thread's own.
  thread_local std::vector<Part> scratch;
  std::vector<Part>& done = scratch;
  done.assign(parts, Part{});
  auto read = [&](size_t p) {
    const size_t from = keys.size() * p / parts, to = keys.size() * (p + 1) / parts;
    const auto t0 = std::chrono::steady_clock::now();
    done[p].status = MultiGetInto(cf, keys.subspan(from, to - from),
                                  values.subspan(from, to - from), &done[p].io);
    const uint64_t reads = done[p].io.reads;
    if (reads == 0 || !done[p].status.ok()) return;
    const auto ns = static_cast<int64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count());
    const int64_t sample = ns / static_cast<int64_t>(reads);
    // Racy read-modify-write: a lost update only delays the average.
    const auto old = static_cast<int64_t>(read_ns_.load(std::memory_order_relaxed));
    read_ns_.store(static_cast<uint64_t>(old == 0 ? sample : old + (sample - old) / 8),
                   std::memory_order_relaxed);
  };
  if (parts == 1) {
    read(0);
  } else {
    std::call_once(read_pool_once_, [this] {
      const unsigned depth = options_.storage_read_depth;
      read_pool_ = std::make_unique<ReadPool>((depth ? depth : kAutoReadDepth) - 1);
    });
    std::function<void(size_t)> fn = read;
    read_pool_->Run(parts, fn);
  }
  for (const Part& p : done) {
    if (counters) {
      counters->cache_hits += p.io.cache_hits;
      counters->reads += p.io.reads;
      counters->bytes += p.io.bytes;
    }
  }
  for (const Part& p : done) MRLDB_RETURN_IF_ERROR(p.status);
  return Status::Ok();
}

}  // namespace mrldb::storage
