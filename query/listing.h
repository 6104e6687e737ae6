// SELECT without a vector search (a listing): where its rows come from (a point read by id or
// a scan), ORDER BY columns, GROUP BY and aggregates, OFFSET and LIMIT. Also the row source of
// UPDATE and DELETE. Bound once, then described (EXPLAIN) or run.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "mrldb/database.h"
#include "mrldb/session.h"
#include "query/ast.h"
#include "query/projection.h"

namespace mrldb::query {

// The rows a WHERE clause selects (`where` may be null): its filter, and its ids when it pins
// them (PointKeys), so that Find reads them by id.
Result<FindOptions> RowSource(const ExprPtr& where, std::span<const Param> params,
                              const CollectionSpec& spec);
// EXPLAIN's line for a row source: "point read of 2 ids on c" or "scan of c (1000 rows)", with
// ", filter ..." when there is one.
std::string AccessPath(const FindOptions& find, const CollectionSpec& spec, uint64_t live_rows);

struct BoundListing {
  struct Sort {
    int column;  // an attribute, CollectionSpec::kIdColumn, or (grouped) an output column
    bool descending;
    bool nulls_first;
  };
  struct GroupOutput {
    int group = -1;  // the GROUP BY key shown, or -1 for an aggregate
    Aggregate aggregate = Aggregate::kCountStar;
    int column = 0;  // the aggregate's column: an attribute or CollectionSpec::kIdColumn
  };
  FindOptions find;
  bool grouped = false;
  Projection projection;               // not grouped
  std::vector<int> group_columns;      // grouped: attributes or CollectionSpec::kIdColumn
  std::vector<GroupOutput> outputs;    // grouped
  std::vector<ResultColumn> columns;   // the result's columns
  std::vector<Sort> sort;
  uint64_t offset = 0;
  uint64_t limit = 0;  // 0: all
};

// Checks and binds a SELECT without ORDER BY <vector> <=> ...; errors point at the item, key or
// value at fault.
Result<BoundListing> BindListing(const Select& s, std::span<const Param> params,
                                 const CollectionSpec& spec);
// EXPLAIN's lines: the access path, then sort, grouping, offset and limit.
std::vector<std::string> DescribeListing(const BoundListing& b, const CollectionSpec& spec,
                                         uint64_t live_rows);
Result<ResultSet> RunListing(Database* db, const BoundListing& b, const CollectionSpec& spec);

}  // namespace mrldb::query
