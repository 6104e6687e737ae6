// The fault loop: random storage faults (which files, which operations, ENOSPC or EIO, after
// how many operations) under a random mix of inserts, upserts and deletes, with reopens while
// faulted and after. A model holds every acknowledged write; the database must always match it
// exactly (no lost row, no trace of a failed batch) in memory and in storage.
//
// CI runs a few iterations. scripts/faults runs many (MRLDB_FAULT_ITERATIONS) and records the
// line this test prints ("fault loop: ...") in docs/reliability.md.
#include <cstdlib>
#include <iostream>
#include <random>

#include <gtest/gtest.h>

#include "tests/storage/fault_test_util.h"

namespace mrldb::testing {
namespace {

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

struct LoopFigures {
  uint64_t iterations = 0, writes = 0, acknowledged_rows = 0, refused = 0, injected = 0;
  uint64_t reopens = 0, read_only_opens = 0, failed_flushes = 0, lost = 0, phantom = 0;
};

class FaultLoop {
 public:
  FaultLoop(std::string path, uint32_t seed) : path_(std::move(path)), rng_(seed) {}

  void Run(uint64_t iterations, LoopFigures* f) {
    fs_ = std::make_shared<FaultFs>();
    ASSERT_NO_FATAL_FAILURE(Open(f));
    ASSERT_OK(db_->CreateCollection(FaultSpec()));
    for (uint64_t it = 0; it < iterations; ++it) {
      ++f->iterations;
      Arm();
      // Write until the fault shows (or a while, when it hits a file no write touches).
      for (int op = 0; op < 40; ++op) {
        if (!WriteOnce(f)) break;
      }
      ASSERT_NO_FATAL_FAILURE(Check(f));  // reads work during the fault
      if (Chance(0.3)) {
        ASSERT_NO_FATAL_FAILURE(Reopen(f));  // still faulted
      }
      fs_->Heal();
      Trace("heal");
      // The fault is gone: the next write recovers (recovery_interval is 0 here).
      bool wrote = false;
      for (int attempt = 0; attempt < 3 && !wrote; ++attempt) wrote = WriteOnce(f);
      EXPECT_TRUE(wrote) << "writes did not resume after the fault cleared (iteration " << it
                         << ")\n" << TraceText();
      ASSERT_NO_FATAL_FAILURE(Check(f));
      if (Chance(0.3)) {
        ASSERT_NO_FATAL_FAILURE(Reopen(f));
        ASSERT_NO_FATAL_FAILURE(Check(f));
      }
      if (::testing::Test::HasFailure()) return;
    }
    f->injected = fs_->failures();
  }

 private:
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  // Mostly faults a write meets soon (the WAL, appends); the rest hit flushes, MANIFEST writes,
  // file creation, syncs and reopens.
  void Arm() {
    unsigned kinds = static_cast<unsigned>(Below(16));
    if (Chance(0.6) || !kinds) kinds |= FaultFs::kWal;
    unsigned ops = static_cast<unsigned>(Below(8));
    if (Chance(0.6) || !ops) ops |= FaultFs::kAppend;
    const auto error = Chance(0.5) ? FaultFs::Error::kNoSpace : FaultFs::Error::kIO;
    const uint64_t skip = Below(20);
    fs_->FailAfter(skip, error, kinds, ops);
    Trace("arm skip=" + std::to_string(skip) + " kinds=" + std::to_string(kinds) +
          " ops=" + std::to_string(ops) + (error == FaultFs::Error::kIO ? " EIO" : " ENOSPC"));
  }

  void Trace(std::string event) {
    trace_.push_back(std::move(event));
    if (trace_.size() > 40) trace_.erase(trace_.begin());
  }
  std::string TraceText() const {
    std::string t = "last events:\n";
    for (const auto& e : trace_) t += "  " + e + "\n";
    t += "info log since the last open:\n";
    for (const auto& l : log_) t += "  " + l + "\n";
    return t;
  }

  void Open(LoopFigures* f) {
    db_.reset();
    log_.clear();
    auto db = OpenFaulty(path_, fs_, &log_);
    if (!db.ok()) {
      // An open that cannot even read (EIO on a file it must create) fails; with the fault
      // gone it must open.
      fs_->Heal();
      db = OpenFaulty(path_, fs_, &log_);
    }
    ASSERT_TRUE(db.ok()) << db.status().ToString();
    db_ = std::move(db).value();
    for (const auto& l : log_) f->read_only_opens += l.find("opened read-only") != std::string::npos;
  }

  void Reopen(LoopFigures* f) {
    ++f->reopens;
    Trace(std::string("reopen") + (fs_->failing() ? " (faulted)" : ""));
    db_->Close().IgnoreError();  // a faulted close may fail to save the graph
    ASSERT_NO_FATAL_FAILURE(Open(f));
  }

  // One random write; false when it was refused (Status::ReadOnly).
  bool WriteOnce(LoopFigures* f) {
    ++f->writes;
    if (Chance(0.05)) {
      // Memtable flush and compaction (Database::Flush): their files fail too. A refused flush
      // leaves the database read-only; a failed compaction does not stop writes.
      Status flushed = db_->Flush();
      if (!flushed.ok()) ++f->failed_flushes;
      Trace("flush: " + flushed.ToString().substr(0, 60));
    }
    const int kind = static_cast<int>(Below(10));
    std::vector<std::pair<int64_t, int64_t>> rows;
    Status s;
    WriteOptions w;
    w.sync = Chance(0.3) ? 1 : 0;
    if (kind < 6 || model_.empty()) {  // insert new ids
      const uint64_t n = 1 + Below(32);
      for (uint64_t i = 0; i < n; ++i) rows.emplace_back(next_id_++, 0);
      s = db_->Insert("c", FaultBatch(rows), w);
    } else if (kind < 8) {  // upsert: some stored, some new
      const uint64_t n = 1 + Below(16);
      for (uint64_t i = 0; i < n; ++i) {
        int64_t id = Chance(0.7) ? Pick() : next_id_++;
        bool dup = false;
        for (auto& r : rows) dup |= r.first == id;
        if (!dup) rows.emplace_back(id, ++version_);
      }
      s = db_->Upsert("c", FaultBatch(rows), w);
    } else {  // delete
      std::vector<Key> ids;
      const uint64_t n = 1 + Below(8);
      for (uint64_t i = 0; i < n; ++i) ids.emplace_back(Pick());
      auto deleted = db_->Delete("c", ids, w);
      s = deleted.status();
      Trace("delete " + std::to_string(ids.size()) + ": " + s.ToString().substr(0, 60));
      if (s.ok()) {
        for (const Key& k : ids) model_.erase(std::get<int64_t>(k));
        return true;
      }
    }
    Trace(std::string(kind < 6 ? "insert " : "upsert ") + std::to_string(rows.size()) + " from " +
          std::to_string(rows.empty() ? 0 : rows[0].first) + " sync=" + std::to_string(w.sync) +
          ": " + s.ToString().substr(0, 70));
    if (s.ok()) {
      for (auto [id, v] : rows) model_[id] = v;
      f->acknowledged_rows += rows.size();
      return true;
    }
    EXPECT_TRUE(s.IsReadOnly()) << s.ToString();
    ++f->refused;
    return false;
  }

  int64_t Pick() {
    if (model_.empty()) return next_id_;
    auto it = model_.begin();
    std::advance(it, static_cast<long>(Below(model_.size())));
    return it->first;
  }

  void Check(LoopFigures* f) {
    FaultDiff d = CompareWithModel(*db_, model_);
    f->lost += d.lost;
    f->phantom += d.phantom;
    EXPECT_EQ(d.lost, 0u) << d.first << "\n" << TraceText();
    EXPECT_EQ(d.phantom, 0u) << d.first << "\n" << TraceText();
    EXPECT_EQ(StoredRows(*db_), model_.size()) << TraceText();
  }

  const std::string path_;
  std::vector<std::string> trace_;  // the last events, printed with a failure
  std::mt19937_64 rng_;
  std::shared_ptr<FaultFs> fs_;
  std::vector<std::string> log_;  // the open database's info log (outlives it)
  std::unique_ptr<Database> db_;
  FaultModel model_;
  int64_t next_id_ = 1;
  int64_t version_ = 0;
};

TEST(FaultLoopTest, RandomFaultsLoseNoAcknowledgedRowAndLeaveNoFailedBatch) {
  const uint64_t iterations = EnvOr("MRLDB_FAULT_ITERATIONS", 12);
  const auto seed = static_cast<uint32_t>(EnvOr("MRLDB_FAULT_SEED", 1));
  TempDir dir;
  LoopFigures f;
  FaultLoop(dir.path(), seed).Run(iterations, &f);
  std::cout << "fault loop: seed=" << seed << " iterations=" << f.iterations
            << " writes=" << f.writes << " acknowledged_rows=" << f.acknowledged_rows
            << " refused_writes=" << f.refused << " injected_failures=" << f.injected
            << " failed_flushes=" << f.failed_flushes << " reopens=" << f.reopens
            << " read_only_opens=" << f.read_only_opens
            << " lost_rows=" << f.lost << " phantom_rows=" << f.phantom << std::endl;
  EXPECT_GT(f.refused, 0u);  // the faults were felt
}

}  // namespace
}  // namespace mrldb::testing
