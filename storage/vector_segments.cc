#include "storage/vector_segments.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "storage/key_format.h"

namespace mrldb::storage {

uint64_t SegmentRows(const Ladder& ladder) {
  uint64_t row_bytes = uint64_t{4} * ladder.widest();
  return std::max<uint64_t>(1, kMaxSegmentBytes / row_bytes);
}

void PutVectorSegments(rocksdb::WriteBatch* batch, rocksdb::ColumnFamilyHandle* cf, uint32_t cid,
                       const Ladder& ladder, uint64_t first_row, size_t n, const float* rows) {
  static_assert(std::endian::native == std::endian::little, "segments are little-endian float32");
  const uint64_t per_segment = SegmentRows(ladder);
  const uint32_t dim = ladder.dim();
  std::string value;
  for (size_t b = 0; b < ladder.blocks(); ++b) {
    const uint32_t begin = ladder.begin(b), width = ladder.width(b);
    for (size_t start = 0; start < n; start += per_segment) {
      const size_t count = std::min<size_t>(per_segment, n - start);
      value.resize(count * width * sizeof(float));
      char* out = value.data();
      for (size_t r = 0; r < count; ++r) {
        std::memcpy(out + r * width * sizeof(float), rows + (start + r) * dim + begin,
                    width * sizeof(float));
      }
      batch->Put(cf, SegmentKey(cid, static_cast<uint16_t>(b), first_row + start), value);
    }
  }
}

Status ScanSegments(const KvStore& kv, uint32_t cid, const Ladder& ladder, size_t nblocks,
                    const std::function<bool(const SegmentView&)>& fn,
                    SegmentScanCounters* counters) {
  std::vector<std::unique_ptr<BoundedIterator>> its;
  for (size_t b = 0; b < nblocks; ++b) {
    std::string prefix = SegmentPrefix(cid, static_cast<uint16_t>(b));
    its.push_back(kv.NewIterator(Cf::kVectors, prefix, PrefixSuccessor(prefix),
                                 /*fill_cache=*/false));
    its.back()->SeekToFirst();
  }
  std::vector<const char*> ptrs(nblocks);
  while (its[0]->get().Valid()) {
    SegmentView view;
    for (size_t b = 0; b < nblocks; ++b) {
      rocksdb::Iterator& it = its[b]->get();
      if (!it.Valid()) {
        MRLDB_RETURN_IF_ERROR(FromRocks(it.status(), "scanning vector segments"));
        return Status::Corruption(fmt::format(
            "collection {}: block {} has fewer segments than block 0", cid, b));
      }
      rocksdb::Slice key = it.key(), value = it.value();
      const size_t row_bytes = size_t{4} * ladder.width(b);
      if (key.size() != kSegmentKeySize || value.size() % row_bytes != 0) {
        return Status::Corruption(fmt::format("collection {}: malformed segment in block {}",
                                              cid, b));
      }
      const uint64_t first = DecodeBigEndian64(key.data() + kSegmentKeySize - 8);
      const size_t n = value.size() / row_bytes;
      if (b == 0) {
        view.first_row = first;
        view.n = n;
      } else if (first != view.first_row || n != view.n) {
        return Status::Corruption(fmt::format(
            "collection {}: block {} segment at row {} ({} rows) does not match block 0 (row {}, "
            "{} rows)", cid, b, first, n, view.first_row, view.n));
      }
      ptrs[b] = value.data();
      if (counters) counters->value_bytes += value.size();
    }
    view.blocks = ptrs;
    if (counters) ++counters->segments;
    if (!fn(view)) return Status::Ok();
    for (auto& it : its) it->get().Next();
  }
  for (auto& it : its) MRLDB_RETURN_IF_ERROR(FromRocks(it->get().status(), "scanning vector segments"));
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
