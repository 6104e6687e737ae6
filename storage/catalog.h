// Collection descriptors as stored in the catalog ("c:" name in the default column family).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mrldb/status.h"
#include "mrldb/types.h"

namespace mrldb::storage {

struct CollectionDescriptor {
  uint32_t cid = 0;  // internal collection id, never reused
  CollectionSpec spec;
  // Where each attribute's value sits in a stored row record, and how many values a new record
  // holds (ALTER ... DROP COLUMN leaves its slot behind, ADD COLUMN takes a new one, so neither
  // rewrites a row). Empty: attribute i at slot i, spec.attributes.size() values.
  std::vector<uint32_t> attribute_slots;
  uint32_t row_width = 0;

  uint32_t Slot(size_t attribute) const {
    return attribute_slots.empty() ? static_cast<uint32_t>(attribute) : attribute_slots[attribute];
  }
  uint32_t RowWidth() const {
    return attribute_slots.empty() ? static_cast<uint32_t>(spec.attributes.size()) : row_width;
  }
};

// Layout (version 1): u8 descriptor version, fixed32 cid, lp name, lp id_column, u8 id_type,
// lp vector_column, fixed32 dim, varint count + fixed32 granularities, u8 metric,
// fixed32 index_dim, fixed32 m, fixed32 ef_construction, fixed32 ef_search,
// varint count + (lp name, u8 type) attributes, varint count + (fixed32 dims, fixed32 keep)
// default-plan stages, fixed32 default_ef, fixed32 default_plan_k, then fields added later (a
// descriptor may end before each group; docs/storage-format.md): u8 graph_codes; f64
// target_recall, u8 plan source, fixed64 plan rows, f64 plan target, f64 plan recall, fixed32
// wide_k, fixed32 straight_keep, fixed32 wide_keep; fixed64 graph advice rows, lp graph advice
// note; varint id_position, varint vector_position; the prefix analysis (fixed64 rows, fixed32
// sample, lp label, f64 target, f64 suffix_recall, u8 matryoshka, fixed32 graph_prefix, lp
// verdict, varint count + (fixed32 dims, f64 recall, f64 rank_corr, fixed32 shortlist, f64
// accuracy)) and varint count + PREDICT calibrations (lp label, fixed32 k, varint count +
// fixed32 cascade, u8 vote, fixed32 shortlist, f64 confidence, margin, accuracy, full_accuracy,
// mean_dims, u8 reached, fixed32 sample, fixed64 rows); varint row_width, varint count + varint
// attribute slots. lp = varint length + bytes, f64 = fixed64 of the IEEE bits.
std::string EncodeDescriptor(const CollectionDescriptor& d);
// Errors: Corruption naming what did not decode.
Result<CollectionDescriptor> DecodeDescriptor(std::string_view bytes);

}  // namespace mrldb::storage
