// \copy: COPY with the files of the machine the shell runs on, as psql's \copy. On a local
// database that is COPY itself (the shell is where the files are); on a server it becomes COPY ...
// FROM STDIN / TO STDOUT, and the shell sends or receives the file's bytes (docs/protocol.md,
// "COPY over the wire").
#include <cstring>
#include <filesystem>

#include <fmt/format.h>

#include "query/formats/formats.h"
#include "query/parser.h"
#include "shell/shell.h"

namespace mrldb::shell {
namespace {

std::string Quoted(std::string_view text, char quote) {
  std::string out(1, quote);
  for (char c : text) out += c == quote ? std::string(2, c) : std::string(1, c);
  return out + quote;
}

// An option as COPY's WITH list takes it: key and literal.
Result<std::string> OptionText(const query::Option& o) {
  const auto* v = std::get_if<Value>(&o.value);
  if (v == nullptr) return Status::InvalidArgument(fmt::format("\\copy: option \"{}\" takes a value", o.key));
  if (const auto* text = std::get_if<std::string>(v)) return o.key + " " + Quoted(*text, '\'');
  return o.key + " " + ValueToString(*v);
}

// The COPY a server runs for `c`: FROM STDIN / TO STDOUT in `format`, with the options that are
// the server's (ids and overwrite are about the shell's files).
Result<std::string> StreamStatement(const query::Copy& c, formats::Format format) {
  std::string sql = fmt::format("COPY {} {} WITH (format '{}'", Quoted(c.collection, '"'),
                                c.from ? "FROM STDIN" : "TO STDOUT", formats::FormatName(format));
  for (const query::Option& o : c.options) {
    if (o.key == "ids" || o.key == "overwrite" || o.key == "format") continue;
    MRLDB_ASSIGN_OR_RETURN(std::string text, OptionText(o));
    sql += ", " + text;
  }
  return sql + ")";
}

}  // namespace

void Shell::ClientCopy(const std::string& arg) {
  const std::string sql = "COPY " + arg;
  auto error = [&](const std::string& shown, const Status& s) {
    fmt::print(stderr, "{}\n", FormatError(shown, s));
    failed = true;
  };
  auto st = query::ParseStatement(sql);
  if (!st.ok()) return error(sql, st.status());
  const auto& c = std::get<query::Copy>(st->node);
  if (c.stdio) {
    return error("", Status::InvalidArgument("\\copy reads and writes this machine's files: name "
                                             "one ('...'); STDIN and STDOUT are for clients"));
  }
  if (backend->local() != nullptr) {
    RunScript(sql);  // the database is here, and so are the files
    return;
  }
  std::string ids;
  bool overwrite = false;
  std::optional<formats::Format> file_format;
  for (const query::Option& o : c.options) {
    const auto* v = std::get_if<Value>(&o.value);
    if (o.key == "ids" && v && std::holds_alternative<std::string>(*v)) ids = std::get<std::string>(*v);
    if (o.key == "overwrite" && v && std::holds_alternative<bool>(*v)) overwrite = std::get<bool>(*v);
    if (o.key == "format" && v && std::holds_alternative<std::string>(*v)) {
      auto f = formats::ParseFormat(std::get<std::string>(*v));
      if (!f.ok()) return error("", f.status());
      file_format = *f;
    }
  }
  if (!file_format) {
    auto f = formats::FormatFromPath(c.path);
    if (!f.ok()) return error("", Status::InvalidArgument(f.status().message() + " (or give WITH (format ...))"));
    file_format = *f;
  }
  // npy and fvecs hold vectors only: their ids file, by default next to them, as COPY finds it.
  if ((*file_format == formats::Format::kNpy || *file_format == formats::Format::kFvecs) && ids.empty()) {
    ids = formats::DefaultIdsPath(c.path);
    if (c.from && !std::filesystem::exists(ids) && std::filesystem::exists(c.path)) {
      return error("", Status::InvalidArgument(fmt::format(
                           "{} files hold vectors only: give the ids with WITH (ids 'file') "
                           "(looked for '{}')", formats::FormatName(*file_format), ids)));
    }
  }
  if (!c.from && !overwrite && std::filesystem::exists(c.path)) {
    return error("", Status::AlreadyExists(fmt::format(
                         "'{}' exists; add WITH (overwrite true) to the \\copy to replace it", c.path)));
  }
  auto remote = StreamStatement(c, *file_format);
  if (!remote.ok()) return error("", remote.status());
  const auto t0 = std::chrono::steady_clock::now();
  auto r = Run([&] {
    return c.from ? backend->CopyFrom(*remote, c.path, ids) : backend->CopyTo(*remote, c.path, ids, overwrite);
  });
  bar.reset();
  if (!r.ok()) {
    // The server names the data STDIN; here it is the shell's file.
    std::string message = r.status().message();
    for (const auto& [stream, file] : {std::pair{"STDIN ids: ", ids}, std::pair{"STDIN: ", c.path}}) {
      if (message.starts_with(stream)) message = file + ": " + message.substr(std::strlen(stream));
    }
    // (Only the message and the position are shown.)
    const Status s = Status::InvalidArgument(message).WithPosition(r.status().line(), r.status().column());
    return error(s.line() > 0 ? *remote : "", s);
  }
  Print(*r);
  if (timing) {
    fmt::print(out, "Time: {:.3f} ms\n",
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::fflush(out);
}

}  // namespace mrldb::shell
