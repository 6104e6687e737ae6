// mrldb-bench search's command line: the synthetic variants, targets and --breakdown, and every
// bad value as an error naming the option.
#include <algorithm>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bench/search_options.h"

namespace mrldb::bench {
namespace {

// The parse as mrldb-bench does it: CLI11's errors (cli::Message), then FinishSearchArgs.
Status Parse(std::vector<std::string> args, SearchArgs* a) {
  CLI::App app{"", "mrldb-bench"};
  CLI::App* search = AddSearchOptions(&app, a);
  args.insert(args.begin(), "search");
  std::reverse(args.begin(), args.end());  // CLI11 takes a reversed vector
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    return Status::InvalidArgument(cli::Message(e));
  }
  return FinishSearchArgs(*search, a);
}

TEST(SearchOptions, SyntheticVariantsTargetsAndBreakdown) {
  SearchArgs a;
  ASSERT_TRUE(Parse({"--quick", "--dim", "384", "--decay", "0.3", "--clusters", "1000",
                     "--target", "0.99,0.95", "--breakdown", "--sweep", "10,20"}, &a).ok());
  EXPECT_EQ(a.synthetic, 100000u);
  EXPECT_EQ(a.synthetic_options.dim, 384u);
  EXPECT_EQ(a.synthetic_options.decay, 0.3);
  EXPECT_EQ(a.synthetic_options.clusters, 1000u);
  EXPECT_EQ(a.synthetic_options.mode, SyntheticOptions::Mode::kMatryoshka);
  EXPECT_EQ(a.target_values, (std::vector<double>{0.95, 0.99}));
  EXPECT_TRUE(a.breakdown);
  EXPECT_EQ(a.sweep_values, (std::vector<uint32_t>{10, 20}));
  EXPECT_EQ(SyntheticName(a.synthetic_options), "synthetic Matryoshka (decay 0.3, 1000 clusters)");

  SearchArgs flat;
  ASSERT_TRUE(Parse({"--flat"}, &flat).ok());
  EXPECT_EQ(flat.synthetic_options.mode, SyntheticOptions::Mode::kFlat);
  EXPECT_EQ(SyntheticName(flat.synthetic_options), "synthetic flat (64 clusters)");
  SearchArgs plain;
  ASSERT_TRUE(Parse({}, &plain).ok());
  EXPECT_EQ(SyntheticName(plain.synthetic_options), "synthetic Matryoshka");
  EXPECT_EQ(plain.target_values, (std::vector<double>{0.95}));
}

TEST(SearchOptions, BadValuesNameTheOption) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{"--decay", "abc"}, "--decay: 'abc' is not a number in 0..16"},
      {{"--nq", "0"}, "--nq: bad value '0' (an integer >= 1)"},
      {{"--deacy", "1"}, "The following arguments were not expected: 1 --deacy"},
      {{"--decay", "-1"}, "--decay: '-1' is not a number in 0..16"},
      {{"--decay", "0.3", "--flat"}, "--flat has no decay: give --flat or --decay, not both"},
      {{"--clusters", "0"}, "--clusters: bad value '0' (an integer >= 1)"},
      {{"--data", "x.npy", "--clusters", "10"}, "--data cannot be combined with --clusters"},
      {{"--data", "x.npy", "--flat"}, "--data cannot be combined with --flat"},
      {{"--target", "0.95,1.5"}, "--target: '1.5' is not a recall in (0, 1]"},
      {{"--target", ""}, "--target: '' is not a recall in (0, 1]"},
      {{"--breakdown", "--systems", "hnswlib"},
       "--breakdown measures mrldb's funnel: --systems needs mrldb"},
      {{"--decay"}, "--decay needs a value"},
  };
  for (const auto& [args, message] : cases) {
    SearchArgs a;
    Status st = Parse(args, &a);
    EXPECT_TRUE(st.IsInvalidArgument()) << message;
    EXPECT_EQ(st.message(), message);
  }
}

}  // namespace
}  // namespace mrldb::bench
