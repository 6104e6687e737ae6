// libFuzzer target: every wire decoder on arbitrary payloads (the first byte picks the decoder),
// and for what decodes, encode + decode again must give the same value. A decoder must never
// crash, hang or allocate by a count it has not checked against the payload (docs/protocol.md).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "client/wire.h"

namespace {

using namespace mrldb;
using namespace mrldb::wire;

// The payload of an encoded frame (after u32 length + u8 type).
std::string_view Payload(const std::string& frame) { return std::string_view(frame).substr(5); }

void Check(bool ok) {
  if (!ok) std::abort();  // a round trip changed the value: libFuzzer reports the input
}

bool SameParam(const Param& a, const Param& b) {
  if (a.index() != b.index()) return false;
  if (const auto* m = std::get_if<QueryMatrix>(&a)) {
    const auto& n = std::get<QueryMatrix>(b);
    return m->rows == n.rows && m->dim == n.dim && m->values.size() == n.values.size() &&
           (m->values.empty() ||
            std::memcmp(m->values.data(), n.values.data(), m->values.size() * sizeof(float)) == 0);
  }
  if (const auto* v = std::get_if<std::vector<float>>(&a)) {
    const auto& w = std::get<std::vector<float>>(b);
    return v->size() == w.size() &&
           (v->empty() || std::memcmp(v->data(), w.data(), v->size() * sizeof(float)) == 0);
  }
  if (const auto* d = std::get_if<double>(&a)) {
    return std::memcmp(d, &std::get<double>(b), sizeof(double)) == 0;  // NaN payloads too
  }
  if (const auto* i = std::get_if<int64_t>(&a)) return *i == std::get<int64_t>(b);
  if (const auto* t = std::get_if<bool>(&a)) return *t == std::get<bool>(b);
  if (const auto* s = std::get_if<std::string>(&a)) return *s == std::get<std::string>(b);
  return true;  // both NULL
}

// Cells equal bit for bit (a NaN in a FLOAT or VECTOR cell equals itself).
bool SameCells(const std::vector<std::vector<Cell>>& a, const std::vector<std::vector<Cell>>& b) {
  if (a.size() != b.size()) return false;
  for (size_t r = 0; r < a.size(); ++r) {
    if (a[r].size() != b[r].size()) return false;
    for (size_t c = 0; c < a[r].size(); ++c) {
      const Cell &x = a[r][c], &y = b[r][c];
      if (x.index() != y.index()) return false;
      if (const auto* d = std::get_if<double>(&x)) {
        if (std::memcmp(d, &std::get<double>(y), sizeof(double)) != 0) return false;
      } else if (const auto* v = std::get_if<std::vector<float>>(&x)) {
        const auto& w = std::get<std::vector<float>>(y);
        if (v->size() != w.size() || (!v->empty() && std::memcmp(v->data(), w.data(), v->size() * sizeof(float)) != 0)) {
          return false;
        }
      } else if (!(x == y)) {
        return false;
      }
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string_view payload(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 13) {
    case 0: {
      auto h = DecodeHello(payload);
      if (h.ok()) {
        auto again = DecodeHello(Payload(EncodeHello(*h)));
        Check(again.ok() && again->version == h->version && again->client_name == h->client_name);
      }
      break;
    }
    case 1: {
      auto h = DecodeHelloOk(payload);
      if (h.ok()) {
        auto again = DecodeHelloOk(Payload(EncodeHelloOk(*h)));
        Check(again.ok() && again->server_version == h->server_version &&
              again->auth_required == h->auth_required && again->max_frame_bytes == h->max_frame_bytes);
      }
      break;
    }
    case 2: {
      auto t = DecodeAuth(payload);
      if (t.ok()) Check(*DecodeAuth(Payload(EncodeAuth(*t))) == *t);
      break;
    }
    case 3: {
      auto q = DecodeQuery(payload);
      if (q.ok()) {
        auto again = DecodeQuery(Payload(EncodeQuery(q->sql, q->params)));
        Check(again.ok() && again->sql == q->sql && again->params.size() == q->params.size());
        for (size_t i = 0; i < q->params.size(); ++i) Check(SameParam(again->params[i], q->params[i]));
      }
      break;
    }
    case 4: {
      auto s = DecodeSchema(payload);
      if (s.ok()) {
        auto again = DecodeSchema(Payload(EncodeSchema(*s)));
        Check(again.ok() && again->size() == s->size());
      }
      break;
    }
    case 5: {
      std::vector<std::vector<Cell>> rows;
      (void)DecodeRowBatch(payload, size % 7, &rows);
      break;
    }
    case 6: {
      std::string tag;
      uint64_t n = 0;
      if (DecodeComplete(payload, &tag, &n).ok()) {
        std::string tag2;
        uint64_t n2 = 0;
        Check(DecodeComplete(Payload(EncodeComplete(tag, n)), &tag2, &n2).ok() && tag2 == tag && n2 == n);
      }
      break;
    }
    case 7: {
      auto e = DecodeError(payload);
      if (e.ok()) {
        (void)ToStatus(*e);
        auto again = DecodeError(Payload(EncodeError(*e)));
        Check(again.ok() && again->code == e->code && again->message == e->message &&
              again->line == e->line && again->column == e->column && again->fatal == e->fatal);
      }
      break;
    }
    case 8: {
      auto p = DecodeProgress(payload);
      if (p.ok()) {
        auto again = DecodeProgress(Payload(EncodeProgress(*p)));
        Check(again.ok() && again->rows_done == p->rows_done && again->rows_total == p->rows_total);
      }
      break;
    }
    case 9: {
      std::string host, port;
      (void)SplitHostPort(payload, &host, &port);
      break;
    }
    case 10: {  // a COLUMN_BATCH of the result whose columns the first bytes name
      std::vector<ResultColumn> columns;
      for (size_t i = 1; i < std::min<size_t>(size, 5); ++i) {
        columns.push_back({"c", static_cast<CellType>(data[i] % 5 + 1)});
      }
      std::vector<std::vector<Cell>> rows;
      if (DecodeColumnBatch(payload, columns, &rows).ok()) {
        ResultSet r{columns, rows, "SELECT", 0};
        std::vector<std::string> frames;
        Check(EncodeResult(r, 1u << 30, 1u << 30, 1u << 30, &frames, ResultEncoding::kColumns).ok());
        std::vector<std::vector<Cell>> again;
        for (size_t f = 1; f + 1 < frames.size(); ++f) Check(DecodeColumnBatch(Payload(frames[f]), columns, &again).ok());
        Check(SameCells(again, rows));
      }
      break;
    }
    case 11: {
      auto d = DecodeCopyData(payload);
      if (d.ok()) Check(Payload(EncodeCopyData(FrameType::kCopyData, d->part, d->bytes)) == payload);
      break;
    }
    case 12: {
      auto b = DecodeCopyBegin(payload);
      if (b.ok()) Check(Payload(EncodeCopyBegin(FrameType::kCopyIn, *b)) == payload);
      (void)DecodeCopyFail(payload);
      break;
    }
  }
  return 0;
}
