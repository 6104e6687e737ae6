#include "storage/catalog.h"

#include <fmt/format.h>

#include "storage/coding.h"

namespace mrldb::storage {
namespace {
constexpr uint8_t kDescriptorVersion = 1;
}

std::string EncodeDescriptor(const CollectionDescriptor& d) {
  const CollectionSpec& s = d.spec;
  std::string out;
  out.push_back(static_cast<char>(kDescriptorVersion));
  PutFixed32(&out, d.cid);
  PutLengthPrefixed(&out, s.name);
  PutLengthPrefixed(&out, s.id_column);
  out.push_back(static_cast<char>(s.id_type));
  PutLengthPrefixed(&out, s.vector_column);
  PutFixed32(&out, s.dim);
  PutVarint64(&out, s.granularities.size());
  for (uint32_t g : s.granularities) PutFixed32(&out, g);
  out.push_back(static_cast<char>(s.metric));
  PutFixed32(&out, s.index_dim);
  PutFixed32(&out, s.hnsw.m);
  PutFixed32(&out, s.hnsw.ef_construction);
  PutFixed32(&out, s.hnsw.ef_search);
  PutVarint64(&out, s.attributes.size());
  for (const ColumnDef& c : s.attributes) {
    PutLengthPrefixed(&out, c.name);
    out.push_back(static_cast<char>(c.type));
  }
  const DefaultPlan& plan = s.default_plan;
  PutVarint64(&out, plan.stages.size());
  for (const FunnelStage& st : plan.stages) {
    PutFixed32(&out, st.dims);
    PutFixed32(&out, st.keep);
  }
  PutFixed32(&out, plan.ef);
  PutFixed32(&out, plan.k);
  // Added after version 1 was in use: a descriptor without it has a float32 graph.
  out.push_back(static_cast<char>(s.hnsw.codes));
  // Added later still (all or none): the recall target and the default plan's provenance.
  PutDouble(&out, s.target_recall);
  out.push_back(static_cast<char>(plan.source));
  PutFixed64(&out, plan.rows);
  PutDouble(&out, plan.target);
  PutDouble(&out, plan.recall);
  PutFixed32(&out, plan.wide_k);
  PutFixed32(&out, plan.straight_keep);
  PutFixed32(&out, plan.wide_keep);
  // Added with the graph chooser: its last advice.
  PutFixed64(&out, s.graph_advice.rows);
  PutLengthPrefixed(&out, s.graph_advice.note);
  // Added with declaration order: a descriptor without them declared id, vector, then the attributes.
  PutVarint64(&out, s.id_position);
  PutVarint64(&out, s.vector_position);
  // Added with ANALYZE and TUNE PREDICT: the prefix analysis and the classification calibrations.
  const PrefixAnalysis& a = s.analysis;
  PutFixed64(&out, a.rows);
  PutFixed32(&out, a.sample);
  PutLengthPrefixed(&out, a.label);
  PutDouble(&out, a.target);
  PutDouble(&out, a.suffix_recall);
  out.push_back(static_cast<char>(a.matryoshka));
  PutFixed32(&out, a.graph_prefix);
  PutLengthPrefixed(&out, a.verdict);
  PutVarint64(&out, a.levels.size());
  for (const PrefixQuality& q : a.levels) {
    PutFixed32(&out, q.dims);
    PutDouble(&out, q.recall);
    PutDouble(&out, q.rank_corr);
    PutFixed32(&out, q.shortlist);
    PutDouble(&out, q.accuracy);
  }
  PutVarint64(&out, s.calibrations.size());
  for (const PredictCalibration& c : s.calibrations) {
    PutLengthPrefixed(&out, c.label);
    PutFixed32(&out, c.k);
    PutVarint64(&out, c.cascade.size());
    for (uint32_t g : c.cascade) PutFixed32(&out, g);
    out.push_back(static_cast<char>(c.vote));
    PutFixed32(&out, c.shortlist);
    PutDouble(&out, c.confidence);
    PutDouble(&out, c.margin);
    PutDouble(&out, c.accuracy);
    PutDouble(&out, c.full_accuracy);
    PutDouble(&out, c.mean_dims);
    out.push_back(static_cast<char>(c.reached));
    PutFixed32(&out, c.sample);
    PutFixed64(&out, c.rows);
  }
  // Added with ALTER ... ADD / DROP COLUMN: a descriptor without them stores attribute i at slot i.
  PutVarint64(&out, d.RowWidth());
  PutVarint64(&out, s.attributes.size());
  for (size_t i = 0; i < s.attributes.size(); ++i) PutVarint64(&out, d.Slot(i));
  return out;
}

Result<CollectionDescriptor> DecodeDescriptor(std::string_view bytes) {
  Decoder in(bytes);
  CollectionDescriptor d;
  CollectionSpec& s = d.spec;
  uint8_t version = in.U8();
  if (!in.failed() && version != kDescriptorVersion) {
    return Status::Corruption(fmt::format("collection descriptor version {} is not {}", version,
                                          kDescriptorVersion));
  }
  d.cid = in.Fixed32();
  s.name = std::string(in.LengthPrefixed());
  s.id_column = std::string(in.LengthPrefixed());
  s.id_type = static_cast<IdType>(in.U8());
  s.vector_column = std::string(in.LengthPrefixed());
  s.dim = in.Fixed32();
  uint64_t levels = in.Varint64();
  if (levels > 65536) return Status::Corruption("collection descriptor: ladder too long");
  for (uint64_t i = 0; i < levels && !in.failed(); ++i) s.granularities.push_back(in.Fixed32());
  s.metric = static_cast<Metric>(in.U8());
  s.index_dim = in.Fixed32();
  s.hnsw.m = in.Fixed32();
  s.hnsw.ef_construction = in.Fixed32();
  s.hnsw.ef_search = in.Fixed32();
  uint64_t attrs = in.Varint64();
  if (attrs > 4096) return Status::Corruption("collection descriptor: too many attributes");
  for (uint64_t i = 0; i < attrs && !in.failed(); ++i) {
    ColumnDef c;
    c.name = std::string(in.LengthPrefixed());
    c.type = static_cast<AttrType>(in.U8());
    s.attributes.push_back(std::move(c));
  }
  DefaultPlan& plan = s.default_plan;
  uint64_t stages = in.Varint64();
  if (stages > 1024) return Status::Corruption("collection descriptor: default plan too long");
  for (uint64_t i = 0; i < stages && !in.failed(); ++i) {
    FunnelStage st;
    st.dims = in.Fixed32();
    st.keep = in.Fixed32();
    plan.stages.push_back(st);
  }
  plan.ef = in.Fixed32();
  plan.k = in.Fixed32();
  s.hnsw.codes = GraphCodes::kFloat32;
  if (!in.failed() && !in.done()) {
    const uint8_t codes = in.U8();
    if (codes > uint8_t(GraphCodes::kInt8)) {
      return Status::Corruption(fmt::format("collection descriptor: unknown graph codes {}", codes));
    }
    s.hnsw.codes = static_cast<GraphCodes>(codes);
  }
  // Before plan sources existed: the target is the default, and a stored plan reads as set by
  // hand at 0 rows (so the auto-tuner, which replaces a plan once the rows grew by half since
  // it was made, replaces it).
  s.target_recall = 0.95;
  plan.source = plan.stages.empty() ? PlanSource::kDerived : PlanSource::kSet;
  if (!in.failed() && !in.done()) {
    s.target_recall = in.Double();
    const uint8_t source = in.U8();
    if (source > uint8_t(PlanSource::kSet)) {
      return Status::Corruption(fmt::format("collection descriptor: unknown plan source {}", source));
    }
    plan.source = static_cast<PlanSource>(source);
    plan.rows = in.Fixed64();
    plan.target = in.Double();
    plan.recall = in.Double();
    plan.wide_k = in.Fixed32();
    plan.straight_keep = in.Fixed32();
    plan.wide_keep = in.Fixed32();
  }
  if (!in.failed() && !in.done()) {
    s.graph_advice.rows = in.Fixed64();
    s.graph_advice.note = std::string(in.LengthPrefixed());
  }
  if (!in.failed() && !in.done()) {
    const uint64_t id_position = in.Varint64(), vector_position = in.Varint64();
    if (id_position > 4096 || vector_position > 4096) {
      return Status::Corruption("collection descriptor: column positions out of range");
    }
    s.id_position = static_cast<uint32_t>(id_position);
    s.vector_position = static_cast<uint32_t>(vector_position);
  }
  if (!in.failed() && !in.done()) {
    PrefixAnalysis& a = s.analysis;
    a.rows = in.Fixed64();
    a.sample = in.Fixed32();
    a.label = std::string(in.LengthPrefixed());
    a.target = in.Double();
    a.suffix_recall = in.Double();
    a.matryoshka = in.U8() != 0;
    a.graph_prefix = in.Fixed32();
    a.verdict = std::string(in.LengthPrefixed());
    const uint64_t analysed = in.Varint64();
    if (analysed > 65536) return Status::Corruption("collection descriptor: analysis too long");
    for (uint64_t i = 0; i < analysed && !in.failed(); ++i) {
      PrefixQuality q;
      q.dims = in.Fixed32();
      q.recall = in.Double();
      q.rank_corr = in.Double();
      q.shortlist = in.Fixed32();
      q.accuracy = in.Double();
      a.levels.push_back(q);
    }
    const uint64_t calibrations = in.Varint64();
    if (calibrations > 4096) return Status::Corruption("collection descriptor: too many calibrations");
    for (uint64_t i = 0; i < calibrations && !in.failed(); ++i) {
      PredictCalibration c;
      c.label = std::string(in.LengthPrefixed());
      c.k = in.Fixed32();
      const uint64_t steps = in.Varint64();
      if (steps > 65536) return Status::Corruption("collection descriptor: cascade too long");
      for (uint64_t j = 0; j < steps && !in.failed(); ++j) c.cascade.push_back(in.Fixed32());
      const uint8_t vote = in.U8();
      if (vote > uint8_t(VoteRule::kDistance)) {
        return Status::Corruption(fmt::format("collection descriptor: unknown vote rule {}", vote));
      }
      c.vote = static_cast<VoteRule>(vote);
      c.shortlist = in.Fixed32();
      c.confidence = in.Double();
      c.margin = in.Double();
      c.accuracy = in.Double();
      c.full_accuracy = in.Double();
      c.mean_dims = in.Double();
      c.reached = in.U8() != 0;
      c.sample = in.Fixed32();
      c.rows = in.Fixed64();
      s.calibrations.push_back(std::move(c));
    }
  }
  if (!in.failed() && !in.done()) {
    const uint64_t width = in.Varint64(), count = in.Varint64();
    if (width > 65536 || count != s.attributes.size()) {
      return Status::Corruption("collection descriptor: attribute slots do not match the columns");
    }
    d.row_width = static_cast<uint32_t>(width);
    std::vector<bool> used(width, false);
    for (uint64_t i = 0; i < count && !in.failed(); ++i) {
      const uint64_t slot = in.Varint64();
      if (slot >= width || used[slot]) {
        return Status::Corruption("collection descriptor: attribute slots out of range or repeated");
      }
      used[slot] = true;
      d.attribute_slots.push_back(static_cast<uint32_t>(slot));
    }
  }
  if (in.failed() || !in.done()) {
    return Status::Corruption(fmt::format("collection descriptor of {} bytes does not decode",
                                          bytes.size()));
  }
  // A stored spec must still satisfy every rule; Validate() is idempotent on a valid spec.
  if (Status st = s.Validate(); !st.ok()) {
    return Status::Corruption("stored collection descriptor is invalid: " + st.message());
  }
  return d;
}

}  // namespace mrldb::storage
