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
  GroupValue group;  // group.rows == 0: no group loaded yet
};

}  // namespace

size_t GroupValue::StoredBefore(size_t offset) const {
  if (!present) return offset;
  size_t n = 0;
  for (size_t i = 0; i < offset / 8; ++i) n += std::popcount(present[i]);
  return n + std::popcount(static_cast<uint8_t>(present[offset / 8] & ((1u << (offset % 8)) - 1)));
}

bool DecodeGroup(uint32_t width, std::string_view value, GroupValue* out) {
  const size_t row = GroupBytes(width, 1);
  if (value.size() % 4 == 0) {  // a full group: a whole number of float32 values
    const size_t n = GroupRowsIn(width, value.size());
    if (n == 0) return false;
    *out = {n, n, value.data(), value.data() + n * sizeof(float), nullptr};
    return true;
  }
  const uint32_t g = GroupRows(width);
  const size_t trailer = VacuumedTrailerBytes(g), bitmap = (size_t{g} + 7) / 8;
  if (value.size() < trailer || (value.size() - trailer) % row != 0) return false;
  const size_t k = (value.size() - trailer) / row;
  const auto* bits = reinterpret_cast<const uint8_t*>(value.data() + k * row);
  size_t stored = 0;
  for (size_t i = 0; i < bitmap; ++i) stored += std::popcount(bits[i]);
  if (stored != k || (g % 8 != 0 && (bits[bitmap - 1] >> (g % 8)) != 0)) return false;
  for (size_t i = bitmap; i < trailer; ++i) {
    if (bits[i] != 0) return false;
  }
  *out = {g, k, value.data(), value.data() + k * sizeof(float), bits};
  return true;
}

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
        GroupValue& grp = c.group;
        if (grp.rows == 0 || row >= c.first + grp.rows) {
          rocksdb::Iterator& it = c.it->get();
          if (grp.rows != 0) it.Next();
          if (!it.Valid()) {
            MRLDB_RETURN_IF_ERROR(FromRocks(it.status(), "scanning vector row groups"));
            return Status::Corruption(fmt::format(
                "collection {}: block {} ends at row {} of {}", cid, b, row, end));
          }
          rocksdb::Slice key = it.key(), value = it.value();
          const bool decoded = DecodeGroup(width, std::string_view(value.data(), value.size()), &grp);
          const size_t n = decoded ? grp.rows : 0;
          const uint64_t first = key.size() == kSegmentKeySize
                                     ? DecodeBigEndian64(key.data() + kSegmentKeySize - 8)
                                     : ~uint64_t{0};
          if (first != row || n == 0 || n > g || first % g != 0 || (n < g && first + n < end)) {
            return Status::Corruption(fmt::format(
                "collection {}: block {} has a malformed row group where row {} was expected",
                cid, b, row));
          }
          c.first = first;
        }
        const size_t k = std::min<uint64_t>(r1, c.first + grp.rows) - row;
        const size_t off = row - c.first;
        float* to_values = values[b].p.get() + (row - r0) * width;
        float* to_norms = norms[b].p.get() + (row - r0);
        const size_t row_bytes = width * sizeof(float);
        size_t stored = k;
        if (!grp.present) {
          std::memcpy(to_values, grp.values + off * row_bytes, k * row_bytes);
          std::memcpy(to_norms, grp.norms + off * sizeof(float), k * sizeof(float));
        } else {
          // Rows VACUUM removed (dead) read as zeros; the caller skips dead rows anyway.
          stored = 0;
          for (size_t i = 0, at = grp.StoredBefore(off); i < k; ++i) {
            if (grp.Stores(off + i)) {
              std::memcpy(to_values + i * width, grp.values + at * row_bytes, row_bytes);
              std::memcpy(to_norms + i, grp.norms + at * sizeof(float), sizeof(float));
              ++at;
              ++stored;
            } else {
              std::memset(to_values + i * width, 0, row_bytes);
              to_norms[i] = 0;
            }
          }
        }
        if (counters) counters->value_bytes += stored * row_bytes;
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

Status ReadRowBlocks(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t b_from,
                     size_t b_to, std::span<const uint64_t> rows, float* const* out,
                     float* const* sqnorms, ReadCounters* counters) {
  // A MultiGet pins the blocks it returns in the block cache until they are copied out: at most
  // this many per round, so a read never holds more than kRound pages beyond the cache's
  // capacity. A round is split into parts read at once (KvStore::MultiGetSpread).
  constexpr size_t kRound = 512;
  // Per-thread scratch: a query's reads allocate nothing in steady state.
  thread_local std::vector<std::pair<uint64_t, uint32_t>> order;  // (block << 48 | first, i)
  thread_local std::vector<uint64_t> firsts;  // unique (block << 48 | first), ascending
  thread_local std::vector<std::string> keys;
  thread_local std::vector<rocksdb::Slice> slices;
  thread_local std::vector<rocksdb::PinnableSlice> found;
  // Rows are below 2^48 (the allocator's ids), so (block, first) packs into one sortable word.
  constexpr int kShift = 48;
  order.clear();
  for (size_t b = b_from; b < b_to; ++b) {
    const uint32_t g = GroupRows(ladder.width(b));
    for (size_t i = 0; i < rows.size(); ++i) {
      order.push_back({(uint64_t{b} << kShift) | (rows[i] - rows[i] % g), static_cast<uint32_t>(i)});
    }
  }
  std::sort(order.begin(), order.end());
  firsts.clear();
  for (const auto& [first, i] : order) {
    if (firsts.empty() || firsts.back() != first) firsts.push_back(first);
  }
  constexpr uint64_t kRowMask = (uint64_t{1} << kShift) - 1;
  size_t next = 0;  // into order
  for (size_t at = 0; at < firsts.size(); at += kRound) {
    const size_t n_keys = std::min(kRound, firsts.size() - at);
    keys.resize(n_keys);
    slices.resize(n_keys);
    found.resize(n_keys);
    for (size_t k = 0; k < n_keys; ++k) {
      keys[k] = SegmentKey(cid, static_cast<uint16_t>(firsts[at + k] >> kShift),
                           firsts[at + k] & kRowMask);
      slices[k] = keys[k];
    }
    MRLDB_RETURN_IF_ERROR(kv.MultiGetSpread(Cf::kVectors, slices,
                                            std::span(found.data(), n_keys), counters));
    for (size_t k = 0; k < n_keys; ++k) {
      const size_t b = firsts[at + k] >> kShift;
      const uint64_t first = firsts[at + k] & kRowMask;
      const uint32_t width = ladder.width(b);
      const rocksdb::PinnableSlice& v = found[k];
      GroupValue grp;
      if (!DecodeGroup(width, std::string_view(v.data(), v.size()), &grp)) grp.rows = 0;
      for (; next < order.size() && order[next].first == firsts[at + k]; ++next) {
        const uint32_t i = order[next].second;
        const size_t off = rows[i] - first;
        if (off >= grp.rows || !grp.Stores(off)) {
          return Status::Corruption(fmt::format(
              "collection {}: block {} row group at row {} ({} bytes) does not hold row {}", cid,
              b, first, v.size(), rows[i]));
        }
        const size_t slot = grp.StoredBefore(off);
        std::memcpy(out[b - b_from] + size_t{i} * width,
                    grp.values + slot * width * sizeof(float), width * sizeof(float));
        std::memcpy(sqnorms[b - b_from] + i, grp.norms + slot * sizeof(float), sizeof(float));
      }
    }
  }
  for (auto& v : found) v.Reset();
  return Status::Ok();
}

Status VacuumRowGroups(const KvStore& kv, uint32_t cid, const Ladder& ladder, uint64_t rows,
                       std::span<const uint8_t> live, uint64_t from, uint64_t to,
                       rocksdb::WriteBatch* batch, VacuumCounts* counts) {
  rocksdb::ColumnFamilyHandle* cf = kv.handle(Cf::kVectors);
  std::string value;
  for (size_t b = 0; b < ladder.blocks(); ++b) {
    const uint32_t width = ladder.width(b), g = GroupRows(width);
    const size_t row_bytes = GroupBytes(width, 1);
    const auto block = static_cast<uint16_t>(b);
    std::unique_ptr<BoundedIterator> it;  // opened at the first group that has a dead row
    // Complete groups only: the last one is rewritten whole by the next write (GroupTails).
    for (uint64_t first = (from + g - 1) / g * g; first < to && first + g <= rows; first += g) {
      const uint8_t* alive = live.data() + first;
      if (std::find(alive, alive + g, 0) == alive + g) continue;
      const std::string key = SegmentKey(cid, block, first);
      if (!it) {
        const std::string prefix = SegmentPrefix(cid, block);
        it = kv.NewIterator(Cf::kVectors, key, PrefixSuccessor(prefix), /*fill_cache=*/false);
      }
      rocksdb::Iterator& i = it->get();
      i.Seek(key);
      if (!i.Valid() || i.key() != rocksdb::Slice(key)) {
        MRLDB_RETURN_IF_ERROR(FromRocks(i.status(), "reading row groups to vacuum"));
        return Status::Corruption(fmt::format("collection {}: block {} has no row group at row {}",
                                              cid, b, first));
      }
      GroupValue grp;
      if (!DecodeGroup(width, std::string_view(i.value().data(), i.value().size()), &grp) ||
          grp.rows != g) {
        return Status::Corruption(fmt::format(
            "collection {}: block {} has a malformed row group at row {}", cid, b, first));
      }
      ++counts->groups_read;
      size_t kept = 0, dropped = 0;
      for (size_t o = 0; o < g; ++o) {
        if (alive[o] && !grp.Stores(o)) {
          return Status::Corruption(fmt::format(
              "collection {}: block {} row group at row {} lacks live row {}", cid, b, first,
              first + o));
        }
        if (grp.Stores(o)) (alive[o] ? kept : dropped) += 1;
      }
      if (dropped == 0) continue;  // vacuumed before
      value.assign(kept * row_bytes + VacuumedTrailerBytes(g), '\0');
      char* norms = value.data();
      char* values = value.data() + kept * sizeof(float);
      auto* bits = reinterpret_cast<uint8_t*>(value.data() + kept * row_bytes);
      for (size_t o = 0, at = 0, out = 0; o < g; ++o) {
        if (!grp.Stores(o)) continue;
        if (alive[o]) {
          std::memcpy(norms + out * sizeof(float), grp.norms + at * sizeof(float), sizeof(float));
          std::memcpy(values + out * width * sizeof(float), grp.values + at * width * sizeof(float),
                      width * sizeof(float));
          bits[o / 8] |= static_cast<uint8_t>(1u << (o % 8));
          ++out;
        }
        ++at;
      }
      batch->Put(cf, key, value);
      ++counts->groups_rewritten;
      counts->bytes_freed += dropped * row_bytes;
    }
  }
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
