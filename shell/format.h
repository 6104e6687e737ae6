// Printing result sets: aligned tables (psql-like, long vectors abbreviated), csv, json, jsonl.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

#include "mrldb/session.h"

namespace mrldb::shell {

enum class OutputFormat { kTable, kCsv, kJson, kJsonl };
// "table", "csv", "json", "jsonl"; false when unknown.
bool ParseOutputFormat(std::string_view name, OutputFormat* out);

// Writes `r` to `out`: rows in the chosen format, then (table only) "(N rows)" or the command tag.
void PrintResult(const ResultSet& r, OutputFormat format, FILE* out);

// A cell as text: NULL, numbers, true/false, strings, vectors as [a, b, ...] with at most
// `max_values` values shown ("..., 768 values]") when max_values > 0.
std::string CellText(const Cell& c, size_t max_values);

}  // namespace mrldb::shell
