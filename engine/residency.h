// Residency: the database's memory budget (DatabaseOptions::memory_budget_bytes) and the
// background loader (docs/architecture.md, "Memory budget", "Open in seconds"): after an open
// it loads each collection's saved graph, its ids and attributes and the vector blocks the
// budget keeps in memory; later, the blocks the budget brings back. The planner gives every collection the blocks its graph is built from, then the
// ladder's blocks from the shortest up, level by level across the collections, while they fit;
// what is left goes to RocksDB's block cache, through which the other blocks are read.
//
// Thread safety: all methods may be called concurrently; one loader thread runs between Start
// and Stop.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/collection.h"
#include "mrldb/database.h"
#include "storage/kv_store.h"

namespace mrldb {

// This process's resident set size in bytes (/proc/self/statm; 0 where unavailable).
uint64_t ProcessRssBytes();

// Its destructor hands free heap pages back to the system (glibc's malloc_trim). A database
// holds one as its last-destroyed member: glibc keeps what a closed database freed (its block
// chunks and cache entries come from the heap once freed large blocks raised the mmap
// threshold), so a process that closed one and opened another carried both.
struct HeapReturn {
  HeapReturn() = default;
  HeapReturn(const HeapReturn&) = delete;
  HeapReturn& operator=(const HeapReturn&) = delete;
  ~HeapReturn();
};

class Residency {
 public:
  using Collections = std::function<std::vector<std::shared_ptr<Collection>>()>;
  // `hook`: DatabaseOptions::load_hook (may be empty).
  using LoadHook = std::function<void(std::string_view collection, std::string_view part)>;
  Residency(std::optional<uint64_t> budget, storage::KvStore* kv, LogFn log, Collections all,
            LoadHook hook = {});
  ~Residency() { Stop(); }

  // Chooses every collection's resident blocks and sizes the block cache. Errors (only when
  // `at_open`): InvalidArgument when the graphs, row state and index blocks alone exceed the
  // budget; later such an excess is logged once and the blocks above the index ones go back to
  // storage.
  Status Plan(bool at_open);
  void Start();
  void Stop();
  // Plans again soon (rows were written, a collection created or altered).
  void Wake();
  // Returns once a planning round that began after the call has ended and every collection is
  // loaded: graph, ids and attributes, wanted blocks (or failed to load).
  Status WaitLoaded();
  DatabaseMemory Memory(const std::vector<std::pair<std::string, MemoryUse>>& collections) const;

  // The smallest budget the checks accept, beside the graphs and row state: the block cache's
  // floor and RocksDB's write buffers (for error messages and tests).
  static uint64_t RocksFloor(uint64_t budget);

  // Under a budget, hands the allocator's free heap pages back to the system (glibc's
  // malloc_trim), at most once a second: freed batches, scratch and load buffers otherwise stay
  // resident (measured: 825 MiB RSS, 491 MiB after a trim, at 100k x 768 under 256 MiB). Called
  // by the indexer between its rounds. No-op without a budget or without glibc.
  void TrimHeap();

 private:
  void Loop();

  const std::optional<uint64_t> budget_;
  storage::KvStore* const kv_;
  const LogFn log_;
  const Collections all_;
  const LoadHook hook_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool wake_ = false;         // GUARDED_BY(mu_)
  bool over_logged_ = false;  // GUARDED_BY(mu_): the excess was logged
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> rounds_{0};  // planning rounds of the loader ended
  std::atomic<int64_t> last_trim_ns_{0};
  std::thread thread_;
};

}  // namespace mrldb
