#include "engine/residency.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <chrono>

#include <fmt/format.h>

namespace mrldb {

namespace {

std::string Mib(uint64_t bytes) { return fmt::format("{:.1f} MiB", bytes / 1048576.0); }

}  // namespace

uint64_t DatabaseMemory::TotalBytes() const {
  // Under a budget the memtables are charged to the block cache, so its capacity covers them.
  uint64_t total = std::max(cache_capacity_bytes, cache_usage_bytes) + table_reader_bytes +
                   (budget_bytes ? 0 : write_buffer_bytes);
  for (const auto& [name, m] : collections) total += m.graph_bytes + m.blocks_bytes + m.row_state_bytes;
  return total;
}

Residency::Residency(std::optional<uint64_t> budget, storage::KvStore* kv, LogFn log,
                     Collections all, LoadHook hook)
    : budget_(budget), kv_(kv), log_(std::move(log)), all_(std::move(all)), hook_(std::move(hook)) {}

uint64_t Residency::RocksFloor(uint64_t budget) {
  return budget / 32 + storage::KvStore::WriteBufferLimit(budget);
}

Status Residency::Plan(bool at_open) {
  const std::vector<std::shared_ptr<Collection>> all = all_();
  if (!budget_) {
    for (const auto& c : all) c->SetWantedBlocks(c->spec().granularities.size());
    return Status::Ok();
  }
  const uint64_t budget = *budget_;
  struct Want {
    Collection* c;
    storage::Ladder ladder;
    uint64_t rows;
    size_t blocks;
    bool full = false;
  };
  std::vector<Want> wants;
  uint64_t fixed = RocksFloor(budget) + kv_->MemoryUse().table_readers;
  uint64_t graphs = 0, state = 0, index = 0;
  for (const auto& c : all) {
    const MemoryUse m = c->Memory();
    Want w{c.get(), storage::Ladder(c->spec().granularities), m.rows, c->IndexBlocks()};
    graphs += m.graph_bytes;
    state += m.row_state_bytes;
    index += ColumnCache::BytesFor(w.ladder, w.blocks, w.rows);
    wants.push_back(std::move(w));
  }
  fixed += graphs + state + index;
  uint64_t left = 0;
  if (fixed > budget) {
    const std::string what = fmt::format(
        "memory budget {} is below the {} that must stay in memory: HNSW graphs {}, per-row "
        "state {}, the blocks the graphs are built from {}, RocksDB's write buffers and minimum "
        "block cache {}", Mib(budget), Mib(fixed), Mib(graphs), Mib(state), Mib(index),
        Mib(fixed - graphs - state - index));
    if (at_open) return Status::InvalidArgument(what);
    std::lock_guard l(mu_);
    if (!over_logged_ && log_) log_(what + "; only those blocks stay in memory");
    over_logged_ = true;
  } else {
    left = budget - fixed;
    std::lock_guard l(mu_);
    over_logged_ = false;
  }
  // Level by level across the collections: the short blocks, which every query's early stages
  // read for many candidates, before the long ones, read for few.
  for (;;) {
    size_t level = SIZE_MAX;
    for (const Want& w : wants) {
      if (!w.full && w.blocks < w.ladder.blocks()) level = std::min(level, w.blocks);
    }
    if (level == SIZE_MAX) break;
    for (Want& w : wants) {
      if (w.full || w.blocks != level) continue;
      const uint64_t cost = ColumnCache::BytesFor(w.ladder, level + 1, w.rows) -
                            ColumnCache::BytesFor(w.ladder, level, w.rows);
      if (cost > left) {
        w.full = true;  // a prefix of the ladder: nothing above a block left in storage
      } else {
        left -= cost;
        ++w.blocks;
      }
    }
  }
  // The write buffers' share is in the cache: the memtables are charged to it (KvStore::Open).
  kv_->SetCacheCapacity(RocksFloor(budget) + left);
  for (const Want& w : wants) w.c->SetWantedBlocks(w.blocks);
  return Status::Ok();
}

void Residency::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void Residency::Stop() {
  stop_ = true;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  for (const auto& c : all_()) c->AbortLoading();  // nothing loads them any more
}

void Residency::Wake() {
  {
    std::lock_guard l(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

void Residency::Loop() {
  const auto t0 = std::chrono::steady_clock::now();
  bool pending = true;  // since the open, or since blocks last came back
  while (!stop_) {
    Plan(/*at_open=*/false).IgnoreError();  // only an open fails
    bool all_loaded = true;
    for (const auto& c : all_()) {
      if (stop_) return;
      if (c->Loaded()) continue;
      pending = true;
      // What Open left out, in the order that helps searches most: the graph (stage 0 scans
      // until it is in), the ids and attributes (filters wait for them), the blocks.
      auto part = [&](std::string_view name) {
        if (hook_) hook_(c->spec().name, name);
        return !stop_;
      };
      // Errors are logged by the collection.
      if (!c->GraphLoaded() && part("graph")) c->LoadGraph().IgnoreError();
      if (!c->RowsLoaded() && part("rows")) c->LoadRows(stop_).IgnoreError();
      if (part("blocks")) c->LoadBlocks(stop_).IgnoreError();
      all_loaded &= c->Loaded();
    }
    if (all_loaded && pending) {
      // Said when a user may have waited for it (searches were reading storage meanwhile).
      pending = false;
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (log_ && s >= 1.0) {
        uint64_t graphs = 0, rows = 0, bytes = 0;
        for (const auto& c : all_()) {
          const MemoryUse m = c->Memory();
          graphs += m.graph_bytes;
          rows += m.rows;
          bytes += m.blocks_bytes;
        }
        log_(fmt::format("loading finished, {:.1f} s after the open: HNSW graphs ({}), ids and "
                         "attributes of {} rows, resident vector blocks ({})", s, Mib(graphs),
                         rows, Mib(bytes)));
      }
    }
    ++rounds_;
    std::unique_lock l(mu_);
    cv_.wait_for(l, std::chrono::seconds(1), [&] { return stop_ || wake_; });
    wake_ = false;
  }
}

Status Residency::WaitLoaded() {
  const uint64_t begun = rounds_ + 1;  // the round running now may have planned already
  for (;;) {
    bool loaded = rounds_ > begun || !thread_.joinable();
    for (const auto& c : all_()) loaded &= c->Loaded();
    if (loaded || stop_) return Status::Ok();
    Wake();
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

DatabaseMemory Residency::Memory(
    const std::vector<std::pair<std::string, MemoryUse>>& collections) const {
  DatabaseMemory m;
  m.budget_bytes = budget_;
  const storage::KvStore::Memory r = kv_->MemoryUse();
  m.cache_capacity_bytes = r.cache_capacity;
  m.cache_usage_bytes = r.cache_usage;
  m.write_buffer_limit_bytes = r.write_buffer_limit;
  m.write_buffer_bytes = r.memtables;
  m.table_reader_bytes = r.table_readers;
  m.collections = collections;
  for (const auto& [name, u] : collections) m.loading |= u.resident_blocks < u.wanted_blocks;
  m.process_rss_bytes = ProcessRssBytes();
  return m;
}

HeapReturn::~HeapReturn() {
#if defined(__GLIBC__)
  malloc_trim(0);
#endif
}

uint64_t ProcessRssBytes() {
  unsigned long long pages_total = 0, pages_resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  const int got = std::fscanf(f, "%llu %llu", &pages_total, &pages_resident);
  std::fclose(f);
  const long page = sysconf(_SC_PAGESIZE);
  return got == 2 && page > 0 ? uint64_t(pages_resident) * uint64_t(page) : 0;
}

void Residency::TrimHeap() {
#if defined(__GLIBC__)
  if (!budget_) return;
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
  int64_t last = last_trim_ns_.load();
  if (now - last < std::chrono::nanoseconds(std::chrono::seconds(1)).count()) return;
  if (!last_trim_ns_.compare_exchange_strong(last, now)) return;
  malloc_trim(0);
#endif
}

}  // namespace mrldb
