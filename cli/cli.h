// The command lines of mrldb, mrldb serve, mrldb connect and mrldb-bench: CLI11 with one set of
// conventions, so that every program reads its options the same way and fails the same way.
//
//   CLI::App app{"the shell", "mrldb"};
//   mrldb::cli::Setup(&app);                     // --help, --version, "did you mean"
//   app.add_option("--rows", rows, "rows")->check(mrldb::cli::Integer(1, 1e7));
//   if (int rc = mrldb::cli::Parse(&app, argc, argv); rc >= 0) return rc;
//
// Errors (unknown option, missing or bad value) print "<program>: <what>", a "did you mean"
// for a misspelt option or subcommand, and "Run '<program> --help' ..." to stderr; the exit
// status is then 2. --help and --version print to stdout and exit 0.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <CLI/CLI.hpp>

namespace mrldb::cli {

// Sets `app`'s conventions: --version printing "mrldb <version>", help text wide enough for
// the option descriptions. Call before adding subcommands, which inherit them.
void Setup(CLI::App* app);

// Parses argv[1, argc) into `app`. Returns -1 when the program should go on, otherwise its exit
// status (0 after --help or --version, 2 after a usage error, both printed).
int Parse(CLI::App* app, int argc, char** argv);

// The text of a usage error: CLI11's, with "--rows needs a value" for a value missing.
std::string Message(const CLI::ParseError& e);

// A whole decimal integer in [min, max]: "bad value 'x' (an integer in 1..100)"; the option's
// name comes first in the message ("--rows: bad value ...").
CLI::Validator Integer(double min, double max = 1.8446744073709552e19);
// A finite number (decimal, fraction or exponent) in [min, max].
CLI::Validator Number(double min, double max);
// One of `words`, e.g. {"on", "off"}: "bad value 'yes' (on or off)".
CLI::Validator OneOf(std::initializer_list<std::string> words);

// `--memory-budget SIZE` (K, M, G, T units: mrldb::ParseMemoryBudget) into *out; a bad size is
// a usage error naming what was wrong.
CLI::Option* AddMemoryBudget(CLI::App* app, std::optional<uint64_t>* out);

// `--storage-read-depth N` into *out (DatabaseOptions::storage_read_depth).
CLI::Option* AddStorageReadDepth(CLI::App* app, unsigned* out);

// `--NAME on|off` into *out (Default: *out as it is).
CLI::Option* AddOnOff(CLI::App* app, const std::string& name, bool* out, const std::string& help);

}  // namespace mrldb::cli
