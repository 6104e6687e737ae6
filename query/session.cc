#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "query/parser.h"
#include "query/session_impl.h"
#include "query/suggest.h"

namespace mrldb {

Session::Session(Database* db, SessionOptions options)
    : impl_(std::make_unique<Impl>(db, std::move(options))) {}
Session::~Session() = default;

Result<ResultSet> Session::Execute(std::string_view sql, std::span<const Param> params) {
  MRLDB_ASSIGN_OR_RETURN(query::Statement st, query::ParseStatement(sql));
  return impl_->Run(st, params);
}

Result<std::vector<ResultSet>> Session::ExecuteScript(std::string_view sql) {
  std::vector<ResultSet> out;
  for (const query::ScriptStatement& piece : query::SplitScript(sql)) {
    auto r = Execute(piece.text);
    if (!r.ok()) {
      // From the statement's position to the script's.
      const Status& st = r.status();
      if (st.line() == 0) return st;
      const uint32_t column = st.line() == 1 ? piece.pos.column + st.column() - 1 : st.column();
      return st.WithPosition(piece.pos.line + st.line() - 1, column);
    }
    out.push_back(std::move(r).value());
  }
  return out;
}

Result<Cell> Session::GetSetting(std::string_view name) const { return impl_->GetSetting(name); }

void Session::Cancel() { impl_->Cancel(); }

Result<ResultSet> Session::Impl::Run(const query::Statement& st, std::span<const Param> params) {
  cancel_ = false;
  const query::Position& pos = st.pos;
  // A parameter the statement does not use is a mistake (a miscounted list, a wrong statement).
  // One it uses but is not given is the binder's error, at the parameter.
  const bool all_given = st.parameters.empty() || st.parameters.back() <= params.size();
  for (uint32_t n = 1; all_given && n <= params.size(); ++n) {
    if (std::binary_search(st.parameters.begin(), st.parameters.end(), n)) continue;
    return query::ErrorAt(
        pos, st.parameters.empty()
                 ? fmt::format("parameter ${} is given but the statement uses no parameters "
                               "({} given)", n, params.size())
                 : fmt::format("parameter ${} is given but not used (the statement uses ${})", n,
                               fmt::join(st.parameters, ", $")));
  }
  return std::visit(
      [&](const auto& node) -> Result<ResultSet> {
        using T = std::decay_t<decltype(node)>;
        if constexpr (std::is_same_v<T, query::CreateCollection>) return Create(node, pos);
        else if constexpr (std::is_same_v<T, query::DropCollection>) return Drop(node, pos);
        else if constexpr (std::is_same_v<T, query::ShowCollections>) return ShowCollections();
        else if constexpr (std::is_same_v<T, query::ShowStats>) return ShowStats(node);
        else if constexpr (std::is_same_v<T, query::Describe>) return Describe(node, pos);
        else if constexpr (std::is_same_v<T, query::Insert>) return Insert(node, pos, params);
        else if constexpr (std::is_same_v<T, query::Delete>) return Delete(node, pos, params);
        else if constexpr (std::is_same_v<T, query::Update>) return Update(node, pos, params);
        else if constexpr (std::is_same_v<T, query::Select>) return Select(node, pos, params, nullptr);
        else if constexpr (std::is_same_v<T, query::Explain>) return Explain(node, pos, params);
        else if constexpr (std::is_same_v<T, query::Copy>) return Copy(node, pos);
        else if constexpr (std::is_same_v<T, query::AlterCollection>) return Alter(node, pos);
        else if constexpr (std::is_same_v<T, query::SetVariable>) return Set(node, pos);
        else if constexpr (std::is_same_v<T, query::ShowVariable>) return Show(node, pos);
        else if constexpr (std::is_same_v<T, query::WaitForIndex>) return WaitForIndex(node, pos);
        else if constexpr (std::is_same_v<T, query::Backup>) return Backup(node, pos);
        else if constexpr (std::is_same_v<T, query::Vacuum>) return Vacuum(node, pos);
        else if constexpr (std::is_same_v<T, query::Predict>) return Predict(node, pos, params, nullptr);
        else if constexpr (std::is_same_v<T, query::TunePredict>) return TunePredict(node, pos);
        else if constexpr (std::is_same_v<T, query::Analyze>) return Analyze(node, pos);
        else return Tune(node, pos);
      },
      st.node);
}

Result<CollectionSpec> Session::Impl::Spec(const std::string& name, const query::Position& pos) const {
  // Collection names match case-insensitively.
  for (const std::string& n : db_->ListCollections()) {
    if (query::SameName(n, name)) {
      MRLDB_ASSIGN_OR_RETURN(CollectionInfo info, db_->DescribeCollection(n));
      return info.spec;
    }
  }
  return Status::NotFound(fmt::format("collection \"{}\" does not exist{}", name,
                                      query::DidYouMean(name, db_->ListCollections())))
      .WithPosition(pos.line, pos.column);
}

Result<Cell> Session::Impl::GetSetting(std::string_view name) const {
  if (name == "ef") return Cell{ef_};
  if (name == "limit") return Cell{limit_};
  if (name == "device") return Cell{device_};
  if (name == "timing") return Cell{timing_};
  return Status::InvalidArgument(fmt::format(
      "unknown setting \"{}\" (settings: ef, limit, device, timing)", name));
}

Result<ResultSet> Session::Impl::Set(const query::SetVariable& s, const query::Position& pos) {
  auto bad = [&](std::string msg) { return query::ErrorAt(pos, std::move(msg)); };
  auto as_int = [&](int64_t lo, int64_t hi) -> Result<int64_t> {
    const auto* i = std::get_if<int64_t>(&s.value);
    if (!i || *i < lo || *i > hi) {
      return bad(fmt::format("{} must be an integer in {}..{}, not {}", s.name, lo, hi,
                             ValueToString(s.value)));
    }
    return *i;
  };
  const bool all = s.name == "all";
  if (s.reset) {
    if (all || s.name == "ef") ef_ = 0;
    if (all || s.name == "limit") limit_ = 10;
    if (all || s.name == "device") device_ = "cpu";
    if (all || s.name == "timing") timing_ = false;
    if (!all) MRLDB_RETURN_IF_ERROR(GetSetting(s.name).status());
    return ResultSet{{}, {}, "RESET", 0};
  }
  if (s.name == "ef") {
    MRLDB_ASSIGN_OR_RETURN(ef_, as_int(0, kMaxSearchEf));
  } else if (s.name == "limit") {
    MRLDB_ASSIGN_OR_RETURN(limit_, as_int(1, 100000));
  } else if (s.name == "device") {
    const auto* v = std::get_if<std::string>(&s.value);
    std::string d = v ? *v : "";
    for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (d != "cpu" && d != "gpu" && d != "auto") return bad("device must be 'cpu', 'gpu' or 'auto'");
    if (d == "gpu") {
      // Checked now so that the error comes with the SET, not with the next search.
      auto devices = db_->GpuDevices();
      if (!devices.ok()) {
        return Status::NotSupported(fmt::format("device 'gpu' is not available: {} (use 'cpu' or "
                                                "'auto')", devices.status().message()))
            .WithPosition(pos.line, pos.column);
      }
    }
    device_ = d;
  } else if (s.name == "timing") {
    if (const auto* b = std::get_if<bool>(&s.value)) {
      timing_ = *b;
    } else if (const auto* t = std::get_if<std::string>(&s.value); t && (*t == "on" || *t == "off")) {
      timing_ = *t == "on";
    } else {
      return bad("timing must be on, off, true or false");
    }
  } else {
    MRLDB_RETURN_IF_ERROR(GetSetting(s.name).status().WithPosition(pos.line, pos.column));
  }
  return ResultSet{{}, {}, "SET", 0};
}

Result<ResultSet> Session::Impl::Show(const query::ShowVariable& s, const query::Position& pos) {
  if (s.name == "memory") return ShowMemory();
  ResultSet r;
  r.columns = {{"name", CellType::kText}, {"value", CellType::kText}};
  auto text = [](const Cell& c) -> std::string {
    if (const auto* i = std::get_if<int64_t>(&c)) return std::to_string(*i);
    if (const auto* b = std::get_if<bool>(&c)) return *b ? "on" : "off";
    return std::get<std::string>(c);
  };
  std::vector<std::string> names = {"device", "ef", "limit", "timing"};
  if (s.name != "all") names = {s.name};
  for (const auto& n : names) {
    auto v = GetSetting(n);
    if (!v.ok()) return v.status().WithPosition(pos.line, pos.column);
    r.rows.push_back({Cell{n}, Cell{text(*v)}});
  }
  r.tag = "SHOW";
  return r;
}

}  // namespace mrldb
