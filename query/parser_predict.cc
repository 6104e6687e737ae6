// PREDICT, TUNE PREDICT and ANALYZE (docs/sql.md, "PREDICT" and "ANALYZE").
#include <string>
#include <utility>

#include <fmt/format.h>

#include "query/parser_internal.h"

namespace mrldb::query::internal {
namespace {

constexpr std::string_view kPredictClauses = "K, CASCADE, CONFIDENCE, VOTE, SHORTLIST";

}  // namespace

Status Parser::ParsePredictTarget(PredictClauses* out) {
  out->label_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(out->label, ParseName("a label column"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("FROM"));
  out->collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(out->collection, ParseName("a collection name"));
  return Status::Ok();
}

Status Parser::ParsePredictClauses(PredictClauses* out) {
  for (;;) {
    const Token at = Peek();
    auto once = [&](bool given) {
      return given ? ErrorAt(at, fmt::format("{} is given twice", at.text)) : Status::Ok();
    };
    if (AtKeyword("K")) {
      MRLDB_RETURN_IF_ERROR(once(out->k.has_value()));
      Advance();
      MRLDB_ASSIGN_OR_RETURN(out->k, ParseUint32("a neighbour count after K"));
    } else if (AtKeyword("CASCADE")) {
      MRLDB_RETURN_IF_ERROR(once(!out->cascade.empty()));
      Advance();
      MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kLParen, "'(' and the cascade's granularities"));
      do {
        MRLDB_ASSIGN_OR_RETURN(uint32_t g, ParseUint32("a granularity"));
        out->cascade.push_back(g);
      } while (Accept(TokenKind::kComma));
      MRLDB_RETURN_IF_ERROR(Expect(TokenKind::kRParen, "',' or ')'"));
    } else if (AtKeyword("CONFIDENCE")) {
      MRLDB_RETURN_IF_ERROR(once(out->confidence.has_value()));
      Advance();
      out->confidence_pos = Peek().pos;
      MRLDB_ASSIGN_OR_RETURN(out->confidence, ParseSignedNumber("a confidence (such as 0.9)"));
    } else if (AtKeyword("VOTE")) {
      MRLDB_RETURN_IF_ERROR(once(out->vote.has_value()));
      Advance();
      out->vote_pos = Peek().pos;
      if (AcceptKeyword("UNIFORM")) {
        out->vote = "UNIFORM";
      } else if (AcceptKeyword("DISTANCE")) {
        out->vote = "DISTANCE";
      } else {
        return SyntaxError(Peek(), "UNIFORM or DISTANCE");
      }
    } else if (AtKeyword("SHORTLIST")) {
      MRLDB_RETURN_IF_ERROR(once(out->shortlist.has_value()));
      Advance();
      MRLDB_ASSIGN_OR_RETURN(out->shortlist, ParseUint32("a shortlist size"));
    } else {
      return Status::Ok();
    }
  }
}

Result<Predict> Parser::ParsePredict() {
  Advance();  // PREDICT
  Predict predict;
  MRLDB_RETURN_IF_ERROR(ParsePredictTarget(&predict.clauses));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("FOR"));
  MRLDB_ASSIGN_OR_RETURN(predict.query, ParseValue("a query vector, matrix or parameter"));
  MRLDB_RETURN_IF_ERROR(ParsePredictClauses(&predict.clauses));
  if (AcceptKeyword("WITH")) {
    if (!AcceptKeyword("NEIGHBOURS") && !AcceptKeyword("NEIGHBORS")) {
      return SyntaxError(Peek(), "NEIGHBOURS after WITH");
    }
    predict.neighbours = true;
  }
  if (AcceptKeyword("WHERE")) {
    MRLDB_ASSIGN_OR_RETURN(predict.where, ParsePredicate());
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
    return predict;
  }
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(
      fmt::format("{}, {}WHERE", kPredictClauses, predict.neighbours ? "" : "WITH NEIGHBOURS, ")));
  return predict;
}

Result<TunePredict> Parser::ParseTunePredict() {
  Advance();  // TUNE
  Advance();  // PREDICT
  TunePredict tune;
  MRLDB_RETURN_IF_ERROR(ParsePredictTarget(&tune.clauses));
  MRLDB_RETURN_IF_ERROR(ParsePredictClauses(&tune.clauses));
  if (!AtKeyword("FOR")) return SyntaxError(Peek(), fmt::format("{} or FOR ACCURACY", kPredictClauses));
  Advance();
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("ACCURACY"));
  MRLDB_RETURN_IF_ERROR(ExpectKeyword("WITHIN"));
  tune.margin_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(tune.margin, ParseSignedNumber("an accuracy margin (such as 0.005)"));
  if (AcceptKeyword("SAMPLE")) {
    MRLDB_ASSIGN_OR_RETURN(tune.sample, ParseUint32("a sample size"));
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
  } else {
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd("SAMPLE"));
  }
  return tune;
}

Result<Analyze> Parser::ParseAnalyze() {
  Advance();  // ANALYZE
  Analyze analyze;
  analyze.collection_pos = Peek().pos;
  MRLDB_ASSIGN_OR_RETURN(analyze.collection, ParseName("a collection name"));
  if (AcceptKeyword("LABEL")) {
    analyze.label_pos = Peek().pos;
    MRLDB_ASSIGN_OR_RETURN(analyze.label, ParseName("a label column"));
  }
  if (AcceptKeyword("SAMPLE")) {
    MRLDB_ASSIGN_OR_RETURN(analyze.sample, ParseUint32("a sample size"));
  }
  if (AcceptKeyword("DISAGREEMENT")) {
    analyze.disagreement = true;
    if (AcceptKeyword("K")) {
      MRLDB_ASSIGN_OR_RETURN(analyze.k, ParseUint32("a neighbour count after K"));
    }
    if (AcceptKeyword("LIMIT")) {
      MRLDB_ASSIGN_OR_RETURN(analyze.limit, ParseUint32("a row count after LIMIT"));
      MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(""));
      return analyze;
    }
    MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(analyze.k ? "LIMIT" : "K, LIMIT"));
    return analyze;
  }
  std::string rest = analyze.sample ? "" : "SAMPLE, ";
  if (!analyze.label && !analyze.sample) rest = "LABEL, SAMPLE, ";
  MRLDB_RETURN_IF_ERROR(ExpectStatementEnd(rest + "DISAGREEMENT"));
  return analyze;
}

}  // namespace mrldb::query::internal
