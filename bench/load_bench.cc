// mrldb-bench load: a load generator against `mrldb serve` over the wire protocol.
//
//   mrldb-bench load (--serve MRLDB_BINARY [--dir DIR] | --connect HOST:PORT)
//                    [--rows N] [--dim D] [--seconds T] [--batch B] [--k K]
//                    [--searchers S] [--inserters I] [--upserters U] [--deleters E]
//                    [--phase S,I,U,D]... [--write-rate R] [--json FILE]
//
// Each client is one mrldb::Client on its own thread with one role: searchers run
// `SELECT id, distance ... ORDER BY embedding <=> $1 LIMIT k` with synthetic queries; inserters
// insert batches of B new ids; upserters replace B random ids of the base rows; deleters delete
// one random base id per statement. 1-64 clients in all, for T seconds after loading N base rows
// of D dimensions (cosine, BIGINT ids) into a fresh collection `load_bench` (dropped first) and
// waiting for its graph. Each --phase runs those client counts for T seconds in turn, on the
// same collection (the --searchers ... counts are the one phase when no --phase is given).
// `--serve` starts `MRLDB_BINARY serve --db DIR --listen 127.0.0.1:0` for the run and stops it
// (SIGTERM) after; `--connect` uses a running server (loopback only). Reports per operation
// kind: operations/s (and rows/s for writes), p50/p99/p999 latency, errors (the first message).
// --write-rate R paces each writing client to R statements per second (default: back to back);
// a phase's fifth field overrides it for that phase.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "bench/commands.h"
#include "mrldb/client.h"
#include "mrldb/synthetic.h"

namespace mrldb::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct LoadArgs {
  std::string serve, dir, connect, json;
  size_t rows = 50000, batch = 50;
  uint32_t dim = 256, k = 10;
  double seconds = 20;
  double write_rate = 0;  // for a phase that gives none
  int clients[4] = {16, 0, 0, 0};  // searchers, inserters, upserters, deleters
  struct Phase {
    std::array<int, 4> clients{};  // searchers, inserters, upserters, deleters
    double write_rate = 0;         // statements per second per writing client; 0: back to back
  };
  std::vector<std::string> phase_texts;  // --phase S,I,U,D[,R], as given
  std::vector<Phase> phases;  // --phase S,I,U,D[,R] (each T seconds), else `clients`
};

constexpr const char* kKinds[4] = {"search", "insert", "upsert", "delete"};

pid_t g_server_pid = -1;  // the server --serve started, stopped by Fail too

[[noreturn]] void Fail(const std::string& what) {
  fmt::print(stderr, "mrldb-bench load: {}\n", what);
  if (g_server_pid > 0) {
    kill(g_server_pid, SIGTERM);
    waitpid(g_server_pid, nullptr, 0);
  }
  std::exit(1);
}

// A check across options failed: a usage error (exit status 2), before any server started.
[[noreturn]] void Usage(const std::string& what) {
  fmt::print(stderr, "mrldb-bench load: {}\nRun 'mrldb-bench load --help' for the options.\n", what);
  std::exit(2);
}

// The phases from --phase (or the client counts) and the checks across options.
void Finish(LoadArgs& a) {
  for (const std::string& v : a.phase_texts) {
    LoadArgs::Phase p;
    p.write_rate = -1;
    auto& c = p.clients;
    char end = 0;
    const int got = std::sscanf(v.c_str(), "%d,%d,%d,%d,%lf%c", &c[0], &c[1], &c[2], &c[3], &p.write_rate, &end);
    if (got < 4 || got > 5) {
      Usage(fmt::format("--phase: bad value '{}' (SEARCHERS,INSERTERS,UPSERTERS,DELETERS[,WRITE_RATE], "
                        "e.g. 16,4,0,0)", v));
    }
    a.phases.push_back(p);
  }
  if (a.phases.empty()) a.phases.push_back({{a.clients[0], a.clients[1], a.clients[2], a.clients[3]}, -1});
  for (auto& p : a.phases) {
    if (p.write_rate < 0) p.write_rate = a.write_rate;
    int total = 0;
    for (int c : p.clients) {
      if (c < 0) Usage("client counts must not be negative");
      total += c;
    }
    if (total < 1 || total > 64) Usage(fmt::format("{} clients in all; 1 to 64 are allowed", total));
  }
  if (a.serve.empty() == a.connect.empty()) Usage("give exactly one of --serve and --connect");
  if (!a.connect.empty() && a.connect.rfind("127.0.0.1:", 0) != 0 &&
      a.connect.rfind("localhost:", 0) != 0 && a.connect.rfind("[::1]:", 0) != 0) {
    Usage("--connect takes a loopback address (127.0.0.1:PORT, localhost:PORT or [::1]:PORT)");
  }
  if (a.rows == 0 || a.dim == 0 || a.batch == 0 || a.k == 0 || a.seconds <= 0) {
    Usage("--rows, --dim, --batch, --k and --seconds must be positive");
  }
  if (a.batch > a.rows) Usage("--batch must not exceed --rows");
}

// `binary serve --db dir --listen 127.0.0.1:0`, its log in dir + ".log"; SIGTERM on destruction.
class Server {
 public:
  Server(const std::string& binary, const std::string& dir) : log_(dir + ".log") {
    std::filesystem::remove_all(dir);
    std::filesystem::remove(log_);  // else an earlier run's port could be read before the child starts
    pid_ = fork();
    if (pid_ == 0) {
      FILE* f = std::fopen(log_.c_str(), "w");
      if (f) dup2(fileno(f), 2);
      execl(binary.c_str(), binary.c_str(), "serve", "--db", dir.c_str(), "--listen",
            "127.0.0.1:0", static_cast<char*>(nullptr));
      _exit(127);
    }
    g_server_pid = pid_;
  }
  ~Server() {
    if (pid_ <= 0) return;
    g_server_pid = -1;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
  }
  std::string Address() {
    const std::regex re("listening on (127\\.0\\.0\\.1:[0-9]+)");
    for (int i = 0; i < 3000; ++i) {
      std::ifstream in(log_);
      std::stringstream s;
      s << in.rdbuf();
      const std::string text = s.str();
      std::smatch m;
      if (std::regex_search(text, m, re)) return m[1];
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = g_server_pid = -1;
        Fail("the server exited at startup; its log: " + text);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Fail("the server did not report its port within 30 s (" + log_ + ")");
  }

 private:
  std::string log_;
  pid_t pid_ = -1;
};

std::unique_ptr<Client> ConnectOrDie(const std::string& address) {
  auto c = Client::Connect(address);
  if (!c.ok()) Fail("connect " + address + ": " + c.status().ToString());
  return std::move(c).value();
}

void ExecOrDie(Client& c, const std::string& sql, std::span<const Param> params = {}) {
  auto r = c.Execute(sql, params);
  if (!r.ok()) Fail(sql.substr(0, 80) + ": " + r.status().ToString());
}

// "INSERT INTO load_bench (id, embedding) VALUES ($1, $2), ($3, $4) ..." for n rows.
std::string InsertSql(const char* verb, size_t n) {
  std::string sql = fmt::format("{} INTO load_bench (id, embedding) VALUES ", verb);
  for (size_t i = 0; i < n; ++i) sql += fmt::format("{}(${}, ${})", i ? ", " : "", 2 * i + 1, 2 * i + 2);
  return sql;
}

struct Recorder {
  std::vector<double> latency_s;  // one per operation that succeeded
  uint64_t errors = 0, rows = 0;
  std::string first_error;
};

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * double(v.size())));
  std::nth_element(v.begin(), v.begin() + i, v.end());
  return v[i];
}

std::string JsonText(std::string s) {
  std::replace(s.begin(), s.end(), '"', '\'');
  std::replace(s.begin(), s.end(), '\\', '/');
  std::replace(s.begin(), s.end(), '\n', ' ');
  return s;
}

// The shared state of a run: ids handed to inserters, the query set.
struct Workload {
  const LoadArgs& a;
  std::string address;
  const SyntheticGenerator& gen;
  std::vector<float> queries;
  std::atomic<int64_t> next_id;
};

// One client's loop until `stop`: statements of its kind, each timed.
void ClientLoop(Workload& w, int kind, double write_rate, uint64_t seed,
                const std::atomic<bool>& stop, Recorder* rec) {
  const LoadArgs& a = w.a;
  auto client = ConnectOrDie(w.address);
  std::mt19937_64 rng(seed);
  const std::string search_sql =
      fmt::format("SELECT id, distance FROM load_bench ORDER BY embedding <=> $1 LIMIT {}", a.k);
  const std::string write_sql = InsertSql(kind == 1 ? "INSERT" : "UPSERT", a.batch);
  const size_t nq = w.queries.size() / a.dim;
  std::vector<Param> params;
  std::string sql;
  const bool paced = kind != 0 && write_rate > 0;
  auto next_at = Clock::now();
  while (!stop.load(std::memory_order_relaxed)) {
    if (paced) {
      std::this_thread::sleep_until(next_at);
      next_at += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(1 / write_rate));
    }
    params.clear();
    size_t rows = 1;
    if (kind == 0) {
      const size_t q = rng() % nq;
      params.emplace_back(std::vector<float>(w.queries.begin() + q * a.dim,
                                             w.queries.begin() + (q + 1) * a.dim));
      sql = search_sql;
    } else if (kind == 3) {
      sql = fmt::format("DELETE FROM load_bench WHERE id = {}", rng() % a.rows);
    } else {
      // Inserts: new ids; upserts: B consecutive base ids from a random multiple of B.
      rows = a.batch;
      const int64_t base = kind == 1 ? w.next_id.fetch_add(int64_t(a.batch))
                                     : int64_t(rng() % (a.rows / a.batch) * a.batch);
      const std::vector<float> v = w.gen.Rows(rng() % a.rows, a.batch);
      for (size_t i = 0; i < a.batch; ++i) {
        params.emplace_back(base + int64_t(i));
        params.emplace_back(std::vector<float>(v.begin() + i * a.dim, v.begin() + (i + 1) * a.dim));
      }
      sql = write_sql;
    }
    const auto t0 = Clock::now();
    auto r = client->Execute(sql, params);
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    if (r.ok()) {
      rec->latency_s.push_back(s);
      rec->rows += kind == 3 ? r->rows_affected : rows;
    } else if (rec->errors++ == 0) {
      rec->first_error = r.status().ToString();
    }
  }
}

// One phase: `clients` (searchers, inserters, upserters, deleters) for a.seconds. Prints the
// table and returns the phase as a JSON object.
std::string RunPhase(Workload& w, const LoadArgs::Phase& phase) {
  const LoadArgs& a = w.a;
  const std::array<int, 4>& clients = phase.clients;
  std::vector<int> kind_of;
  for (int kind = 0; kind < 4; ++kind) {
    for (int c = 0; c < clients[kind]; ++c) kind_of.push_back(kind);
  }
  std::vector<Recorder> recorders(kind_of.size());
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (size_t t = 0; t < kind_of.size(); ++t) {
    threads.emplace_back(ClientLoop, std::ref(w), kind_of[t], phase.write_rate, 1000 + t,
                         std::cref(stop), &recorders[t]);
  }
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(a.seconds));
  stop = true;
  for (auto& th : threads) th.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  fmt::print("\n{} searchers, {} inserters, {} upserters, {} deleters; {} base rows x {} dims; "
             "batches of {}; writes {}; {:.1f} s\n",
             clients[0], clients[1], clients[2], clients[3], a.rows, a.dim, a.batch,
             phase.write_rate > 0 ? fmt::format("paced to {}/s per client", phase.write_rate)
                              : std::string("back to back"), elapsed);
  fmt::print("{:>8} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8}\n", "kind", "ops/s", "rows/s",
             "p50 ms", "p99 ms", "p999 ms", "errors");
  std::string json = fmt::format(
      "    {{\"seconds\": {:.2f}, \"write_rate\": {}, \"clients\": {{\"search\": {}, "
      "\"insert\": {}, \"upsert\": {}, \"delete\": {}}}, \"kinds\": [",
      elapsed, phase.write_rate, clients[0], clients[1], clients[2], clients[3]);
  bool first_kind = true;
  for (int kind = 0; kind < 4; ++kind) {
    if (clients[kind] == 0) continue;
    Recorder all;
    for (size_t t = 0; t < kind_of.size(); ++t) {
      if (kind_of[t] != kind) continue;
      const Recorder& r = recorders[t];
      all.latency_s.insert(all.latency_s.end(), r.latency_s.begin(), r.latency_s.end());
      all.rows += r.rows;
      if (r.errors && all.first_error.empty()) all.first_error = r.first_error;
      all.errors += r.errors;
    }
    const double ops = double(all.latency_s.size()) / elapsed, rows = double(all.rows) / elapsed;
    const size_t count = all.latency_s.size();
    const double p50 = Percentile(all.latency_s, 0.50) * 1e3;
    const double p99 = Percentile(all.latency_s, 0.99) * 1e3;
    const double p999 = Percentile(all.latency_s, 0.999) * 1e3;
    fmt::print("{:>8} {:>10.1f} {:>10.0f} {:>10.2f} {:>10.2f} {:>10.2f} {:>8}\n", kKinds[kind], ops,
               rows, p50, p99, p999, all.errors);
    if (all.errors) fmt::print("         first {} error: {}\n", kKinds[kind], all.first_error);
    json += fmt::format(
        "{}\n      {{\"kind\": \"{}\", \"ops\": {}, \"ops_per_s\": {:.2f}, \"rows_per_s\": {:.1f}, "
        "\"p50_ms\": {:.3f}, \"p99_ms\": {:.3f}, \"p999_ms\": {:.3f}, \"errors\": {}, "
        "\"first_error\": \"{}\"}}",
        first_kind ? "" : ",", kKinds[kind], count, ops, rows, p50, p99, p999, all.errors,
        JsonText(all.first_error));
    first_kind = false;
  }
  return json + "]}";
}

// Waits until DESCRIBE reports no rows pending for the graph ("..., 0 pending; ...").
void WaitForIndex(Client& admin) {
  for (auto t0 = Clock::now(); Clock::now() - t0 < std::chrono::minutes(10);) {
    auto d = admin.Execute("DESCRIBE load_bench");
    if (!d.ok()) Fail("DESCRIBE: " + d.status().ToString());
    bool pending = false;
    for (const auto& row : d->rows) {
      for (const auto& cell : row) {
        const auto* s = std::get_if<std::string>(&cell);
        pending |= s && s->find(" pending;") != std::string::npos &&
                   s->find(", 0 pending;") == std::string::npos;
      }
    }
    if (!pending) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  Fail("the background index build did not finish within 10 minutes");
}

int Run(const LoadArgs& a) {
  std::unique_ptr<Server> server;
  std::string address = a.connect;
  if (!a.serve.empty()) {
    const std::string dir = a.dir.empty()
        ? (std::filesystem::temp_directory_path() / "mrldb-bench-load").string() : a.dir;
    server = std::make_unique<Server>(a.serve, dir);
    address = server->Address();
  }
  SyntheticOptions so;
  so.dim = a.dim;
  SyntheticGenerator gen(so);

  // Setup: a fresh collection with the base rows and its graph built, so that the phases
  // measure reads and writes rather than the initial index build.
  auto admin = ConnectOrDie(address);
  ExecOrDie(*admin, "DROP COLLECTION IF EXISTS load_bench");
  ExecOrDie(*admin, fmt::format("CREATE COLLECTION load_bench (id BIGINT PRIMARY KEY, "
                                "embedding VECTOR({}) METRIC COSINE)", a.dim));
  fmt::print("loading {} x {} rows...\n", a.rows, a.dim);
  constexpr size_t kLoadBatch = 500;
  for (size_t r = 0; r < a.rows; r += kLoadBatch) {
    const size_t n = std::min(kLoadBatch, a.rows - r);
    const std::vector<float> v = gen.Rows(r, n);
    std::vector<Param> params;
    for (size_t i = 0; i < n; ++i) {
      params.emplace_back(static_cast<int64_t>(r + i));
      params.emplace_back(std::vector<float>(v.begin() + i * a.dim, v.begin() + (i + 1) * a.dim));
    }
    ExecOrDie(*admin, InsertSql("INSERT", n), params);
  }
  Workload w{a, address, gen, gen.Queries(0, 1000), {static_cast<int64_t>(a.rows)}};
  std::string json = fmt::format(
      "{{\n  \"benchmark\": \"load\",\n  \"rows\": {}, \"dim\": {}, \"batch\": {}, \"k\": {}, "
      "\"hardware_threads\": {},\n  \"phases\": [",
      a.rows, a.dim, a.batch, a.k, std::thread::hardware_concurrency());
  for (size_t p = 0; p < a.phases.size(); ++p) {
    WaitForIndex(*admin);  // each phase starts with the graph caught up
    json += (p ? ",\n" : "\n") + RunPhase(w, a.phases[p]);
  }
  json += "\n  ]\n}\n";
  ExecOrDie(*admin, "DROP COLLECTION load_bench");
  if (!a.json.empty()) {
    std::ofstream out(a.json);
    out << json;
    if (!out) Fail("cannot write " + a.json);
  }
  return 0;
}

}  // namespace

void AddLoadBench(CLI::App* app, Runner* run) {
  auto a = std::make_shared<LoadArgs>();
  CLI::App* load = app->add_subcommand("load", "concurrent clients against `mrldb serve`");
  CLI::Option* serve = load->add_option("--serve", a->serve, "start MRLDB_BINARY serve for the run")
                           ->type_name("MRLDB_BINARY");
  load->add_option("--dir", a->dir, "the started server's database (with --serve)")
      ->type_name("DIR")
      ->needs(serve);
  load->add_option("--connect", a->connect, "a running server (loopback only)")
      ->type_name("127.0.0.1:PORT")
      ->excludes(serve);
  load->add_option("--rows", a->rows, "base rows (default 50000)")->check(cli::Integer(1));
  load->add_option("--dim", a->dim, "dimension (default 256)")->check(cli::Integer(1, 65536));
  load->add_option("--batch", a->batch, "rows per insert or upsert (default 50)")->check(cli::Integer(1));
  load->add_option("--k", a->k, "neighbours per search (default 10)")->check(cli::Integer(1, 100000));
  load->add_option("--seconds", a->seconds, "seconds per phase (default 20)")->check(cli::Number(0.001, 1e6));
  load->add_option("--write-rate", a->write_rate, "statements per second per writing client "
                   "(default: back to back)")->check(cli::Number(0, 1e9));
  const char* roles[4] = {"--searchers", "--inserters", "--upserters", "--deleters"};
  const char* helps[4] = {"searching clients (default 16)", "inserting clients (default 0)",
                          "upserting clients (default 0)", "deleting clients (default 0)"};
  for (int i = 0; i < 4; ++i) {
    load->add_option(roles[i], a->clients[i], helps[i])->check(cli::Integer(0, 64));
  }
  load->add_option("--phase", a->phase_texts, "a phase of S searchers, I inserters, U upserters, "
                   "D deleters (and R the write rate), T seconds each; repeatable")
      ->type_name("S,I,U,D[,R]")
      ->allow_extra_args(false);
  load->add_option("--json", a->json, "results as JSON")->type_name("FILE");
  load->callback([a, run] {
    *run = [a] {
      Finish(*a);
      return Run(*a);
    };
  });
}

}  // namespace mrldb::bench
