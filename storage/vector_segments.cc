#include "storage/vector_segments.h"

#include <algorithm>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include <fmt/format.h>

#include "storage/key_format.h"

namespace mrldb::storage {

namespace {

static_assert(std::endian::native == std::endian::little, "row groups are little-endian float32");

size_t GroupBytes(uint32_t width, size_t n) { return n * sizeof(float) * (size_t{width} + 1); }

// Rows in a group value of `bytes` bytes, or 0 when the size is not a whole number of rows.
size_t GroupRowsIn(uint32_t width, size_t bytes) {
  const size_t row = GroupBytes(width, 1);
  return bytes % row == 0 ? bytes / row : 0;
}

struct AlignedFloats {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  std::unique_ptr<float[], Free> p;
  void Resize(size_t n) {
    void* m = std::aligned_alloc(64, std::max<size_t>(64, (n * sizeof(float) + 63) / 64 * 64));
    if (m == nullptr) throw std::bad_alloc();
    p.reset(static_cast<float*>(m));
  }
};

// One block's position in a scan: the group under the iterator.
struct Cursor {
  std::unique_ptr<BoundedIterator> it;
  uint64_t first = 0;
  size_t n = 0;  // 0: no group loaded yet
  const char* value = nullptr;
};

}  // namespace

Status LoadGroupTails(const KvStore& kv, uint32_t cid, const Ladder& ladder, uint64_t rows,
                      GroupTails* tails) {
  tails->values.assign(ladder.blocks(), std::string());
  for (size_t b = 0; b < ladder.blocks(); ++b) {
    const uint32_t g = GroupRows(ladder.width(b));
    const size_t partial = rows % g;
    if (partial == 0) continue;
    const uint64_t first = rows - partial;
    Status st = kv.Get(Cf::kVectors, SegmentKey(cid, static_cast<uint16_t>(b), first),
                       &tails->values[b]);
    if (st.IsNotFound()) {
      return Status::Corruption(fmt::format("collection {}: block {} has no row group at row {}",
                                            cid, b, first));
    }
    MRLDB_RETURN_IF_ERROR(st);
    if (GroupRowsIn(ladder.width(b), tails->values[b].size()) != partial) {
      return Status::Corruption(fmt::format(
          "collection {}: block {} row group at row {} has {} bytes, not {} rows", cid, b, first,
          tails->values[b].size(), partial));
    }
  }
  return Status::Ok();
}

void PutVectorGroups(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* cf, uint32_t cid,
                     const Ladder& ladder, uint64_t first_row, size_t n, const float* rows,
                     const float* sqnorms, GroupTails* tails) {
  const uint32_t dim = ladder.dim();
  const size_t nb = ladder.blocks();
  tails->values.resize(nb);
  std::string value;
  for (size_t b = 0; b < nb; ++b) {
    const uint32_t begin = ladder.begin(b), width = ladder.width(b), g = GroupRows(width);
    std::string& tail = tails->values[b];
    size_t done = 0;
    while (done < n) {
      const uint64_t row = first_row + done;
      const uint64_t group = row - row % g;
      // The group's earlier rows come from the tail (only the first group can have any).
      const size_t before = row - group;
      const size_t count = std::min<size_t>(g - before, n - done);
      const size_t total = before + count;
      value.assign(GroupBytes(width, total), '\0');
      char* norms = value.data();
      char* values = value.data() + total * sizeof(float);
      if (before > 0) {
        // tail: `before` norms, then `before` rows.
        std::memcpy(norms, tail.data(), before * sizeof(float));
        std::memcpy(values, tail.data() + before * sizeof(float), before * width * sizeof(float));
      }
      for (size_t r = 0; r < count; ++r) {
        const size_t in = done + r;
        std::memcpy(norms + (before + r) * sizeof(float), sqnorms + in * nb + b, sizeof(float));
        std::memcpy(values + (before + r) * width * sizeof(float), rows + in * dim + begin,
                    width * sizeof(float));
      }
      batch->Put(cf, SegmentKey(cid, static_cast<uint16_t>(b), group), value);
      if (total < g) {
        tail = value;
      } else {
        tail.clear();
      }
      done += count;
    }
  }
}

Status ScanVectorRows(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t b_from,
                      size_t b_to, uint64_t end, size_t step,
                      const std::function<bool(const RowsView&)>& fn,
                      SegmentScanCounters* counters) {
  std::vector<Cursor> cursors(b_to);
  std::vector<AlignedFloats> values(b_to), norms(b_to);
  std::vector<const float*> vptr(b_to, nullptr), nptr(b_to, nullptr);
  for (size_t b = b_from; b < b_to; ++b) {
    std::string prefix = SegmentPrefix(cid, static_cast<uint16_t>(b));
    cursors[b].it = kv.NewIterator(Cf::kVectors, prefix, PrefixSuccessor(prefix),
                                   /*fill_cache=*/false);
    cursors[b].it->SeekToFirst();
    values[b].Resize(step * ladder.width(b));
    norms[b].Resize(step);
    vptr[b] = values[b].p.get();
    nptr[b] = norms[b].p.get();
  }
  for (uint64_t r0 = 0; r0 < end; r0 += step) {
    const uint64_t r1 = std::min<uint64_t>(end, r0 + step);
    for (size_t b = b_from; b < b_to; ++b) {
      Cursor& c = cursors[b];
      const uint32_t width = ladder.width(b), g = GroupRows(width);
      for (uint64_t row = r0; row < r1;) {
        if (c.n == 0 || row >= c.first + c.n) {
          rocksdb::Iterator& it = c.it->get();
          if (c.n != 0) it.Next();
          if (!it.Valid()) {
            MRLDB_RETURN_IF_ERROR(FromRocks(it.status(), "scanning vector row groups"));
            return Status::Corruption(fmt::format(
                "collection {}: block {} ends at row {} of {}", cid, b, row, end));
          }
          rocksdb::Slice key = it.key(), value = it.value();
          const size_t n = GroupRowsIn(width, value.size());
          const uint64_t first = key.size() == kSegmentKeySize
                                     ? DecodeBigEndian64(key.data() + kSegmentKeySize - 8)
                                     : ~uint64_t{0};
          if (first != row || n == 0 || n > g || first % g != 0 || (n < g && first + n < end)) {
            return Status::Corruption(fmt::format(
                "collection {}: block {} has a malformed row group where row {} was expected",
                cid, b, row));
          }
          c.first = first;
          c.n = n;
          c.value = value.data();
        }
        const size_t k = std::min<uint64_t>(r1, c.first + c.n) - row;
        const size_t off = row - c.first;
        std::memcpy(values[b].p.get() + (row - r0) * width,
                    c.value + (c.n + off * width) * sizeof(float), k * width * sizeof(float));
        std::memcpy(norms[b].p.get() + (row - r0), c.value + off * sizeof(float),
                    k * sizeof(float));
        if (counters) counters->value_bytes += k * width * sizeof(float);
        if (off == 0 && counters) ++counters->segments;
        row += k;
      }
    }
    RowsView view;
    view.first_row = r0;
    view.n = r1 - r0;
    view.blocks = vptr;
    view.sqnorms = nptr;
    if (!fn(view)) return Status::Ok();
  }
  return Status::Ok();
}

Status ReadBlockRows(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t b,
                     std::span<const uint64_t> rows, float* out, float* sqnorms,
                     ReadCounters* counters) {
  const uint32_t width = ladder.width(b), g = GroupRows(width);
  // A MultiGet pins the blocks it returns in the block cache until they are copied out: at most
  // this many per call, so reads never hold more than kBatch pages beyond the cache's capacity.
  constexpr size_t kBatch = 128;
  // Per-thread scratch: a query's reads allocate nothing in steady state.
  thread_local std::vector<uint64_t> firsts;
  thread_local std::vector<std::pair<uint64_t, uint32_t>> order;  // (group first, row index)
  thread_local std::vector<std::string> keys;
  thread_local std::vector<rocksdb::Slice> slices;
  thread_local std::vector<rocksdb::PinnableSlice> found;
  order.clear();
  for (size_t i = 0; i < rows.size(); ++i) {
    order.push_back({rows[i] - rows[i] % g, static_cast<uint32_t>(i)});
  }
  std::sort(order.begin(), order.end());
  firsts.clear();
  for (const auto& [first, i] : order) {
    if (firsts.empty() || firsts.back() != first) firsts.push_back(first);
  }
  size_t next = 0;  // into order
  for (size_t at = 0; at < firsts.size(); at += kBatch) {
    const size_t n_keys = std::min(kBatch, firsts.size() - at);
    keys.resize(n_keys);
    slices.resize(n_keys);
    for (size_t k = 0; k < n_keys; ++k) {
      keys[k] = SegmentKey(cid, static_cast<uint16_t>(b), firsts[at + k]);
      slices[k] = keys[k];
    }
    MRLDB_RETURN_IF_ERROR(kv.MultiGet(Cf::kVectors, slices, &found, counters));
    for (size_t k = 0; k < n_keys; ++k) {
      const uint64_t first = firsts[at + k];
      const rocksdb::PinnableSlice& v = found[k];
      const size_t n = GroupRowsIn(width, v.size());
      for (; next < order.size() && order[next].first == first; ++next) {
        const uint32_t i = order[next].second;
        const size_t off = rows[i] - first;
        if (off >= n) {
          return Status::Corruption(fmt::format(
              "collection {}: block {} row group at row {} ({} bytes) does not hold row {}", cid,
              b, first, v.size(), rows[i]));
        }
        std::memcpy(out + size_t{i} * width, v.data() + (n + off * width) * sizeof(float),
                    width * sizeof(float));
        std::memcpy(sqnorms + i, v.data() + off * sizeof(float), sizeof(float));
      }
    }
  }
  for (auto& v : found) v.Reset();
  return Status::Ok();
}

Status LoadTombstones(const KvStore& kv, uint32_t cid, std::vector<uint64_t>* rows) {
  rows->clear();
  std::string prefix = CollectionPrefix(kTagTombstone, cid);
  auto it = kv.NewIterator(Cf::kRows, prefix, PrefixSuccessor(prefix));
  for (it->SeekToFirst(); it->get().Valid(); it->get().Next()) {
    rocksdb::Slice key = it->get().key();
    if (key.size() != prefix.size() + 8) return Status::Corruption("malformed tombstone key");
    rows->push_back(DecodeBigEndian64(key.data() + prefix.size()));
  }
  return FromRocks(it->get().status(), "reading tombstones");
}

}  // namespace mrldb::storage
