// Adaptive k-NN classification (Database::Predict): the cascade against a brute-force reference,
// the early stop, thresholds 0 and 1, ties, NULL labels, filters, small matches, bad input, the
// batch form and TUNE PREDICT's calibration.
#include <algorithm>
#include <cmath>
#include <map>

#include <gtest/gtest.h>

#include "mrldb/database.h"
#include "mrldb/synthetic.h"
#include "tests/test_util.h"

namespace mrldb {
namespace {

using testing::TempDir;

constexpr uint32_t kDim = 128;  // ladder 16, 32, 64, 128; index_dim 64
const std::vector<uint32_t> kLadder = {16, 32, 64, 128};

DatabaseOptions NoTuner() {
  DatabaseOptions o;
  o.auto_tune = false;
  return o;
}

LabelledSyntheticGenerator Gen() {
  LabelledSyntheticOptions o;
  o.dim = kDim;
  o.classes = 8;
  o.modes = 2;
  o.hard_classes = 4;
  o.shared_dims = 32;
  o.noise = 0.6;
  return LabelledSyntheticGenerator(o);
}

// Collection "p": label INT (NULL on every 11th row), grp INT = id % 3, score FLOAT.
void Load(Database& db, const LabelledSyntheticGenerator& gen, size_t n) {
  CollectionSpec s;
  s.name = "p";
  s.dim = kDim;
  s.id_type = IdType::kBigint;
  s.attributes = {{"label", AttrType::kInt}, {"grp", AttrType::kInt}, {"score", AttrType::kFloat}};
  ASSERT_OK(db.CreateCollection(s));
  std::vector<float> v(n * kDim);
  std::vector<int64_t> labels(n);
  gen.Fill(0, n, v.data(), labels.data());
  InsertBatch b;
  for (size_t i = 0; i < n; ++i) {
    b.Add(Key{int64_t(i)}, std::span<const float>(v.data() + i * kDim, kDim),
          {i % 11 == 0 ? Value{} : Value{labels[i]}, Value{int64_t(i % 3)}, Value{0.5}});
  }
  ASSERT_OK(db.Insert("p", b));
  ASSERT_OK(db.WaitForIndexing({}));
}

// n unseen queries (from `first`) with their labels.
struct Queries {
  std::vector<float> qs;
  std::vector<int64_t> labels;
  std::span<const float> operator[](size_t i) const { return {qs.data() + i * kDim, kDim}; }
};
Queries MakeQueries(const LabelledSyntheticGenerator& gen, uint64_t first, size_t n) {
  Queries q{std::vector<float>(n * kDim), std::vector<int64_t>(n)};
  gen.Queries(first, n, q.qs.data(), q.labels.data());
  return q;
}

struct Reference {
  std::vector<float> rows;
  std::vector<int64_t> labels;
  std::vector<bool> null;
};

Reference Ref(const LabelledSyntheticGenerator& gen, size_t n) {
  Reference r;
  r.rows.resize(n * kDim);
  r.labels.resize(n);
  gen.Fill(0, n, r.rows.data(), r.labels.data());
  for (size_t i = 0; i < n; ++i) r.null.push_back(i % 11 == 0);
  return r;
}

// Cosine distance over [0, g), in double.
double Cos(const float* q, const float* x, uint32_t g) {
  double dot = 0, qq = 0, xx = 0;
  for (uint32_t d = 0; d < g; ++d) dot += double{q[d]} * x[d], qq += double{q[d]} * q[d], xx += double{x[d]} * x[d];
  return 1 - dot / std::sqrt(qq * xx);
}

// The uniform vote of `ids` (nearest first): label, confidence; ties to the nearest's label.
std::pair<int64_t, double> RefVote(const Reference& r, const std::vector<Key>& ids) {
  std::vector<std::pair<int64_t, int>> tally;
  for (const Key& id : ids) {
    const int64_t l = r.labels[std::get<int64_t>(id)];
    auto it = std::find_if(tally.begin(), tally.end(), [&](auto& t) { return t.first == l; });
    if (it == tally.end()) tally.push_back({l, 1}); else ++it->second;
  }
  auto best = std::max_element(tally.begin(), tally.end(), [](auto& a, auto& b) { return a.second < b.second; });
  return {best->first, double(best->second) / ids.size()};
}

// With a shortlist covering every labelled row, stage 0 keeps them all, so the cascade's voters
// at each granularity g must be the exact k nearest labelled rows over [0, g) (within rounding:
// a neighbour may be swapped for one at the same distance +- 1e-5), and its label and
// confidence those of their vote.
TEST(Predict, CascadeVotesAsBruteForceAtEveryGranularity) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  const auto gen = Gen();
  constexpr size_t kRows = 1500;
  Load(*db, gen, kRows);
  const Reference ref = Ref(gen, kRows);
  const Queries Q = MakeQueries(gen, 0, 30);
  const std::vector<float>& qs = Q.qs;
  for (size_t last = 0; last < kLadder.size(); ++last) {
    PredictOptions o;
    o.label = "label";
    o.k = 7;
    o.cascade.assign(kLadder.begin(), kLadder.begin() + last + 1);
    o.confidence = 1;
    o.shortlist = kRows;
    o.neighbours = true;
    const uint32_t g = kLadder[last];
    for (size_t i = 0; i < 30; ++i) {
      const float* q = qs.data() + i * kDim;
      auto p = db->Predict("p", std::span<const float>(q, kDim), o);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      EXPECT_EQ(p->dims, g);
      std::vector<double> d;
      for (size_t row = 0; row < kRows; ++row) {
        if (!ref.null[row]) d.push_back(Cos(q, ref.rows.data() + row * kDim, g));
      }
      std::nth_element(d.begin(), d.begin() + 6, d.end());
      const double kth = d[6];
      ASSERT_EQ(p->neighbours.size(), 7u);
      double prev = -1;
      for (const Key& id : p->neighbours) {
        const size_t row = size_t(std::get<int64_t>(id));
        EXPECT_FALSE(ref.null[row]);
        const double dist = Cos(q, ref.rows.data() + row * kDim, g);
        EXPECT_LE(dist, kth + 1e-5) << "granularity " << g << " query " << i;
        EXPECT_GE(dist, prev - 1e-5);  // nearest first
        prev = dist;
      }
      const auto [label, confidence] = RefVote(ref, p->neighbours);
      EXPECT_EQ(p->label, Value{label});
      EXPECT_NEAR(p->confidence, confidence, 1e-12);
    }
  }
}

// The first granularity whose vote reaches the threshold answers: each answer's earlier
// granularities (run alone as shorter cascades) fell short of it, its own reached it unless it
// is the last. Thresholds 0 and 1 stop at the first and the last granularity. Graph path
// (the cascade starts at index_dim) and scan path.
TEST(Predict, FirstConfidentGranularityAnswers) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  const auto gen = Gen();
  Load(*db, gen, 3000);
  const Queries Q = MakeQueries(gen, 0, 40);
  const std::vector<float>& qs = Q.qs;
  for (const std::vector<uint32_t>& cascade : {kLadder, std::vector<uint32_t>{64, 128}}) {
    PredictOptions o;
    o.label = "label";
    o.cascade = cascade;
    std::map<uint32_t, int> stops;
    for (size_t i = 0; i < 40; ++i) {
      std::span<const float> q(qs.data() + i * kDim, kDim);
      o.confidence = 0;
      EXPECT_EQ(db->Predict("p", q, o)->dims, cascade.front());
      o.confidence = 1;
      EXPECT_EQ(db->Predict("p", q, o)->dims, cascade.back());
      o.confidence = 0.8;
      auto p = db->Predict("p", q, o);
      ASSERT_TRUE(p.ok()) << p.status().ToString();
      ++stops[p->dims];
      for (size_t j = 0; j < cascade.size(); ++j) {
        PredictOptions alone = o;
        alone.cascade.assign(cascade.begin(), cascade.begin() + j + 1);
        alone.confidence = 1;
        auto v = db->Predict("p", q, alone);
        ASSERT_TRUE(v.ok());
        if (cascade[j] < p->dims) {
          EXPECT_LT(v->confidence, 0.8);
        }
        if (cascade[j] == p->dims) {
          EXPECT_EQ(v->label, p->label);
          EXPECT_EQ(v->confidence, p->confidence);
          if (p->dims != cascade.back()) {
            EXPECT_GE(v->confidence, 0.8);
          }
        }
      }
    }
    EXPECT_GT(stops[cascade.front()], 0);  // easy queries stop early
  }
}

// A hand-made collection for ties, NULL labels, filters and k beyond the matching rows.
std::unique_ptr<Database> Tiny(const TempDir& dir) {
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  CollectionSpec s;
  s.name = "t";
  s.dim = 16;
  s.id_type = IdType::kBigint;
  s.attributes = {{"label", AttrType::kText}, {"grp", AttrType::kInt}};
  EXPECT_TRUE(db->CreateCollection(s).ok());
  auto row = [](float a, float b) {
    std::vector<float> v(16, 0.0f);
    v[0] = a, v[1] = b;
    return v;
  };
  InsertBatch b;
  b.Add(Key{int64_t(1)}, row(1, 0), {Value{"x"}, Value{int64_t(1)}});
  b.Add(Key{int64_t(2)}, row(0, 1), {Value{"y"}, Value{int64_t(1)}});
  b.Add(Key{int64_t(3)}, row(1, 0.01f), {Value{}, Value{int64_t(2)}});  // NULL label, very near
  b.Add(Key{int64_t(4)}, row(-1, 0), {Value{"z"}, Value{int64_t(2)}});
  EXPECT_TRUE(db->Insert("t", b).ok());
  return db;
}

TEST(Predict, TiesNullLabelsFiltersAndSmallMatches) {
  TempDir dir;
  auto db = Tiny(dir);
  std::vector<float> q(16, 0.0f);
  q[0] = 1, q[1] = 1;  // equally near rows 1 and 2
  PredictOptions o;
  o.label = "label";
  o.k = 2;
  o.neighbours = true;
  for (VoteRule rule : {VoteRule::kUniform, VoteRule::kDistance}) {
    o.vote = rule;
    auto p = db->Predict("t", q, o);
    ASSERT_TRUE(p.ok()) << p.status().ToString();
    EXPECT_EQ(p->label, Value{"x"});  // a 1:1 tie goes to the nearest voter's label (row order)
    EXPECT_DOUBLE_EQ(p->confidence, 0.5);
    EXPECT_EQ(p->neighbours, (std::vector<Key>{int64_t(1), int64_t(2)}));  // row 3 never votes
  }
  o.vote.reset();
  // k beyond the labelled rows that match: those vote.
  o.k = 10;
  o.filter = Filter::Eq("grp", Value{int64_t(2)});
  auto p = db->Predict("t", q, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->label, Value{"z"});
  EXPECT_EQ(p->confidence, 1.0);
  EXPECT_EQ(p->neighbours, (std::vector<Key>{int64_t(4)}));
  // Nothing labelled matches: a NULL label with no confidence, decided at once.
  o.filter = Filter::Eq("grp", Value{int64_t(3)});
  p = db->Predict("t", q, o);
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->label, Value{});
  EXPECT_EQ(p->confidence, 0.0);
  EXPECT_TRUE(p->neighbours.empty());
}

TEST(Predict, BadInputIsAClearError) {
  TempDir dir;
  auto db = Tiny(dir);
  std::vector<float> q(16, 0.5f);
  auto error = [&](PredictOptions o) {
    auto p = db->Predict("t", q, o);
    EXPECT_FALSE(p.ok());
    return p.ok() ? std::string() : p.status().message();
  };
  PredictOptions o;
  EXPECT_NE(error(o).find("label column is required"), std::string::npos);
  o.label = "nope";
  EXPECT_NE(error(o).find("no attribute column 'nope'"), std::string::npos);
  o.label = "label";
  o.k = 0;
  EXPECT_NE(error(o).find("k = 0 is outside 1..1000"), std::string::npos);
  o.k.reset();
  o.cascade = {8};
  EXPECT_NE(error(o).find("not a granularity"), std::string::npos);
  o.cascade.clear();
  o.confidence = 1.5;
  EXPECT_NE(error(o).find("confidence 1.5 is outside 0..1"), std::string::npos);
  o.confidence.reset();
  o.shortlist = 5;
  EXPECT_NE(error(o).find("shortlist 5 is outside"), std::string::npos);
  o.shortlist.reset();
  o.filter = Filter::Eq("label", Value{int64_t(3)});
  EXPECT_FALSE(error(o).empty());  // a TEXT column compared with a number
  o.filter.reset();
  EXPECT_FALSE(db->Predict("t", std::vector<float>(15, 1.0f), o).ok());

  CollectionSpec s;
  s.name = "f";
  s.dim = 16;
  s.attributes = {{"score", AttrType::kFloat}};
  ASSERT_OK(db->CreateCollection(s));
  o.label = "score";
  auto p = db->Predict("f", q, o);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(p.status().message().find("is FLOAT: a label column must be TEXT, INT or BOOL"),
            std::string::npos) << p.status().message();
}

TEST(Predict, BatchAnswersAsSingleQueriesAndCountsWhereTheyStopped) {
  TempDir dir;
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  const auto gen = Gen();
  Load(*db, gen, 2000);
  const Queries Q = MakeQueries(gen, 0, 50);
  const std::vector<float>& qs = Q.qs;
  PredictOptions o;
  o.label = "label";
  PredictStats stats;
  auto batch = db->PredictBatch("p", qs, 50, o, &stats);
  ASSERT_TRUE(batch.ok()) << batch.status().ToString();
  double dims = 0;
  for (size_t i = 0; i < 50; ++i) {
    auto one = db->Predict("p", std::span<const float>(qs.data() + i * kDim, kDim), o);
    ASSERT_TRUE(one.ok());
    EXPECT_EQ((*batch)[i].label, one->label);
    EXPECT_EQ((*batch)[i].dims, one->dims);
    dims += one->dims;
  }
  EXPECT_EQ(stats.queries, 50u);
  EXPECT_EQ(stats.cascade, kLadder);
  uint64_t stopped = 0;
  for (uint64_t s : stats.stopped) stopped += s;
  EXPECT_EQ(stopped, 50u);
  EXPECT_DOUBLE_EQ(stats.mean_dims, dims / 50);
  EXPECT_EQ(stats.voters, 2000u - 2000u / 11 - 1);  // rows 0, 11, ..., 1991 are unlabelled
  EXPECT_FALSE(db->PredictBatch("p", qs, 49, o).ok());  // 50 rows of values for 49 queries
}

// TUNE PREDICT picks a threshold whose held-back accuracy is within the margin of exact
// full-dimension k-NN, stores it (surviving a reopen), and PREDICT then uses it; on unseen
// queries the calibrated cascade stays within 2 points of full-dimension k-NN.
TEST(Predict, TunePredictCalibratesAndIsUsedByDefault) {
  TempDir dir;
  const auto gen = Gen();
  PredictCalibration cal;
  {
    auto db = testing::OpenOrDie(dir.path(), NoTuner());
    Load(*db, gen, 4000);
    TunePredictOptions t;
    t.label = "label";
    t.margin = 0.01;
    t.sample = 300;
    auto r = db->TunePredict("p", t);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    cal = *r;
    EXPECT_TRUE(cal.reached);
    EXPECT_GE(cal.accuracy, cal.full_accuracy - 0.01);
    EXPECT_LT(cal.mean_dims, kDim);
    EXPECT_EQ(cal.cascade, kLadder);
  }
  auto db = testing::OpenOrDie(dir.path(), NoTuner());
  auto info = db->DescribeCollection("p");
  ASSERT_TRUE(info.ok());
  ASSERT_EQ(info->spec.calibrations.size(), 1u);
  EXPECT_EQ(info->spec.calibrations[0].confidence, cal.confidence);
  EXPECT_EQ(info->spec.calibrations[0].mean_dims, cal.mean_dims);
  constexpr size_t kQ = 300;
  const Queries Q = MakeQueries(gen, 1000, kQ);
  const std::vector<float>& qs = Q.qs;
  const std::vector<int64_t>& ql = Q.labels;
  PredictOptions o;
  o.label = "label";
  PredictStats stats;
  auto adaptive = db->PredictBatch("p", qs, kQ, o, &stats);
  ASSERT_TRUE(adaptive.ok());
  EXPECT_TRUE(stats.calibrated);
  EXPECT_EQ(stats.confidence, cal.confidence);
  o.cascade = {kDim};
  o.confidence = 1;
  o.shortlist = 4000;  // exact full-dimension k-NN
  auto full = db->PredictBatch("p", qs, kQ, o);
  ASSERT_TRUE(full.ok());
  double a = 0, f = 0;
  for (size_t i = 0; i < kQ; ++i) {
    a += (*adaptive)[i].label == Value{ql[i]};
    f += (*full)[i].label == Value{ql[i]};
  }
  std::printf("calibrated confidence %.3f: accuracy %.3f (full %.3f), mean dims %.1f\n",
              cal.confidence, a / kQ, f / kQ, stats.mean_dims);
  EXPECT_GE(a / kQ, f / kQ - 0.02);
  // A margin outside [0, 1) is refused.
  TunePredictOptions t;
  t.label = "grp";
  t.margin = 1.5;
  EXPECT_FALSE(db->TunePredict("p", t).ok());
}

}  // namespace
}  // namespace mrldb
