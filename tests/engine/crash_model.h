// The crash harness's model (tests/engine/crash_harness_test.cc, tests/server/crash_serve_test.cc):
// the operations a killed writer logged (intent before the call, acknowledgement after it
// returned), the rows they leave, the vectors and attributes each row version must have, and the
// checks of a reopened database against them. The writer, the verifier and the parent all
// derive the expected state from the same log with these functions.
//
// Log lines (text, each ended by '\n'; a last line without one was cut by the kill and is
// ignored):
//   I <seq> i <n> <id> <ver>...   insert of n new rows        I <seq> d <n> <id>...   delete
//   I <seq> u <n> <id> <ver>...   upsert                      I <seq> k               Checkpoint
//   I <seq> c <first> <n> <batch> COPY of ids first..first+n-1 in batches of `batch` rows
//   I <seq> v                     VACUUM (changes no row)
//   A <seq> <count>               returned: 1 (atomic op) or the rows COPY reported committed
//   R <seq> <count>               the verifier's finding for an op the kill interrupted
//   S                             the writer opened the database
#pragma once

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "mrldb/database.h"
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
  char kind = 0;                                  // i u d c k v
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

// A row present with exactly the bytes and attributes of `v`.
inline bool HasVersion(Database& db, int64_t id, Version v) {
  auto r = db.Get("c", Key{id});
  if (!r.ok()) return false;
  const std::vector<float> want = VectorOf(id, v.ver);
  return r->vector.size() == want.size() &&
         std::memcmp(r->vector.data(), want.data(), want.size() * sizeof(float)) == 0 &&
         r->attributes == AttributesOf(id, v.ver, v.copied);
}

struct Findings {
  uint64_t lost = 0, wrong = 0, ghosts = 0, partial = 0, graph_bad = 0, bad_rebuilds = 0,
           search_bad = 0, live = 0, acked_rows = 0, pending_at_open = 0, rebuilt = 0,
           killed_in_vacuum = 0;
  double open_ms = 0, indexed_ms = 0;
};

// How much of the interrupted operation the database holds; counts partial batches and lost
// acknowledged COPY rows.
inline uint64_t Resolve(Database& db, const Model& m, const Op& op, Findings* f) {
  auto all_or_nothing = [&](size_t have, size_t of) -> uint64_t {
    if (have != 0 && have != of) ++f->partial;
    return have == of ? 1 : 0;
  };
  switch (op.kind) {
    case 'i':
    case 'u': {
      size_t have = 0;
      for (auto [id, ver] : op.rows) have += HasVersion(db, id, {ver, false});
      return all_or_nothing(have, op.rows.size());
    }
    case 'd': {
      size_t gone = 0, of = 0;
      for (int64_t id : op.ids) {
        if (!m.live.count(id)) continue;
        ++of;
        gone += !db.Get("c", Key{id}).ok();
      }
      return of == 0 ? 1 : all_or_nothing(gone, of);
    }
    case 'c': {
      uint64_t have = 0;
      while (have < op.n && HasVersion(db, op.first + int64_t(have), {0, true})) ++have;
      for (uint64_t i = have; i < op.n; ++i) {
        if (db.Get("c", Key{op.first + int64_t(i)}).ok()) ++f->partial;  // not a prefix
      }
      if (have % op.batch != 0 && have != op.n) ++f->partial;
      if (op.acked && have < *op.acked) f->lost += *op.acked - have;
      return have;
    }
    default: return 1;
  }
}

// Exact search against the model: the k nearest (L2, full dims) of the model's rows.
inline void CheckSearches(Database& db, const Model& m, uint64_t seed, Findings* f) {
  std::mt19937_64 rng(seed);
  for (int qi = 0; qi < 3; ++qi) {
    const auto q = VectorOf(-1000000 - int64_t(rng() % 1000000), 0);
    std::vector<std::pair<double, int64_t>> ref;
    for (const auto& [id, v] : m.live) {
      const auto x = VectorOf(id, v.ver);
      double d = 0;
      for (uint32_t i = 0; i < kDim; ++i) d += (double(q[i]) - x[i]) * (double(q[i]) - x[i]);
      ref.emplace_back(std::sqrt(d), id);  // L2 distances are Euclidean
    }
    std::sort(ref.begin(), ref.end());
    const size_t k = std::min<size_t>(10, ref.size());
    ExactSearchOptions eo;
    eo.k = 10;
    auto hits = db.ExactSearch("c", q, eo);
    if (!hits.ok() || hits->size() != k) {
      ++f->search_bad;
      continue;
    }
    for (size_t i = 0; i < k; ++i) {
      // Same rank distances (ties may swap ids); every id a live row at its true distance.
      const auto& h = (*hits)[i];
      const auto* id = std::get_if<int64_t>(&h.id);
      const double tol = 1e-4 * (1 + ref[i].first);
      if (!id || !m.live.count(*id) || std::abs(double(h.distance) - ref[i].first) > tol) {
        ++f->search_bad;
      }
    }
    SearchOptions so;
    so.k = 10;
    auto approx = db.Search("c", q, so);
    if (!approx.ok() || approx->size() != k) {
      ++f->search_bad;
      continue;
    }
    for (const auto& h : *approx) {
      if (!m.live.count(std::get<int64_t>(h.id))) ++f->search_bad;
    }
  }
}


// Every row of the model present with its bytes and attributes (else lost or wrong), no other
// row (ghosts); the acknowledged rows of the log and the live rows.
inline void CheckRows(Database& db, const Model& m, Findings* f) {
  for (const auto& [id, v] : m.live) {
    if (!db.Get("c", Key{id}).ok()) {
      ++f->lost;
    } else if (!HasVersion(db, id, v)) {
      ++f->wrong;
    }
  }
  for (int64_t id = 0; id < m.next_id; ++id) {
    if (!m.live.count(id) && db.Get("c", Key{id}).ok()) ++f->ghosts;
  }
  for (const Op& op : m.ops) {
    if (op.acked) f->acked_rows += op.kind == 'c' ? *op.acked : op.rows.size();
  }
  auto info = db.DescribeCollection("c");
  f->live = info.ok() ? info->live_rows : 0;
  if (f->live > m.live.size()) f->ghosts += f->live - m.live.size();
}

// After WaitForIndexing: the graph holds exactly the live rows; a rebuild (log line) is only
// allowed when there was no checkpoint yet.
inline void CheckGraph(Database& db, const std::vector<std::string>& log, Findings* f) {
  auto info = db.DescribeCollection("c");
  if (!info.ok() || info->index_live_rows != info->live_rows || info->index_pending_rows != 0) {
    ++f->graph_bad;
  }
  for (const auto& l : log) {
    if (l.find("rebuilding") == std::string::npos) continue;
    ++f->rebuilt;
    if (l.find("no saved graph") == std::string::npos) {
      ++f->bad_rebuilds;
      fmt::print(stderr, "verifier: {}\n", l);
    }
  }
}

inline void ExpectClean(const Findings& f, uint64_t iteration) {
  EXPECT_EQ(f.lost, 0u) << "iteration " << iteration;
  EXPECT_EQ(f.wrong, 0u) << "iteration " << iteration;
  EXPECT_EQ(f.ghosts, 0u) << "iteration " << iteration;
  EXPECT_EQ(f.partial, 0u) << "iteration " << iteration;
  EXPECT_EQ(f.graph_bad, 0u) << "iteration " << iteration;
  EXPECT_EQ(f.bad_rebuilds, 0u) << "iteration " << iteration;
  EXPECT_EQ(f.search_bad, 0u) << "iteration " << iteration;
}

}  // namespace mrldb::crash
