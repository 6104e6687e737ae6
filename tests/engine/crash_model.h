// The crash harness's model (tests/engine/crash_harness_test.cc): the operations a killed writer
// logged (intent before the call, acknowledgement after it returned), the rows they leave, and
// the vectors and attributes each row version must have. The writer, the verifier and the
// parent all derive the expected state from the same log with these functions.
//
// Log lines (text, each ended by '\n'; a last line without one was cut by the kill and is
// ignored):
//   I <seq> i <n> <id> <ver>...   insert of n new rows        I <seq> d <n> <id>...   delete
//   I <seq> u <n> <id> <ver>...   upsert                      I <seq> k               Checkpoint
//   I <seq> c <first> <n> <batch> COPY of ids first..first+n-1 in batches of `batch` rows
//   A <seq> <count>               returned: 1 (atomic op) or the rows COPY reported committed
//   R <seq> <count>               the verifier's finding for an op the kill interrupted
//   S                             the writer opened the database
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mrldb/types.h"
#include "tests/test_util.h"

namespace mrldb::crash {

constexpr uint32_t kDim = 48;  // ladder 16, 32, 48; index_dim 32

inline CollectionSpec Spec() {
  CollectionSpec s;
  s.name = "c";
  s.dim = kDim;
  s.granularities = {16, 32, 48};
  s.index_dim = 32;
  s.metric = Metric::kL2;
  s.id_type = IdType::kBigint;
  s.attributes = {{"ver", AttrType::kInt}, {"tag", AttrType::kText}};
  return s;
}

inline uint64_t SplitMix(uint64_t* s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The vector of version `ver` of row `id`.
inline std::vector<float> VectorOf(int64_t id, uint32_t ver) {
  uint64_t s = uint64_t(id) * 1000003u + ver;
  std::vector<float> v(kDim);
  for (float& x : v) x = float(SplitMix(&s) >> 40) / float(1 << 24) * 2.0f - 1.0f;
  return v;
}

// Rows written by INSERT/UPSERT carry (ver, "t<id>_<ver>"); COPY rows (npy) carry NULLs.
inline std::vector<Value> AttributesOf(int64_t id, uint32_t ver, bool copied) {
  if (copied) return {Value{}, Value{}};
  return {Value{int64_t(ver)}, Value{fmt::format("t{}_{}", id, ver)}};
}

struct Version {
  uint32_t ver = 0;
  bool copied = false;
};

struct Op {
  uint64_t seq = 0;
  char kind = 0;                                  // i u d c k
  std::vector<std::pair<int64_t, uint32_t>> rows;  // i, u: (id, version)
  std::vector<int64_t> ids;                        // d
  int64_t first = 0;                               // c
  uint64_t n = 0, batch = 0;                       // c
  std::optional<uint64_t> acked;                   // last A count
  std::optional<uint64_t> resolved;                // R count
};

struct Model {
  std::vector<Op> ops;
  std::map<int64_t, Version> live;
  int64_t next_id = 0;

  // Applies `op` as far as `count` says (atomic ops: 0 or 1; COPY: rows).
  void Apply(const Op& op, uint64_t count) {
    switch (op.kind) {
      case 'i':
      case 'u':
        if (count) {
          for (auto [id, ver] : op.rows) live[id] = {ver, false};
        }
        break;
      case 'd':
        if (count) {
          for (int64_t id : op.ids) live.erase(id);
        }
        break;
      case 'c':
        for (uint64_t i = 0; i < count && i < op.n; ++i) live[op.first + int64_t(i)] = {0, true};
        break;
      default: break;
    }
  }
  // The operation the kill interrupted: the last one neither completed nor resolved.
  Op* InFlight() {
    if (ops.empty()) return nullptr;
    Op& op = ops.back();
    if (op.resolved) return nullptr;
    if (op.acked && (op.kind != 'c' || *op.acked == op.n)) return nullptr;
    return &op;
  }
};

// Replays the log at `path`: every completed or resolved op applied; the interrupted one (if
// any) left out of `live` (see InFlight).
inline Model ReadLog(const std::string& path) {
  Model m;
  std::string text = testing::ReadFile(path);
  const size_t end = text.rfind('\n');
  text.resize(end == std::string::npos ? 0 : end + 1);
  std::istringstream in(text);
  std::string line;
  std::map<uint64_t, size_t> index;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::string tag;
    l >> tag;
    if (tag == "I") {
      Op op;
      l >> op.seq >> op.kind;
      uint64_t n = 0;
      if (op.kind == 'i' || op.kind == 'u') {
        l >> n;
        op.rows.resize(n);
        for (auto& [id, ver] : op.rows) {
          l >> id >> ver;
          m.next_id = std::max(m.next_id, id + 1);
        }
      } else if (op.kind == 'd') {
        l >> n;
        op.ids.resize(n);
        for (auto& id : op.ids) l >> id;
      } else if (op.kind == 'c') {
        l >> op.first >> op.n >> op.batch;
        m.next_id = std::max<int64_t>(m.next_id, op.first + int64_t(op.n));
      }
      index[op.seq] = m.ops.size();
      m.ops.push_back(std::move(op));
    } else if (tag == "A" || tag == "R") {
      uint64_t seq = 0, count = 0;
      l >> seq >> count;
      auto it = index.find(seq);
      if (it == index.end()) continue;
      (tag == "A" ? m.ops[it->second].acked : m.ops[it->second].resolved) = count;
    }
  }
  for (Op& op : m.ops) {
    if (op.resolved) {
      m.Apply(op, *op.resolved);
    } else if (op.acked && (op.kind != 'c' || *op.acked == op.n)) {
      m.Apply(op, *op.acked);
    }
  }
  return m;
}

// Appends one line to the log (a single write: a kill leaves it whole or absent, or cut, which
// ReadLog ignores). No fsync: a SIGKILL does not lose the page cache, and the database runs with
// DatabaseOptions::sync = false, which promises exactly that.
inline void AppendLog(int fd, const std::string& line) {
  const std::string s = line + "\n";
  const char* p = s.data();
  size_t left = s.size();
  while (left > 0) {
    const ssize_t w = ::write(fd, p, left);
    if (w <= 0) _exit(90);
    p += w;
    left -= size_t(w);
  }
}

}  // namespace mrldb::crash
