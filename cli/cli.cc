#include "cli/cli.h"

#include "mrldb/options.h"

#include <charconv>
#include <cmath>
#include <memory>
#include <sstream>
#include <vector>

#include <fmt/format.h>

#include "mrldb/version.h"
#include "query/suggest.h"

namespace mrldb::cli {
namespace {

// The subcommand that the parse reached (the app itself when none), to suggest its options.
const CLI::App* Deepest(const CLI::App* app) {
  for (const CLI::App* sub : app->get_subcommands()) return Deepest(sub);
  return app;
}

// Every option and subcommand name `app` accepts, with its parents' options when it falls
// through to them.
void Names(const CLI::App* app, std::vector<std::string>* out) {
  for (const CLI::Option* o : app->get_options()) {
    for (const std::string& n : o->get_lnames()) out->push_back("--" + n);
    for (const std::string& n : o->get_snames()) out->push_back("-" + n);
  }
  for (const CLI::App* sub : app->get_subcommands({})) out->push_back(sub->get_name());
  if (app->get_fallthrough() && app->get_parent() != nullptr) Names(app->get_parent(), out);
}

// --help shows "--rows N" where CLI11 would show "--rows UINT".
void ShortTypeNames(CLI::App* app) {
  for (CLI::Option* o : app->get_options()) {
    const std::string t = o->get_type_name();
    if (t == "UINT" || t == "INT") o->type_name("N");
    if (t == "FLOAT") o->type_name("X");
  }
  for (CLI::App* sub : app->get_subcommands({})) ShortTypeNames(sub);
}

std::string Range(double min, double max) {
  if (max >= 1.8e19) return min == 0 ? "an integer >= 0" : fmt::format("an integer >= {:.0f}", min);
  return fmt::format("an integer in {:.0f}..{:.0f}", min, max);
}

// Breaks `text` into lines of at most `width` characters at spaces.
std::string Wrap(const std::string& text, size_t width) {
  std::string out, line;
  size_t at = 0;
  while (at < text.size()) {
    const size_t space = std::min(text.find(' ', at), text.size());
    const std::string word = text.substr(at, space - at);
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n";
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    at = space + 1;
  }
  return out + line;
}

// Wraps the descriptions of options and subcommands (CLI11 2.1 does not): the help text
// indents each "\n" to the description column.
class WrappingFormatter : public CLI::Formatter {
 public:
  std::string make_option_desc(const CLI::Option* opt) const override {
    return Wrap(CLI::Formatter::make_option_desc(opt), kWidth);
  }
  std::string make_subcommand(const CLI::App* sub) const override {
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true), Wrap(sub->get_description(), kWidth),
                             column_width_);
    return out.str();
  }

 private:
  static constexpr size_t kWidth = 66;
};

}  // namespace

void Setup(CLI::App* app) {
  app->set_version_flag("--version", fmt::format("mrldb {}", Version()), "print the version and exit");
  auto formatter = std::make_shared<WrappingFormatter>();
  formatter->column_width(32);
  app->formatter(formatter);
}

int Parse(CLI::App* app, int argc, char** argv) {
  ShortTypeNames(app);
  try {
    app->parse(argc, argv);
    return -1;
  } catch (const CLI::CallForHelp& e) {
    return app->exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app->exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app->exit(e);
  } catch (const CLI::ParseError& e) {
    const CLI::App* at = Deepest(app);
    std::vector<std::string> names;
    Names(at, &names);
    std::string hint;
    for (int i = 1; i < argc && hint.empty(); ++i) {
      std::string arg = argv[i];
      arg = arg.substr(0, arg.find('='));
      if (std::find(names.begin(), names.end(), arg) != names.end()) continue;
      if (std::string best = query::ClosestName(arg, names); !best.empty()) {
        hint = fmt::format("; did you mean {}?", best);
      }
    }
    std::string program = at->get_name();
    for (const CLI::App* p = at->get_parent(); p != nullptr; p = p->get_parent()) {
      program = p->get_name() + " " + program;
    }
    fmt::print(stderr, "{}: {}{}\nRun '{} --help' for the options.\n", program, Message(e), hint,
               program);
    return 2;
  }
}

std::string Message(const CLI::ParseError& e) {
  const std::string what = e.what();
  // CLI11: "--decay: 1 required TEXT missing".
  const size_t colon = what.find(": ");
  if (dynamic_cast<const CLI::ArgumentMismatch*>(&e) != nullptr && colon != std::string::npos &&
      what.find(" required ", colon) != std::string::npos && what.ends_with(" missing")) {
    return what.substr(0, colon) + " needs a value";
  }
  return what;
}

CLI::Validator Integer(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        int64_t v = 0;
        uint64_t u = 0;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data(), end, v);
        double value = static_cast<double>(v);
        if (ec == std::errc::result_out_of_range || (ec == std::errc() && p == end && v >= 0)) {
          auto [pu, ecu] = std::from_chars(text.data(), end, u);
          p = pu, ec = ecu, value = static_cast<double>(u);
        }
        if (ec != std::errc() || p != end || text.empty() || value < min || value > max) {
          return fmt::format("bad value '{}' ({})", text, Range(min, max));
        }
        return "";
      },
      "");
}

CLI::Validator Number(double min, double max) {
  return CLI::Validator(
      [min, max](std::string& text) -> std::string {
        double v = 0;
        const char* end = text.data() + text.size();
        auto [p, ec] = std::from_chars(text.data(), end, v);
        if (ec != std::errc() || p != end || !std::isfinite(v) || v < min || v > max) {
          return fmt::format("bad value '{}' (a number in {:g}..{:g})", text, min, max);
        }
        return "";
      },
      "");
}

CLI::Validator OneOf(std::initializer_list<std::string> words) {
  std::vector<std::string> list(words);
  std::string shown;
  for (size_t i = 0; i < list.size(); ++i) {
    shown += (i == 0 ? "" : i + 1 == list.size() ? " or " : ", ") + list[i];
  }
  return CLI::Validator(
      [list, shown](std::string& text) -> std::string {
        if (std::find(list.begin(), list.end(), text) != list.end()) return "";
        return fmt::format("bad value '{}' ({})", text, shown);
      },
      "");
}

CLI::Option* AddOnOff(CLI::App* app, const std::string& name, bool* out, const std::string& help) {
  return app
      ->add_option_function<std::string>(name, [out](const std::string& v) { *out = v == "on"; },
                                         fmt::format("{}. Default: {}", help, *out ? "on" : "off"))
      ->type_name("on|off")
      ->check(OneOf({"on", "off"}));
}

CLI::Option* AddMemoryBudget(CLI::App* app, std::optional<uint64_t>* out) {
  return app
      ->add_option_function<std::string>(
          "--memory-budget", [out](const std::string& v) { *out = *ParseMemoryBudget(v); },
          "memory for the whole database (K, M, G, T: 8G); vector blocks beyond it are read "
          "from storage. Default: no budget")
      ->type_name("SIZE")
      ->check(CLI::Validator(
          [](std::string& v) -> std::string {
            auto parsed = ParseMemoryBudget(v);
            return parsed.ok() ? "" : parsed.status().message();
          },
          ""));
}

CLI::Option* AddStorageReadDepth(CLI::App* app, unsigned* out) {
  return app
      ->add_option("--storage-read-depth", *out,
                   "storage reads one re-rank stage keeps in flight under a memory budget (0: "
                   "auto, several only once reads wait on the disk; 1: one at a time). Default: 0")
      ->check(Integer(0, 64));
}

}  // namespace mrldb::cli
