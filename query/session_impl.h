// Session::Impl: the executor. One method per statement kind; session.cc dispatches, the
// statement groups live in exec_ddl.cc, exec_dml.cc, exec_select.cc and exec_copy.cc.
#pragma once

#include <atomic>
#include <map>
#include <span>
#include <string>

#include "mrldb/session.h"
#include "query/ast.h"
#include "query/binder.h"
#include "query/formats/formats.h"

namespace mrldb {

class Session::Impl {
 public:
  Impl(Database* db, SessionOptions options) : db_(db), options_(std::move(options)) {}

  Result<ResultSet> Run(const query::Statement& st, std::span<const Param> params);
  Result<Cell> GetSetting(std::string_view name) const;
  void Cancel() { cancel_ = true; }

 private:
  using Params = std::span<const Param>;
  Result<ResultSet> Create(const query::CreateCollection& s, const query::Position& pos);
  Result<ResultSet> Drop(const query::DropCollection& s, const query::Position& pos);
  Result<ResultSet> ShowCollections();
  Result<ResultSet> ShowStats(const query::ShowStats& s);
  Result<ResultSet> Describe(const query::Describe& s, const query::Position& pos);
  Result<ResultSet> Alter(const query::AlterCollection& s, const query::Position& pos);
  Result<ResultSet> AlterColumns(const query::AlterCollection& s, const CollectionSpec& spec);
  Result<ResultSet> Tune(const query::Tune& s, const query::Position& pos);
  Result<ResultSet> WaitForIndex(const query::WaitForIndex& s, const query::Position& pos);
  Result<ResultSet> Backup(const query::Backup& s, const query::Position& pos);
  Result<ResultSet> Vacuum(const query::Vacuum& s, const query::Position& pos);
  Result<ResultSet> Insert(const query::Insert& s, const query::Position& pos, Params params);
  Result<ResultSet> Delete(const query::Delete& s, const query::Position& pos, Params params);
  Result<ResultSet> Update(const query::Update& s, const query::Position& pos, Params params);
  Result<ResultSet> Select(const query::Select& s, const query::Position& pos, Params params,
                           SearchStats* stats);
  Result<ResultSet> Explain(const query::Explain& s, const query::Position& pos, Params params);
  Result<ResultSet> Copy(const query::Copy& s, const query::Position& pos);
  // exec_copy.cc: COPY FROM and COPY TO once their options and files are settled.
  Result<ResultSet> CopyIn(const struct CopyJob& job);
  Result<std::unique_ptr<formats::VectorReader>> CopyReader(const CopyJob& job);
  Result<ResultSet> CopyOut(const struct CopyJob& job);
  Result<ResultSet> Set(const query::SetVariable& s, const query::Position& pos);
  Result<ResultSet> Show(const query::ShowVariable& s, const query::Position& pos);
  // exec_predict.cc
  Result<ResultSet> Predict(const query::Predict& s, const query::Position& pos, Params params,
                            PredictStats* stats);
  Result<ResultSet> ExplainPredict(const query::Predict& s, bool analyze,
                                   const query::Position& pos, Params params);
  Result<ResultSet> TunePredict(const query::TunePredict& s, const query::Position& pos);
  Result<ResultSet> Analyze(const query::Analyze& s, const query::Position& pos);
  Result<ResultSet> ShowMemory();

  // The query vector of a search: a literal, a parameter, or a stored row's vector.
  Result<std::vector<float>> SearchQuery(const query::Distance& order, Params params,
                                         const CollectionSpec& spec) const;
  // EXPLAIN of a statement that is not a vector search: its access path and steps.
  Result<ResultSet> ExplainOther(const query::Explain& s, Params params);
  // The collection's spec, or NotFound positioned at `pos`.
  Result<CollectionSpec> Spec(const std::string& name, const query::Position& pos) const;
  // The real path of a file the server reads or writes (`what`: "COPY FROM", ...), checked
  // against options_.copy_dir and refused by options_.copy_refused.
  Result<std::string> CopyPath(const std::string& path, std::string_view what, bool for_write,
                               const query::Position& pos) const;
  // TUNE ... USING QUERIES FROM: the file's vectors (npy, fvecs, csv or jsonl by extension;
  // csv/jsonl: the collection's vector column), row-major n x D. Errors name the file.
  Result<std::vector<float>> ReadQueries(const std::string& file, const CollectionSpec& spec,
                                         const query::Position& pos) const;

  Database* db_;
  SessionOptions options_;
  std::atomic<bool> cancel_{false};
  // Settings: ef (0: plan default), limit (10), device ("cpu"), timing (false).
  int64_t ef_ = 0;
  int64_t limit_ = 10;
  std::string device_ = "cpu";
  Device SearchDevice() const {
    return device_ == "gpu" ? Device::kGpu : device_ == "auto" ? Device::kAuto : Device::kCpu;
  }
  bool timing_ = false;
};

}  // namespace mrldb
