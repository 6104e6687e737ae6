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
// `expanded` (table only; the shell's \x): each row as a block of "column | value" lines under
// a "-[ RECORD n ]-" header, as psql does.
void PrintResult(const ResultSet& r, OutputFormat format, FILE* out, bool expanded = false);
// What PrintResult would write.
std::string FormatResult(const ResultSet& r, OutputFormat format, bool expanded = false);

// A cell as text: NULL, numbers, true/false, strings, vectors as [a, b, ...] with at most
// `max_values` values shown ("..., 768 values]") when max_values > 0.
std::string CellText(const Cell& c, size_t max_values);

}  // namespace mrldb::shell
