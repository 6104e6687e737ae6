// Results as frames: SCHEMA, ROW_BATCH or COLUMN_BATCH frames, COMPLETE (docs/protocol.md).
#include <cstring>

#include <fmt/format.h>

#include "client/wire.h"
#include "client/wire_codec.h"

namespace mrldb::wire {

using codec::CheckEnd;
using codec::Malformed;
using codec::Reader;
using codec::Writer;
using codec::WriteValue;

namespace {

constexpr uint32_t kRaggedDim = 0xFFFFFFFF;

// The most bytes a cell takes in a batch: its ROW_BATCH value, or its share of a COLUMN_BATCH
// (a NULL still takes its null flag and a fixed-size slot; TEXT its end offset; VECTOR its
// dimension in the ragged form).
size_t CellBytes(const Cell& c, CellType type, ResultEncoding encoding) {
  switch (c.index()) {
    case 1:
    case 2: return 9;
    case 3: return 2;
    case 4: return 5 + std::get<std::string>(c).size();
    case 5: return 5 + 4 * std::get<std::vector<float>>(c).size();
    default: break;  // NULL
  }
  if (encoding == ResultEncoding::kRows) return 1;
  return type == CellType::kBigint || type == CellType::kFloat ? 9 : type == CellType::kBool ? 2 : 5;
}

Status Mismatch(const ResultColumn& column, const Cell& c) {
  static constexpr std::string_view kNames[] = {"NULL", "BIGINT", "FLOAT", "BOOL", "TEXT", "VECTOR"};
  return Status::Internal(fmt::format("result column \"{}\" ({}) holds a {} value", column.name,
                                      CellTypeName(column.type), kNames[c.index()]));
}

// One column of rows [begin, end) in COLUMN_BATCH form: the null flags, then the values.
Status WriteColumn(const ResultSet& r, size_t col, size_t begin, size_t end, Writer* w) {
  const ResultColumn& column = r.columns[col];
  const auto cell = [&](size_t i) -> const Cell& { return r.rows[i][col]; };
  bool nulls = false;
  for (size_t i = begin; i < end && !nulls; ++i) nulls = cell(i).index() == 0;
  w->U8(nulls ? 1 : 0);
  if (nulls) {
    for (size_t i = begin; i < end; ++i) w->U8(cell(i).index() == 0 ? 1 : 0);
  }
  for (size_t i = begin; i < end; ++i) {
    const size_t want = static_cast<size_t>(column.type);
    if (cell(i).index() != 0 && cell(i).index() != want) return Mismatch(column, cell(i));
  }
  switch (column.type) {
    case CellType::kBigint:
      for (size_t i = begin; i < end; ++i) {
        w->I64(cell(i).index() == 0 ? 0 : std::get<int64_t>(cell(i)));
      }
      return Status::Ok();
    case CellType::kFloat:
      for (size_t i = begin; i < end; ++i) {
        w->F64(cell(i).index() == 0 ? 0 : std::get<double>(cell(i)));
      }
      return Status::Ok();
    case CellType::kBool:
      for (size_t i = begin; i < end; ++i) {
        w->U8(cell(i).index() != 0 && std::get<bool>(cell(i)) ? 1 : 0);
      }
      return Status::Ok();
    case CellType::kText: {
      const auto text = [&](size_t i) -> std::string_view {
        return cell(i).index() == 0 ? std::string_view() : std::get<std::string>(cell(i));
      };
      uint32_t offset = 0;
      for (size_t i = begin; i < end; ++i) {
        offset += static_cast<uint32_t>(text(i).size());
        w->U32(offset);
      }
      for (size_t i = begin; i < end; ++i) w->Raw(text(i).data(), text(i).size());
      return Status::Ok();
    }
    case CellType::kVector: {
      // One dimension for the whole batch (the usual case: a stored column, a prefix), or, with
      // NULLs, empty or ragged vectors, each row's own.
      const auto vec = [&](size_t i) -> const std::vector<float>& {
        return std::get<std::vector<float>>(cell(i));
      };
      bool ragged = nulls || vec(begin).empty();
      for (size_t i = begin + 1; i < end && !ragged; ++i) ragged = vec(i).size() != vec(begin).size();
      if (ragged) {
        w->U32(kRaggedDim);
        for (size_t i = begin; i < end; ++i) {
          w->U32(cell(i).index() == 0 ? 0 : static_cast<uint32_t>(vec(i).size()));
        }
      } else {
        w->U32(static_cast<uint32_t>(vec(begin).size()));
      }
      for (size_t i = begin; i < end; ++i) {
        if (cell(i).index() != 0) w->Floats(vec(i));
      }
      return Status::Ok();
    }
  }
  return Status::Internal("unknown column type");
}

}  // namespace

Status EncodeResult(const ResultSet& result, uint64_t max_rows, uint64_t max_bytes,
                    uint32_t max_frame_bytes, std::vector<std::string>* frames,
                    ResultEncoding encoding) {
  if (result.rows.size() > max_rows) {
    return Status::InvalidArgument(fmt::format(
        "the result has {} rows; this server sends at most {} (add a LIMIT or narrow the WHERE)",
        result.rows.size(), max_rows));
  }
  const bool columns = encoding == ResultEncoding::kColumns;
  std::vector<std::string> out;
  out.push_back(EncodeSchema(result.columns));
  uint64_t bytes = 0;
  size_t begin = 0;
  std::string frame;
  // A frame closes once its payload reaches kBatchBytes, and before a row would take it past
  // max_frame_bytes (that row starts the next frame); sizes are counted per row, so that a
  // COLUMN_BATCH is cut where it would be cut row by row.
  while (begin < result.rows.size()) {
    uint64_t payload = 4 + (columns ? 5 * result.columns.size() : 0);  // row count, column heads
    size_t end = begin;
    while (end < result.rows.size() && end - begin < kBatchRows && payload < kBatchBytes) {
      uint64_t row = 0;
      for (size_t c = 0; c < result.rows[end].size(); ++c) {
        row += CellBytes(result.rows[end][c], result.columns[c].type, encoding);
      }
      if (payload + row > max_frame_bytes) {
        if (end == begin) {
          return Status::InvalidArgument(fmt::format(
              "row {} of the result takes {} bytes, more than this server's frame limit of {} "
              "bytes (select fewer or shorter columns)", end + 1, row, max_frame_bytes));
        }
        break;  // the row goes to the next frame
      }
      payload += row;
      ++end;
    }
    frame.clear();
    Writer w(columns ? FrameType::kColumnBatch : FrameType::kRowBatch, &frame);
    w.U32(static_cast<uint32_t>(end - begin));
    if (columns) {
      for (size_t c = 0; c < result.columns.size(); ++c) {
        MRLDB_RETURN_IF_ERROR(WriteColumn(result, c, begin, end, &w));
      }
    } else {
      for (size_t i = begin; i < end; ++i) {
        for (const Cell& c : result.rows[i]) WriteValue(c, &w);
      }
    }
    bytes += w.payload_bytes();
    if (bytes > max_bytes) {
      return Status::InvalidArgument(fmt::format(
          "the result is larger than this server's limit of {} bytes (add a LIMIT, or select "
          "fewer or shorter columns)", max_bytes));
    }
    w.Finish();
    out.push_back(std::move(frame));
    frame = std::string();
    begin = end;
  }
  out.push_back(EncodeComplete(result.tag, result.rows_affected));
  for (auto& f : out) frames->push_back(std::move(f));
  return Status::Ok();
}

Status DecodeColumnBatch(std::string_view payload, const std::vector<ResultColumn>& columns,
                         std::vector<std::vector<Cell>>* rows) {
  constexpr std::string_view kFrame = "COLUMN_BATCH";
  Reader r(payload);
  uint32_t n = 0;
  if (!r.U32(&n)) return Malformed(kFrame, "truncated row count");
  if (columns.empty() && n > 0) {
    return Malformed(kFrame, fmt::format("{} rows in a result without columns", n));
  }
  // Every column takes at least a byte per row.
  if (!columns.empty() && n > r.left() / columns.size()) {
    return Malformed(kFrame, fmt::format("{} rows of {} columns cannot fit in the frame", n,
                                         columns.size()));
  }
  std::vector<std::vector<Cell>> batch(n, std::vector<Cell>(columns.size()));
  for (size_t c = 0; c < columns.size(); ++c) {
    const auto bad = [&](std::string_view what) {
      return Malformed(kFrame, fmt::format("column {}: {}", c + 1, what));
    };
    uint8_t has_nulls = 0;
    if (!r.U8(&has_nulls) || has_nulls > 1) return bad("the null flag must be 0 or 1");
    std::vector<uint8_t> null(n, 0);
    for (uint32_t i = 0; i < n && has_nulls; ++i) {
      if (!r.U8(&null[i]) || null[i] > 1) return bad("truncated or invalid null flags");
    }
    const auto set = [&](uint32_t i, Cell v) {
      if (!null[i]) batch[i][c] = std::move(v);
    };
    switch (columns[c].type) {
      case CellType::kBigint:
        for (uint32_t i = 0; i < n; ++i) {
          int64_t v = 0;
          if (!r.I64(&v)) return bad("truncated BIGINT values");
          set(i, v);
        }
        break;
      case CellType::kFloat:
        for (uint32_t i = 0; i < n; ++i) {
          double v = 0;
          if (!r.F64(&v)) return bad("truncated FLOAT values");
          set(i, v);
        }
        break;
      case CellType::kBool:
        for (uint32_t i = 0; i < n; ++i) {
          uint8_t v = 0;
          if (!r.U8(&v) || v > 1) return bad("BOOL values must be bytes 0 or 1");
          set(i, v == 1);
        }
        break;
      case CellType::kText: {
        std::vector<uint32_t> ends(n);
        for (uint32_t i = 0; i < n; ++i) {
          if (!r.U32(&ends[i]) || (i > 0 && ends[i] < ends[i - 1])) {
            return bad("truncated or decreasing TEXT offsets");
          }
        }
        std::string text;
        if (n > 0 && !r.Bytes(ends[n - 1], &text)) return bad("TEXT bytes exceed the frame");
        for (uint32_t i = 0; i < n; ++i) {
          const uint32_t start = i == 0 ? 0 : ends[i - 1];
          set(i, text.substr(start, ends[i] - start));
        }
        break;
      }
      case CellType::kVector: {
        uint32_t dim = 0;
        if (!r.U32(&dim)) return bad("truncated VECTOR dimension");
        std::vector<uint32_t> dims(n, dim);
        for (uint32_t i = 0; i < n && dim == kRaggedDim; ++i) {
          if (!r.U32(&dims[i])) return bad("truncated VECTOR dimensions");
        }
        if (dim == 0) return bad("a VECTOR column's dimension is at least 1 (0xFFFFFFFF: ragged)");
        for (uint32_t i = 0; i < n; ++i) {
          std::vector<float> v;
          if (!r.Floats(null[i] ? 0 : dims[i], &v)) return bad("VECTOR values exceed the frame");
          set(i, std::move(v));
        }
        break;
      }
    }
  }
  MRLDB_RETURN_IF_ERROR(CheckEnd(r, kFrame));
  for (auto& row : batch) rows->push_back(std::move(row));
  return Status::Ok();
}

}  // namespace mrldb::wire
