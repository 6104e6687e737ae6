// An application embedding mrldb: create a Matryoshka collection, ingest vectors, run a funnel
// search, a filtered search and an exact search, and check the funnel against the exact answer.
// Built against the installed package (examples/CMakeLists.txt: find_package(mrldb)).
//
//   quickstart DB_DIR [ROWS]
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <mrldb/database.h>
#include <mrldb/synthetic.h>
#include <mrldb/version.h>

namespace {

int Fail(const mrldb::Status& st) {
  std::fprintf(stderr, "quickstart: %s\n", st.ToString().c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: quickstart DB_DIR [ROWS]\n");
    return 2;
  }
  const uint64_t rows = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 20000;
  std::printf("mrldb %s\n", std::string(mrldb::Version()).c_str());

  auto db = mrldb::Database::Open(argv[1]);
  if (!db.ok()) return Fail(db.status());

  // 256-dim vectors whose 32-, 64- and 128-dim prefixes are usable embeddings; an HNSW graph on
  // the 64-dim prefix; a "topic" attribute to filter on.
  mrldb::CollectionSpec spec;
  spec.name = "articles";
  spec.id_type = mrldb::IdType::kBigint;
  spec.dim = 256;
  spec.granularities = {32, 64, 128, 256};
  spec.metric = mrldb::Metric::kCosine;
  spec.attributes = {{"topic", mrldb::AttrType::kInt}};
  if (auto st = (*db)->CreateCollection(spec); !st.ok()) return Fail(st);

  // Ingest in batches; each Insert is atomic and durable when it returns.
  mrldb::SyntheticOptions so;
  so.dim = spec.dim;
  mrldb::SyntheticGenerator gen(so);
  for (uint64_t first = 0; first < rows; first += 5000) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(5000, rows - first));
    std::vector<float> data = gen.Rows(first, n);
    mrldb::InsertBatch batch;
    for (size_t i = 0; i < n; ++i) {
      batch.Add(mrldb::Key{int64_t(first + i)},
                std::span<const float>(data.data() + i * spec.dim, spec.dim),
                {mrldb::Value{int64_t((first + i) % 10)}});
    }
    if (auto st = (*db)->Insert("articles", batch); !st.ok()) return Fail(st);
  }
  std::printf("inserted %llu rows\n", static_cast<unsigned long long>(rows));

  std::vector<float> query = gen.Queries(0, 1);

  // 1. A funnel search: shortlist 200 on the 64-dim graph, keep 40 at 128 dims, rank at 256.
  mrldb::SearchOptions funnel;
  funnel.k = 10;
  funnel.plan = mrldb::SearchPlan::Funnel({{64, 200}, {128, 40}, {256, 10}});
  funnel.attributes = {"topic"};
  mrldb::SearchStats stats;
  auto hits = (*db)->Search("articles", query, funnel, &stats);
  if (!hits.ok()) return Fail(hits.status());
  std::printf("funnel %s:\n", stats.plan.c_str());
  for (const mrldb::Hit& h : *hits) {
    std::printf("  id %lld  distance %.4f  topic %lld\n", static_cast<long long>(std::get<int64_t>(h.id)),
                h.distance, static_cast<long long>(std::get<int64_t>(h.attributes[0])));
  }

  // 2. The exact answer at full dimension, and the funnel's recall against it.
  mrldb::ExactSearchOptions exact;
  exact.k = 10;
  auto truth = (*db)->ExactSearch("articles", query, exact);
  if (!truth.ok()) return Fail(truth.status());
  size_t found = 0;
  for (const mrldb::Hit& t : *truth) {
    for (const mrldb::Hit& h : *hits) found += h.id == t.id;
  }
  std::printf("recall@10 against exact search: %.2f\n", double(found) / 10);

  // 3. A filtered search: topic 3 or 7 only.
  mrldb::SearchOptions filtered;
  filtered.k = 5;
  filtered.filter = mrldb::Filter::In("topic", {mrldb::Value{int64_t{3}}, mrldb::Value{int64_t{7}}});
  filtered.attributes = {"topic"};
  auto some = (*db)->Search("articles", query, filtered);
  if (!some.ok()) return Fail(some.status());
  std::printf("filtered (topic IN (3, 7)):\n");
  for (const mrldb::Hit& h : *some) {
    const int64_t topic = std::get<int64_t>(h.attributes[0]);
    std::printf("  id %lld  distance %.4f  topic %lld\n", static_cast<long long>(std::get<int64_t>(h.id)),
                h.distance, static_cast<long long>(topic));
    if (topic != 3 && topic != 7) return Fail(mrldb::Status::Internal("filter not applied"));
  }
  if (found < 8) return Fail(mrldb::Status::Internal("funnel recall below 0.8"));
  if (auto st = (*db)->Close(); !st.ok()) return Fail(st);
  return 0;
}
