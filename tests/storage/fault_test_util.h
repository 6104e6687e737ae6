// Helpers of the storage-fault tests: a database opened over FaultFs, and a model of what the
// database must hold (every acknowledged write, nothing else) checked against it.
#pragma once

#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/database_internal.h"
#include "mrldb/database.h"
#include "tests/storage/fault_fs.h"
#include "tests/test_util.h"

namespace mrldb::testing {

inline constexpr uint32_t kFaultDim = 16;

// Collection "c": BIGINT ids, dim 16 (ladder 8, 16) or `dim` (ladder 64, dim), attribute
// "version" (INT).
inline CollectionSpec FaultSpec(uint32_t dim = kFaultDim) {
  CollectionSpec s;
  s.name = "c";
  s.dim = dim;
  s.granularities = dim == kFaultDim ? std::vector<uint32_t>{8, 16} : std::vector<uint32_t>{64, dim};
  s.metric = Metric::kL2;
  s.id_type = IdType::kBigint;
  s.attributes = {{"version", AttrType::kInt}};
  return s;
}

// The vector of row `id` at `version`: deterministic, so a reader can check every value.
inline std::vector<float> FaultVector(int64_t id, int64_t version, uint32_t dim = kFaultDim) {
  std::vector<float> v(dim);
  for (uint32_t d = 0; d < dim; ++d) {
    v[d] = static_cast<float>(std::sin(0.37 * static_cast<double>(id) + 0.11 * d +
                                       1.3 * static_cast<double>(version)));
  }
  return v;
}

// What the collection must hold: id -> version.
using FaultModel = std::map<int64_t, int64_t>;

inline InsertBatch FaultBatch(const std::vector<std::pair<int64_t, int64_t>>& rows,
                              uint32_t dim = kFaultDim) {
  InsertBatch b;
  for (auto [id, version] : rows) b.Add(Key{id}, FaultVector(id, version, dim), {Value{version}});
  return b;
}

// Differences between the collection (read through Find, i.e. the in-memory state) and the
// model: rows the model has that are missing or wrong, and rows the model does not have.
struct FaultDiff {
  uint64_t lost = 0;     // acknowledged, but missing or holding another version
  uint64_t phantom = 0;  // present, but never acknowledged (a failed batch, or part of one)
  std::string first;     // a description of the first difference
};

inline FaultDiff CompareWithModel(Database& db, const FaultModel& model,
                                  uint32_t dim = kFaultDim) {
  FaultDiff diff;
  FindOptions fo;
  fo.vector_dims = dim;
  auto rows = db.Find("c", fo);
  if (!rows.ok()) {
    diff.lost = model.size();
    diff.first = "Find failed: " + rows.status().ToString();
    return diff;
  }
  std::map<int64_t, const Record*> seen;
  for (const Record& r : *rows) seen[std::get<int64_t>(r.id)] = &r;
  for (auto [id, version] : model) {
    auto it = seen.find(id);
    const bool ok = it != seen.end() && it->second->attributes.size() == 1 &&
                    it->second->attributes[0] == Value{version} &&
                    it->second->vector == FaultVector(id, version, dim);
    if (!ok) {
      if (diff.first.empty()) diff.first = "acknowledged row " + std::to_string(id) + " lost";
      ++diff.lost;
    }
  }
  for (const auto& [id, r] : seen) {
    if (!model.count(id)) {
      if (diff.first.empty()) diff.first = "row " + std::to_string(id) + " was never acknowledged";
      ++diff.phantom;
    }
  }
  return diff;
}

// Live rows as storage (not the in-memory state) holds them, via ScanPrefix.
inline uint64_t StoredRows(Database& db, uint32_t dim = kFaultDim) {
  uint64_t n = 0;
  auto st = db.ScanPrefix(
      "c", dim,
      [](void* ctx, size_t k, const uint64_t*, const float*) { *static_cast<uint64_t*>(ctx) += k; },
      &n);
  return st.ok() ? n : ~uint64_t{0};
}

inline Result<std::unique_ptr<Database>> OpenFaulty(const std::string& path,
                                                    const std::shared_ptr<FaultFs>& fs,
                                                    std::vector<std::string>* log = nullptr) {
  DatabaseOptions o;
  o.gpu = false;
  o.threads = 2;
  o.info_log = [log](std::string_view line) {  // called by RocksDB's threads too
    static std::mutex mu;
    std::lock_guard<std::mutex> l(mu);
    if (log) log->emplace_back(line);
  };
  storage::StorageHooks hooks;
  hooks.file_system = fs;
  hooks.recovery_interval = std::chrono::milliseconds(0);  // every write may try to recover
  return OpenDatabase(path, o, hooks);
}

}  // namespace mrldb::testing
