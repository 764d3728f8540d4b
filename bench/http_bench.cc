// Load generator for a running `agentd serve` (loopback only): the benchmark scenarios of
// docs/benchmarks.md. One scenario per invocation:
//
//   http_bench saturate --port P --secret S   # /health ceiling, then /agent/start, closed loop
//   http_bench steady   --port P --secret S   # open-loop /agent/start at a fixed rate
//   http_bench streams  --port P --secret S --server-pid PID --streams N
//   http_bench stop     --port P --secret S   # stop request -> terminal event on the stream
//   http_bench quiet    --server-pid PID      # waits until the server's CPU use settles
//   http_bench tokens   --secret S --users N   # prints N user tokens (for bench/wrk_start.lua)
//
// Tokens are minted in-process with the server's HS256 secret. Every loop is bounded in count
// and in time: each scenario has a hard deadline after which it stops its io_context and reports
// what it has. Results go to stdout as readable lines plus `FIGURE <key> <value>` lines that
// scripts/bench.sh collects into its table. Single process, no shared state across scenarios.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "auth/jwt/jwt_verifier.h"

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;
using namespace boost::asio::experimental::awaitable_operators;

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);

// ---------------------------------------------------------------- options and helpers

struct Options {
  std::string scenario;
  std::string host = "127.0.0.1";
  int port = 0;
  std::string secret;
  int server_pid = 0;
  int users = 1000;            // distinct user tokens (saturate, steady, stop)
  int conns = 64;              // keep-alive connections (saturate)
  int threads = 1;             // client io threads
  double duration_s = 5;       // per phase (saturate), whole run (steady)
  int64_t requests = 1000000;  // max requests per phase (saturate)
  double rate = 200;           // requests/s (steady)
  std::string prompt = "hello";
  std::string phases = "health,start";  // saturate: which phases to run
  int streams = 1000;                   // concurrent SSE clients (streams)
  int lines = 50;                       // text lines per streamed run
  int words = 1;                        // words per line
  int interval_ms = 200;                // /sleep between lines
  int ramp_budget_ms = 0;               // 0 = estimate from --streams
  int ramp_parallel = 64;               // concurrent start+connect operations during the ramp
  int runs = 200;                       // stop scenario iterations
  double max_s = 120;                   // hard deadline of a scenario
};

[[noreturn]] void Die(const std::string& msg) {
  std::fprintf(stderr, "http_bench: %s\n", msg.c_str());
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  if (argc < 2)
    Die("usage: http_bench <saturate|steady|streams|stop|quiet|tokens> [--key value]...");
  Options o;
  o.scenario = argv[1];
  std::map<std::string, std::string> kv;
  for (int i = 2; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) Die("bad argument: " + k);
    kv[k.substr(2)] = argv[++i];
  }
  auto take = [&](const char* key, auto& field) {
    auto it = kv.find(key);
    if (it == kv.end()) return;
    using T = std::decay_t<decltype(field)>;
    if constexpr (std::is_same_v<T, std::string>) {
      field = it->second;
    } else if constexpr (std::is_same_v<T, double>) {
      field = std::stod(it->second);
    } else {
      field = static_cast<T>(std::stoll(it->second));
    }
    kv.erase(it);
  };
  take("host", o.host);
  take("port", o.port);
  take("secret", o.secret);
  take("server-pid", o.server_pid);
  take("users", o.users);
  take("conns", o.conns);
  take("threads", o.threads);
  take("duration", o.duration_s);
  take("requests", o.requests);
  take("rate", o.rate);
  take("prompt", o.prompt);
  take("phases", o.phases);
  take("streams", o.streams);
  take("lines", o.lines);
  take("words", o.words);
  take("interval", o.interval_ms);
  take("ramp-budget", o.ramp_budget_ms);
  take("ramp-parallel", o.ramp_parallel);
  take("runs", o.runs);
  take("max-seconds", o.max_s);
  if (!kv.empty()) Die("unknown option --" + kv.begin()->first);
  if (o.secret.empty()) {
    if (const char* s = std::getenv("AGENTD_JWT_SECRET")) o.secret = s;
  }
  o.threads = std::max(1, o.threads);
  o.users = std::max(1, o.users);
  o.conns = std::max(1, o.conns);
  return o;
}

int64_t WallUs() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double Seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

// Nearest-rank percentile of an unsorted sample (sorted in place).
double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return v[rank - 1];
}

void Figure(const std::string& key, double value) {
  std::printf("FIGURE %s %.6g\n", key.c_str(), value);
}

void PrintLatency(const char* what, std::vector<double> ms, const std::string& key) {
  if (ms.empty()) {
    std::printf("  %s: no samples\n", what);
    return;
  }
  double p50 = Percentile(ms, 50), p90 = Percentile(ms, 90), p99 = Percentile(ms, 99),
         p999 = Percentile(ms, 99.9), mx = ms.back();
  std::printf("  %s (ms, n=%zu): p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f\n", what,
              ms.size(), p50, p90, p99, p999, mx);
  Figure(key + "_p50_ms", p50);
  Figure(key + "_p99_ms", p99);
  Figure(key + "_max_ms", mx);
}

// Resident set size of `pid` in KiB (VmRSS), or -1.
int64_t RssKb(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// utime + stime of `pid` in seconds, or -1.
double ProcCpuSeconds(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto close = stat.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(stat.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct ThreadSample {
  double on_cpu_s = 0;    // seconds on a CPU
  double wait_s = 0;      // seconds runnable but waiting for a CPU
  double written_mb = 0;  // bytes passed to write()/pwrite() (files; Asio's sendmsg is not counted)
};

// Per thread of `pid` (by thread id), from /proc/PID/task/TID/{schedstat,io}.
std::map<int, ThreadSample> ThreadSamples(int pid) {
  std::map<int, ThreadSample> out;
  std::error_code ec;
  for (const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    std::ifstream f(entry.path() / "schedstat");
    unsigned long long on_cpu_ns = 0, wait_ns = 0;
    if (!(f >> on_cpu_ns >> wait_ns)) continue;
    ThreadSample& t = out[std::stoi(entry.path().filename().string())];
    t.on_cpu_s = static_cast<double>(on_cpu_ns) / 1e9;
    t.wait_s = static_cast<double>(wait_ns) / 1e9;
    std::ifstream io(entry.path() / "io");
    std::string key;
    unsigned long long value = 0;
    while (io >> key >> value) {
      if (key == "wchar:") t.written_mb = static_cast<double>(value) / 1e6;
    }
  }
  return out;
}

// CPU used by the server (in total and per thread) and by this client over a measured
// interval, in cores; and how long the server's threads waited for a CPU (a busy machine).
class CpuMeter {
 public:
  explicit CpuMeter(int server_pid) : pid_(server_pid) { Reset(); }
  void Reset() {
    t0_ = SteadyClock::now();
    server0_ = pid_ > 0 ? ProcCpuSeconds(pid_) : -1;
    if (pid_ > 0) threads0_ = ThreadSamples(pid_);
    self0_ = SelfCpuSeconds();
  }
  void Print(const std::string& key) const {
    const double wall = Seconds(SteadyClock::now() - t0_);
    const double self = (SelfCpuSeconds() - self0_) / wall;
    if (pid_ > 0) {
      const double server = (ProcCpuSeconds(pid_) - server0_) / wall;
      struct T {
        double cpu, wait, mb;
        int tid;
      };
      std::vector<T> per_thread;
      double total_wait = 0;
      for (const auto& [tid, now] : ThreadSamples(pid_)) {
        auto it = threads0_.find(tid);
        const ThreadSample before = it == threads0_.end() ? ThreadSample{} : it->second;
        per_thread.push_back({(now.on_cpu_s - before.on_cpu_s) / wall,
                              (now.wait_s - before.wait_s) / wall,
                              now.written_mb - before.written_mb, tid});
        total_wait += per_thread.back().wait;
      }
      std::sort(per_thread.begin(), per_thread.end(),
                [](const T& a, const T& b) { return a.cpu > b.cpu; });
      std::string threads;
      char buf[96];
      for (size_t i = 0; i < per_thread.size() && i < 6; ++i) {
        std::snprintf(buf, sizeof buf, "%s%d %.2f/%.2f", i ? ", " : "", per_thread[i].tid,
                      per_thread[i].cpu, per_thread[i].wait);
        threads += buf;
        if (per_thread[i].mb >= 0.1) {
          std::snprintf(buf, sizeof buf, " (wrote %.0f MB to files)", per_thread[i].mb);
        } else {
          buf[0] = 0;
        }
        threads += buf;
      }
      std::printf(
          "  cpu: server %.2f cores, client %.2f cores (machine has %u); server threads "
          "(tid on-cpu/waiting-for-cpu, cores): %s\n",
          server, self, std::thread::hardware_concurrency(), threads.c_str());
      Figure(key + "_server_cpu_cores", server);
      Figure(key + "_server_runq_wait_cores", total_wait);
      if (!per_thread.empty()) Figure(key + "_server_busiest_thread_cores", per_thread[0].cpu);
    } else {
      std::printf("  cpu: client %.2f cores\n", self);
    }
    Figure(key + "_client_cpu_cores", self);
  }

 private:
  int pid_;
  SteadyClock::time_point t0_;
  double server0_ = 0, self0_ = 0;
  std::map<int, ThreadSample> threads0_;
};

void RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

std::vector<std::string> MintTokens(const Options& o, int n, const std::string& prefix) {
  if (o.secret.empty()) Die("--secret (or AGENTD_JWT_SECRET) is required");
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    auto token = agentd::auth::jwt::MintHs256Token(o.secret, prefix + std::to_string(i), 7200);
    if (!token.ok()) Die("minting a token failed: " + token.status().message());
    out.push_back(*token);
  }
  return out;
}

std::string UrlEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string StartRequest(const std::string& token, const std::string& prompt) {
  const std::string body = "prompt=" + UrlEncode(prompt);
  return "POST /agent/start HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
         "\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::string StopRequest(const std::string& token, const std::string& run_id) {
  return "POST /agent-run/" + run_id +
         "/stop HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
         "\r\nContent-Length: 0\r\n\r\n";
}

std::string StreamRequest(const std::string& token, const std::string& run_id) {
  return "GET /agent-run/" + run_id + "/stream?token=" + token +
         " HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n";
}

const std::string kHealthRequest = "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

// Runs `io` on `threads` threads until it runs out of work or `max_s` passes; true if it
// finished by itself.
bool RunBounded(asio::io_context& io, int threads, double max_s) {
  std::atomic<bool> timed_out{false};
  asio::steady_timer watchdog(io, std::chrono::milliseconds(static_cast<int64_t>(max_s * 1000)));
  watchdog.async_wait([&](boost::system::error_code ec) {
    if (ec) return;
    timed_out = true;
    io.stop();
  });
  // The watchdog keeps io busy; a work counter tells when the real work is done.
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return !timed_out;
}

// Tracks outstanding coroutines; cancels the watchdog (letting io.run return) when the last
// one ends.
class WorkCount {
 public:
  explicit WorkCount(asio::io_context& io) : io_(io) {}
  void Add(int n = 1) { n_ += n; }
  void Done() {
    if (--n_ == 0) io_.stop();
  }

 private:
  asio::io_context& io_;
  std::atomic<int> n_{0};
};

// ---------------------------------------------------------------- HTTP connection

struct Reply {
  boost::system::error_code ec;
  int status = 0;
  std::string body;
  bool keep_alive = false;
};

class Conn {
 public:
  explicit Conn(asio::any_io_executor ex) : socket_(ex) {}

  asio::awaitable<boost::system::error_code> Connect(const tcp::endpoint& ep) {
    auto [ec] = co_await socket_.async_connect(ep, kTuple);
    if (!ec) socket_.set_option(tcp::no_delay(true), ec);
    co_return ec;
  }

  asio::awaitable<boost::system::error_code> Send(const std::string& raw) {
    auto [ec, n] = co_await asio::async_write(socket_, asio::buffer(raw), kTuple);
    co_return ec;
  }

  asio::awaitable<Reply> Receive() {
    Reply r;
    http::response_parser<http::string_body> parser;
    parser.body_limit(1 << 20);
    auto [ec, n] = co_await http::async_read(socket_, buffer_, parser, kTuple);
    r.ec = ec;
    if (ec) co_return r;
    auto& msg = parser.get();
    r.status = static_cast<int>(msg.result_int());
    r.keep_alive = msg.keep_alive();
    r.body = std::move(msg.body());
    co_return r;
  }

  asio::awaitable<Reply> RoundTrip(const std::string& raw) {
    if (auto ec = co_await Send(raw)) co_return Reply{ec};
    co_return co_await Receive();
  }

  tcp::socket& socket() { return socket_; }
  beast::flat_buffer& buffer() { return buffer_; }

 private:
  tcp::socket socket_;
  beast::flat_buffer buffer_;
};

// Parses "YYYY-MM-DDTHH:MM:SS.mmmZ" to Unix milliseconds; -1 if malformed.
int64_t ParseIsoMs(std::string_view s) {
  if (s.size() < 20) return -1;
  auto num = [&](size_t pos, size_t len) {
    int v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return -1;
      v = v * 10 + (s[i] - '0');
    }
    return v;
  };
  int y = num(0, 4), mo = num(5, 2), d = num(8, 2), h = num(11, 2), mi = num(14, 2),
      sec = num(17, 2);
  if (y < 0 || mo < 1 || d < 1 || h < 0 || mi < 0 || sec < 0) return -1;
  int ms = 0;
  if (s.size() >= 23 && s[19] == '.') ms = num(20, 3);
  if (ms < 0) return -1;
  // days_from_civil (H. Hinnant).
  y -= mo <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy =
      (153 * static_cast<unsigned>(mo + (mo > 2 ? -3 : 9)) + 2) / 5 + static_cast<unsigned>(d) - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  const int64_t days = static_cast<int64_t>(era) * 146097 + static_cast<int64_t>(doe) - 719468;
  return ((days * 24 + h) * 60 + mi) * 60000 + int64_t{sec} * 1000 + ms;
}

// One parsed SSE frame.
struct SseEvent {
  int64_t seq = -1;    // -1: no id line (ping)
  int64_t ts_ms = -1;  // "timestamp", -1 if absent
  std::string_view data;
  bool terminal = false;
  std::string_view status;  // terminal status
};

std::string_view JsonStringField(std::string_view data, std::string_view key_pattern) {
  auto pos = data.find(key_pattern);
  if (pos == std::string_view::npos) return {};
  pos += key_pattern.size();
  auto end = data.find('"', pos);
  if (end == std::string_view::npos) return {};
  return data.substr(pos, end - pos);
}

SseEvent ParseFrame(std::string_view frame) {
  SseEvent ev;
  while (!frame.empty()) {
    auto nl = frame.find('\n');
    std::string_view line = frame.substr(0, nl);
    frame = nl == std::string_view::npos ? std::string_view() : frame.substr(nl + 1);
    if (line.rfind("id: ", 0) == 0) {
      ev.seq = std::strtoll(std::string(line.substr(4)).c_str(), nullptr, 10);
    } else if (line.rfind("data: ", 0) == 0) {
      ev.data = line.substr(6);
    }
  }
  // The server's JSON is compact: "key":"value" with no spaces.
  auto ts = JsonStringField(ev.data, "\"timestamp\":\"");
  if (!ts.empty()) ev.ts_ms = ParseIsoMs(ts);
  if (ev.data.find("\"type\":\"status\"") != std::string_view::npos) {
    auto st = JsonStringField(ev.data, "\"status\":\"");
    if (st == "completed" || st == "failed" || st == "stopped") {
      ev.terminal = true;
      ev.status = st;
    }
  }
  return ev;
}

// Reads a chunked SSE response on an already-written request: header first, then frames, each
// handed to `on_event` (return false to stop reading). Returns the HTTP status (0 on a
// transport error before the header).
class SseReader {
 public:
  SseReader(tcp::socket& socket, beast::flat_buffer& buffer) : socket_(socket), buffer_(buffer) {
    parser_.body_limit(boost::none);
  }

  asio::awaitable<int> ReadHeader() {
    auto [ec, n] = co_await http::async_read_header(socket_, buffer_, parser_, kTuple);
    if (ec) co_return 0;
    co_return static_cast<int>(parser_.get().result_int());
  }

  // Reads until `on_event` returns false, the response ends, or an error. True when ended by
  // on_event or a clean end of body.
  template <typename Fn>
  asio::awaitable<bool> ReadEvents(Fn on_event) {
    char chunk[8192];
    for (;;) {
      // Frames already buffered first.
      for (;;) {
        auto end = pending_.find("\n\n");
        if (end == std::string::npos) break;
        SseEvent ev = ParseFrame(std::string_view(pending_).substr(0, end));
        const bool more = on_event(ev);
        pending_.erase(0, end + 2);
        if (!more) co_return true;
      }
      if (parser_.is_done()) co_return true;
      parser_.get().body().data = chunk;
      parser_.get().body().size = sizeof(chunk);
      auto [ec, n] = co_await http::async_read_some(socket_, buffer_, parser_, kTuple);
      if (ec == http::error::need_buffer) ec = {};
      if (ec) co_return false;
      pending_.append(chunk, sizeof(chunk) - parser_.get().body().size);
    }
  }

 private:
  tcp::socket& socket_;
  beast::flat_buffer& buffer_;
  http::response_parser<http::buffer_body> parser_;
  std::string pending_;
};

std::string RunIdOf(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("agent_run_id") || !j["agent_run_id"].is_string()) return "";
  return j["agent_run_id"].get<std::string>();
}

// ---------------------------------------------------------------- scenario: saturate

struct PhaseResult {
  double rate = 0;
  int64_t ok = 0;
  int64_t failed = 0;
};

struct WorkerStats {
  int64_t ok = 0, failed = 0;
  std::vector<double> lat_ms;
  std::string first_error;
};

// Closed loop: `conns` keep-alive connections each sending its next request when the previous
// answer arrives, until `requests` were sent or `duration_s` passed.
PhaseResult ClosedLoop(const Options& o, const char* name, const std::string& key,
                       const std::vector<std::string>& requests) {
  std::vector<WorkerStats> stats(static_cast<size_t>(o.conns));
  std::atomic<int64_t> next{0};
  const tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<uint16_t>(o.port));
  CpuMeter cpu(o.server_pid);
  SteadyClock::time_point t0, t_end;
  {
    asio::io_context io(o.threads);
    WorkCount work(io);
    work.Add(o.conns);
    t0 = SteadyClock::now();
    const auto stop_at = t0 + std::chrono::milliseconds(static_cast<int64_t>(o.duration_s * 1000));
    for (int c = 0; c < o.conns; ++c) {
      asio::co_spawn(
          io,
          [&, c]() -> asio::awaitable<void> {
            WorkerStats& st = stats[static_cast<size_t>(c)];
            auto conn = std::make_unique<Conn>(co_await asio::this_coro::executor);
            if (auto ec = co_await conn->Connect(ep)) {
              st.first_error = "connect: " + ec.message();
              ++st.failed;
              work.Done();
              co_return;
            }
            while (SteadyClock::now() < stop_at) {
              const int64_t i = next++;
              if (i >= o.requests) break;
              const auto sent = SteadyClock::now();
              Reply r =
                  co_await conn->RoundTrip(requests[static_cast<size_t>(i) % requests.size()]);
              st.lat_ms.push_back(Seconds(SteadyClock::now() - sent) * 1000);
              if (!r.ec && r.status == 200) {
                ++st.ok;
              } else {
                ++st.failed;
                if (st.first_error.empty()) {
                  st.first_error = r.ec ? r.ec.message()
                                        : std::to_string(r.status) + " " + r.body.substr(0, 200);
                }
              }
              if (r.ec || !r.keep_alive) {
                conn = std::make_unique<Conn>(co_await asio::this_coro::executor);
                if (co_await conn->Connect(ep)) break;
              }
            }
            work.Done();
          },
          asio::detached);
    }
    if (!RunBounded(io, o.threads, o.duration_s + 30)) std::printf("  (hard deadline hit)\n");
    t_end = SteadyClock::now();
  }
  PhaseResult res;
  std::vector<double> lat;
  std::string err;
  for (auto& st : stats) {
    res.ok += st.ok;
    res.failed += st.failed;
    lat.insert(lat.end(), st.lat_ms.begin(), st.lat_ms.end());
    if (err.empty()) err = st.first_error;
  }
  const double secs = Seconds(t_end - t0);
  res.rate = static_cast<double>(res.ok) / secs;
  std::printf("%s: %lld ok, %lld failed in %.2f s over %d connections: %.0f req/s\n", name,
              static_cast<long long>(res.ok), static_cast<long long>(res.failed), secs, o.conns,
              res.rate);
  if (!err.empty()) std::printf("  first error: %s\n", err.c_str());
  PrintLatency("latency, closed loop", lat, key);
  cpu.Print(key);
  Figure(key + "_per_s", res.rate);
  Figure(key + "_failed", static_cast<double>(res.failed));
  return res;
}

int Saturate(const Options& o) {
  auto tokens = MintTokens(o, o.users, "bench-sat-");
  std::vector<std::string> start_reqs;
  for (const auto& t : tokens) start_reqs.push_back(StartRequest(t, o.prompt));
  std::printf(
      "== saturate: %d connections, %d users, %d client thread(s), <= %.1f s or %lld "
      "requests per phase, prompt \"%s\"\n",
      o.conns, o.users, o.threads, o.duration_s, static_cast<long long>(o.requests),
      o.prompt.c_str());
  PhaseResult health, start;
  if (o.phases.find("health") != std::string::npos) {
    health = ClosedLoop(o, "GET /health", "health", {kHealthRequest});
    // Let the server drain before the next phase.
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  if (o.phases.find("start") != std::string::npos) {
    start = ClosedLoop(o, "POST /agent/start", "start", start_reqs);
  }
  if (health.rate > 0 && start.rate > 0) {
    const double ratio = start.rate / health.rate;
    std::printf("start/health ratio: %.1f%%\n", ratio * 100);
    Figure("start_health_ratio_pct", ratio * 100);
  }
  return start.failed == 0 && health.failed == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- scenario: steady

int Steady(const Options& o) {
  auto tokens = MintTokens(o, o.users, "bench-steady-");
  const int64_t n = std::max<int64_t>(1, static_cast<int64_t>(o.rate * o.duration_s));
  const auto period = std::chrono::nanoseconds(static_cast<int64_t>(1e9 / o.rate));
  const tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<uint16_t>(o.port));
  std::printf(
      "== steady: open loop, %.0f starts/s for %.1f s (%lld requests), latency from "
      "each request's scheduled send time\n",
      o.rate, o.duration_s, static_cast<long long>(n));
  std::vector<double> lat_ms(static_cast<size_t>(n), -1);
  std::vector<int> status(static_cast<size_t>(n), 0);
  int conns_opened = 0;
  CpuMeter cpu(o.server_pid);
  SteadyClock::time_point t0, t_last;
  {
    asio::io_context io(1);
    std::vector<std::unique_ptr<Conn>> idle;  // single-threaded: no lock
    WorkCount work(io);
    work.Add(1);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ex = co_await asio::this_coro::executor;
          for (int i = 0; i < 8; ++i) {  // warm pool: connects are not what we measure
            auto c = std::make_unique<Conn>(ex);
            if (!co_await c->Connect(ep)) {
              idle.push_back(std::move(c));
              ++conns_opened;
            }
          }
          asio::steady_timer timer(ex);
          t0 = SteadyClock::now() + std::chrono::milliseconds(50);
          for (int64_t i = 0; i < n; ++i) {
            const auto scheduled = t0 + period * i;
            timer.expires_at(scheduled);
            co_await timer.async_wait(kTuple);
            work.Add();
            asio::co_spawn(
                ex,
                [&, i, scheduled]() -> asio::awaitable<void> {
                  std::unique_ptr<Conn> c;
                  if (!idle.empty()) {
                    c = std::move(idle.back());
                    idle.pop_back();
                  } else {
                    c = std::make_unique<Conn>(co_await asio::this_coro::executor);
                    ++conns_opened;
                    if (co_await c->Connect(ep)) {
                      work.Done();
                      co_return;
                    }
                  }
                  Reply r = co_await c->RoundTrip(
                      StartRequest(tokens[static_cast<size_t>(i) % tokens.size()], o.prompt));
                  const auto done = SteadyClock::now();
                  lat_ms[static_cast<size_t>(i)] = Seconds(done - scheduled) * 1000;
                  status[static_cast<size_t>(i)] = r.ec ? -1 : r.status;
                  t_last = std::max(t_last, done);
                  if (!r.ec && r.keep_alive) idle.push_back(std::move(c));
                  work.Done();
                },
                asio::detached);
          }
          work.Done();
        },
        asio::detached);
    if (!RunBounded(io, 1, o.duration_s + 30)) std::printf("  (hard deadline hit)\n");
  }
  std::vector<double> ok_lat;
  int64_t failed = 0, missing = 0;
  for (size_t i = 0; i < lat_ms.size(); ++i) {
    if (lat_ms[i] < 0) {
      ++missing;
    } else if (status[i] != 200) {
      ++failed;
    } else {
      ok_lat.push_back(lat_ms[i]);
    }
  }
  const double secs = Seconds(t_last - t0);
  std::printf("  %zu ok, %lld failed, %lld unanswered; achieved %.1f starts/s; %d connections\n",
              ok_lat.size(), static_cast<long long>(failed), static_cast<long long>(missing),
              static_cast<double>(ok_lat.size()) / secs, conns_opened);
  PrintLatency("latency from scheduled send", ok_lat, "steady");
  cpu.Print("steady");
  Figure("steady_failed", static_cast<double>(failed + missing));
  return failed + missing == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- scenario: streams

struct StreamSlot {
  int64_t header_us = 0;  // wall clock when the stream's response header arrived
  int64_t end_us = 0;     // when the stream ended
  int64_t events = 0;     // frames with an id
  int64_t live = 0;       // events created after header_us
  int64_t pings = 0;
  int64_t gaps = 0;  // seq not previous + 1
  int64_t last_seq = 0;
  std::string run_id;
  std::string terminal;  // terminal status seen, if any
  std::string error;
  std::vector<float> delay_ms;          // live events: receipt - "timestamp"
  std::vector<float> content_delay_ms;  // live events created after the sync point
};

std::string StreamPrompt(const Options& o, int64_t wait_ms) {
  std::string p = "/sleep " + std::to_string(std::max<int64_t>(0, wait_ms));
  for (int l = 0; l < o.lines; ++l) {
    p += "\n";
    for (int w = 0; w < o.words; ++w) p += (w ? " w" : "w") + std::to_string(l);
    if (l + 1 < o.lines) p += "\n/sleep " + std::to_string(o.interval_ms);
  }
  return p;
}

int Streams(const Options& o) {
  RaiseFdLimit();
  const int s = o.streams;
  const int ramp_budget = o.ramp_budget_ms > 0 ? o.ramp_budget_ms : 2000 + s * 2 / 3;
  // One user per stream: a per-user concurrent-run limit can never refuse a stream.
  auto tokens = MintTokens(o, s, "bench-stream-");
  const tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<uint16_t>(o.port));
  const int64_t content_ms = static_cast<int64_t>(o.lines - 1) * o.interval_ms;
  std::printf(
      "== streams: %d concurrent SSE clients, each on its own run: %d lines of %d "
      "word(s), /sleep %d between (%.1f s); content starts %d ms after the ramp begins, "
      "staggered over one interval; %d client thread(s)\n",
      s, o.lines, o.words, o.interval_ms, static_cast<double>(content_ms) / 1000, ramp_budget,
      o.threads);
  std::vector<StreamSlot> slots(static_cast<size_t>(s));
  const int64_t rss_before = o.server_pid > 0 ? RssKb(o.server_pid) : -1;
  std::atomic<int> next{0}, open{0}, ever_opened{0}, ramp_failed{0};
  // RSS snapshot: when every stream is open, or when the content phase begins if the ramp is
  // late (then with the streams open at that moment). Written by the sampler only.
  std::mutex snap_mu;
  int64_t snap_rss = -1, snap_open = 0, rss_peak = -1, ramp_done_us = 0;
  int64_t rss_runs = -1, runs_started_us = 0;
  bool snap_all_open = false;
  int64_t sync_us = 0;
  CpuMeter cpu(o.server_pid);
  const auto t0 = SteadyClock::now();
  {
    asio::io_context io(o.threads);
    WorkCount work(io);
    sync_us = WallUs() + int64_t{ramp_budget} * 1000;

    // Reads one stream to its end.
    auto follow = [&](int i, std::unique_ptr<Conn> conn,
                      std::unique_ptr<SseReader> reader) -> asio::awaitable<void> {
      StreamSlot& slot = slots[static_cast<size_t>(i)];
      const bool clean = co_await reader->ReadEvents([&](const SseEvent& ev) {
        const int64_t now = WallUs();
        if (ev.seq < 0) {
          ++slot.pings;
          return true;
        }
        ++slot.events;
        if (ev.seq != slot.last_seq + 1) ++slot.gaps;
        slot.last_seq = ev.seq;
        if (ev.ts_ms >= 0 && ev.ts_ms * 1000 >= slot.header_us) {
          ++slot.live;
          const float d = static_cast<float>(now - ev.ts_ms * 1000) / 1000.0f;
          slot.delay_ms.push_back(d);
          if (ev.ts_ms * 1000 >= sync_us) slot.content_delay_ms.push_back(d);
        }
        if (ev.terminal) {
          slot.terminal = std::string(ev.status);
          return false;
        }
        return true;
      });
      if (!clean && slot.error.empty()) slot.error = "stream read error";
      slot.end_us = WallUs();
      boost::system::error_code ignored;
      conn->socket().close(ignored);
      --open;
      work.Done();
    };

    // The ramp, in two phases so that the memory of a run and of a stream can be told apart:
    // A) start every run (workers with their own keep-alive connection each), then
    // B) open every run's stream and hand it to `follow`.
    auto start_runs = [&]() -> asio::awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      std::unique_ptr<Conn> api;
      for (;;) {
        const int i = next++;
        if (i >= s) break;
        StreamSlot& slot = slots[static_cast<size_t>(i)];
        if (!api) {
          api = std::make_unique<Conn>(ex);
          if (co_await api->Connect(ep)) {
            api.reset();
            slot.error = "connect failed";
            ++ramp_failed;
            continue;
          }
        }
        const int64_t stagger_us = int64_t{o.interval_ms} * 1000 * i / s;
        const int64_t wait_ms = (sync_us + stagger_us - WallUs()) / 1000;
        Reply r = co_await api->RoundTrip(
            StartRequest(tokens[static_cast<size_t>(i)], StreamPrompt(o, wait_ms)));
        if (r.ec || !r.keep_alive) api.reset();
        slot.run_id = r.status == 200 ? RunIdOf(r.body) : "";
        if (slot.run_id.empty()) {
          slot.error =
              "start: " + (r.ec ? r.ec.message() : std::to_string(r.status) + " " + r.body);
          ++ramp_failed;
        }
      }
    };
    auto open_streams = [&]() -> asio::awaitable<void> {
      auto ex = co_await asio::this_coro::executor;
      for (;;) {
        const int i = next++;
        if (i >= s) break;
        StreamSlot& slot = slots[static_cast<size_t>(i)];
        if (slot.run_id.empty()) continue;
        auto conn = std::make_unique<Conn>(ex);
        auto ec = co_await conn->Connect(ep);
        if (!ec)
          ec = co_await conn->Send(StreamRequest(tokens[static_cast<size_t>(i)], slot.run_id));
        if (ec) {
          slot.error = "stream connect: " + ec.message();
          ++ramp_failed;
          continue;
        }
        auto reader = std::make_unique<SseReader>(conn->socket(), conn->buffer());
        const int status = co_await reader->ReadHeader();
        slot.header_us = WallUs();
        if (status != 200) {
          slot.error = "stream status " + std::to_string(status);
          ++ramp_failed;
          continue;
        }
        ++open;
        ++ever_opened;
        work.Add();
        asio::co_spawn(ex, follow(i, std::move(conn), std::move(reader)), asio::detached);
      }
    };
    work.Add();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ex = co_await asio::this_coro::executor;
          asio::steady_timer timer(ex);
          const int parallel = std::max(1, std::min(o.ramp_parallel, s));
          for (int phase = 0; phase < 2; ++phase) {
            next = 0;
            std::atomic<int> running{parallel};
            for (int w = 0; w < parallel; ++w) {
              asio::co_spawn(ex, phase == 0 ? start_runs() : open_streams(),
                             [&](std::exception_ptr) { --running; });
            }
            while (running.load() > 0) {
              timer.expires_after(std::chrono::milliseconds(5));
              co_await timer.async_wait(kTuple);
            }
            std::lock_guard lock(snap_mu);
            if (phase == 0) {
              runs_started_us = WallUs();
              rss_runs = o.server_pid > 0 ? RssKb(o.server_pid) : -1;
            } else {
              ramp_done_us = WallUs();
              if (snap_rss < 0) {
                snap_all_open = true;
                snap_rss = o.server_pid > 0 ? RssKb(o.server_pid) : -1;
                snap_open = open.load();
              }
            }
          }
          work.Done();
        },
        asio::detached);

    // RSS sampler: the peak; and a snapshot at the start of the content phase if the ramp is
    // still going then.
    work.Add();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          asio::steady_timer timer(co_await asio::this_coro::executor);
          for (;;) {
            {
              std::lock_guard lock(snap_mu);
              if (ramp_done_us > 0 && open.load() == 0) break;
            }
            timer.expires_after(std::chrono::milliseconds(100));
            co_await timer.async_wait(kTuple);
            const int64_t rss = o.server_pid > 0 ? RssKb(o.server_pid) : -1;
            std::lock_guard lock(snap_mu);
            rss_peak = std::max(rss_peak, rss);
            if (snap_rss < 0 && ramp_done_us == 0 && WallUs() >= sync_us) {
              snap_rss = rss;
              snap_open = open.load();
            }
          }
          work.Done();
        },
        asio::detached);

    const double max_s = std::min(o.max_s, ramp_budget / 1000.0 + content_ms / 1000.0 + 60);
    if (!RunBounded(io, o.threads, max_s))
      std::printf("  (hard deadline hit after %.0f s)\n", max_s);
  }
  const int64_t stopped_us = WallUs();
  const double wall = Seconds(SteadyClock::now() - t0);

  // Merge.
  int64_t events = 0, live = 0, gaps = 0, pings = 0, completed = 0, other_terminal = 0,
          no_terminal = 0, content_events = 0;
  int64_t last_end_us = 0;
  std::vector<double> delays, content_delays;
  std::map<std::string, int> errors;
  for (auto& sl : slots) {
    events += sl.events;
    live += sl.live;
    gaps += sl.gaps;
    pings += sl.pings;
    if (sl.terminal == "completed") {
      ++completed;
    } else if (!sl.terminal.empty()) {
      ++other_terminal;
    } else if (sl.header_us) {
      ++no_terminal;
    }
    if (!sl.error.empty()) ++errors[sl.error.substr(0, 80)];
    last_end_us = std::max(last_end_us, sl.end_us);
    delays.insert(delays.end(), sl.delay_ms.begin(), sl.delay_ms.end());
    content_delays.insert(content_delays.end(), sl.content_delay_ms.begin(),
                          sl.content_delay_ms.end());
    content_events += static_cast<int64_t>(sl.content_delay_ms.size());
  }
  const int64_t opened = ever_opened.load();
  const int64_t ramp_start_us = sync_us - int64_t{ramp_budget} * 1000;
  const double ramp_s =
      ramp_done_us > 0 ? static_cast<double>(ramp_done_us - ramp_start_us) / 1e6 : NAN;
  if (ramp_done_us > 0) {
    std::printf("  ramp: %lld/%d streams open after %.2f s (budget %.2f s)%s\n",
                static_cast<long long>(opened), s, ramp_s, ramp_budget / 1000.0,
                ramp_s > ramp_budget / 1000.0
                    ? "  ** ramp overran its budget: content overlaps the ramp **"
                    : "");
  } else {
    std::printf("  ramp: NOT FINISHED: %lld/%d streams ever opened, %d refused\n",
                static_cast<long long>(opened), s, ramp_failed.load());
  }
  for (const auto& [e, count] : errors) std::printf("  error x%d: %s\n", count, e.c_str());
  std::printf(
      "  ends: %lld completed, %lld other terminal, %lld without terminal; %lld seq gaps; "
      "%lld pings\n",
      static_cast<long long>(completed), static_cast<long long>(other_terminal),
      static_cast<long long>(no_terminal), static_cast<long long>(gaps),
      static_cast<long long>(pings));
  // Content phase: from the sync point to the last stream's end. Each run then sends its
  // lines*words chunks plus the complete message, llm_response_end and the terminal status.
  if (no_terminal > 0 || last_end_us == 0) last_end_us = std::max(last_end_us, stopped_us);
  const double content_s = static_cast<double>(last_end_us - sync_us) / 1e6;
  const double rate = content_s > 0 ? static_cast<double>(content_events) / content_s : 0;
  const int64_t expected = static_cast<int64_t>(s) * (int64_t{o.lines} * o.words + 3);
  const double offered = static_cast<double>(s) * o.words * 1000.0 / o.interval_ms;
  std::printf(
      "  events: %lld received (%lld live); content phase: %lld of %lld expected events in "
      "%.2f s = %.0f events/s delivered (chunks offered at ~%.0f/s)\n",
      static_cast<long long>(events), static_cast<long long>(live),
      static_cast<long long>(content_events), static_cast<long long>(expected), content_s, rate,
      offered);
  PrintLatency("delay creation->receipt, live events", delays, "streams_delay");
  PrintLatency("delay creation->receipt, content phase", content_delays, "streams_content_delay");
  if (o.server_pid > 0) {
    const int64_t started = s - std::count_if(slots.begin(), slots.end(),
                                              [](const StreamSlot& x) { return x.run_id.empty(); });
    const double per_open =
        snap_open > 0 ? static_cast<double>(snap_rss - rss_before) / static_cast<double>(snap_open)
                      : NAN;
    const double per_peak =
        opened > 0 ? static_cast<double>(rss_peak - rss_before) / static_cast<double>(opened) : NAN;
    const double per_run =
        started > 0 ? static_cast<double>(rss_runs - rss_before) / static_cast<double>(started)
                    : NAN;
    std::printf(
        "  server RSS: before %lld KiB; %lld KiB with %lld runs started, no stream yet "
        "(%.1f KiB per run, %.2f s after the ramp began)\n",
        static_cast<long long>(rss_before), static_cast<long long>(rss_runs),
        static_cast<long long>(started), per_run,
        static_cast<double>(runs_started_us - ramp_start_us) / 1e6);
    std::printf(
        "  server RSS: %lld KiB with %lld streams open (%s); peak %lld KiB\n"
        "  -> %.1f KiB per open stream with its run (%.1f KiB of it the stream), "
        "%.1f KiB at peak\n",
        static_cast<long long>(snap_rss), static_cast<long long>(snap_open),
        snap_all_open ? "all open, before content" : "ramp unfinished at content start",
        static_cast<long long>(rss_peak), per_open,
        snap_all_open && started > 0
            ? static_cast<double>(snap_rss - rss_runs) / static_cast<double>(snap_open)
            : NAN,
        per_peak);
    Figure("streams_rss_per_run_kib", per_run);
    Figure("streams_rss_stream_only_kib",
           snap_all_open && started > 0 && snap_open > 0
               ? static_cast<double>(snap_rss - rss_runs) / static_cast<double>(snap_open)
               : NAN);
    Figure("streams_rss_per_stream_kib", per_open);
    Figure("streams_rss_peak_per_stream_kib", per_peak);
    Figure("streams_rss_before_kib", static_cast<double>(rss_before));
    Figure("streams_rss_peak_kib", static_cast<double>(rss_peak));
  }
  cpu.Print("streams");
  std::printf("  wall %.1f s\n", wall);
  Figure("streams_open", static_cast<double>(opened));
  Figure("streams_events_per_s", rate);
  Figure("streams_offered_events_per_s", offered);
  Figure("streams_content_events", static_cast<double>(content_events));
  Figure("streams_expected_events", static_cast<double>(expected));
  Figure("streams_gaps", static_cast<double>(gaps));
  Figure("streams_completed", static_cast<double>(completed));
  Figure("streams_ramp_s", ramp_s);
  return opened == s && completed == s && gaps == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- scenario: stop

int Stop(const Options& o) {
  auto tokens = MintTokens(o, std::min(o.users, o.runs), "bench-stop-");
  const tcp::endpoint ep(asio::ip::make_address(o.host), static_cast<uint16_t>(o.port));
  std::printf(
      "== stop: %d runs of \"/sleep 60000\", one at a time: stream open and live, then "
      "POST stop; latency from the stop request's send to the terminal event\n",
      o.runs);
  std::vector<double> to_event_ms, to_reply_ms;
  std::map<std::string, int> errors;
  int wrong_status = 0;
  CpuMeter cpu(o.server_pid);
  {
    asio::io_context io(1);
    WorkCount work(io);
    work.Add();
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ex = co_await asio::this_coro::executor;
          const auto deadline = SteadyClock::now() + std::chrono::seconds(60);
          std::unique_ptr<Conn> api;
          for (int i = 0; i < o.runs && SteadyClock::now() < deadline; ++i) {
            const std::string& token = tokens[static_cast<size_t>(i) % tokens.size()];
            if (!api) {
              api = std::make_unique<Conn>(ex);
              if (co_await api->Connect(ep)) {
                ++errors["api connect"];
                api.reset();
                continue;
              }
            }
            Reply r = co_await api->RoundTrip(StartRequest(token, "/sleep 60000"));
            if (r.ec || !r.keep_alive) api.reset();
            const std::string run_id = r.status == 200 ? RunIdOf(r.body) : "";
            if (run_id.empty()) {
              ++errors["start " + std::to_string(r.status)];
              continue;
            }
            Conn sconn(ex);
            auto ec = co_await sconn.Connect(ep);
            if (!ec) ec = co_await sconn.Send(StreamRequest(token, run_id));
            if (ec) {
              ++errors["stream connect"];
              continue;
            }
            SseReader reader(sconn.socket(), sconn.buffer());
            if (co_await reader.ReadHeader() != 200) {
              ++errors["stream status"];
              continue;
            }
            // Wait until the run is inside its model call (the sleep).
            bool live = false;
            co_await reader.ReadEvents([&](const SseEvent& ev) {
              if (ev.data.find("\"type\":\"llm_response_start\"") != std::string_view::npos) {
                live = true;
                return false;
              }
              return !ev.terminal;
            });
            if (!live) {
              ++errors["run ended before stop"];
              continue;
            }
            if (!api) {
              api = std::make_unique<Conn>(ex);
              if (co_await api->Connect(ep)) {
                ++errors["api connect"];
                api.reset();
                continue;
              }
            }
            const auto sent = SteadyClock::now();
            SteadyClock::time_point replied, terminal;
            std::string terminal_status;
            Reply stop_reply;
            co_await ([&]() -> asio::awaitable<void> {
              stop_reply = co_await api->RoundTrip(StopRequest(token, run_id));
              replied = SteadyClock::now();
            }() && [&]() -> asio::awaitable<void> {
              co_await reader.ReadEvents([&](const SseEvent& ev) {
                if (!ev.terminal) return true;
                terminal = SteadyClock::now();
                terminal_status = std::string(ev.status);
                return false;
              });
            }());
            if (stop_reply.ec || !stop_reply.keep_alive) api.reset();
            if (stop_reply.status != 200) ++errors["stop " + std::to_string(stop_reply.status)];
            if (terminal_status != "stopped") ++wrong_status;
            if (terminal.time_since_epoch().count() == 0) {
              ++errors["no terminal event"];
              continue;
            }
            to_event_ms.push_back(Seconds(terminal - sent) * 1000);
            if (stop_reply.status == 200) to_reply_ms.push_back(Seconds(replied - sent) * 1000);
          }
          work.Done();
        },
        asio::detached);
    if (!RunBounded(io, 1, 90)) std::printf("  (hard deadline hit)\n");
  }
  std::printf("  %zu runs stopped; %d terminal statuses other than \"stopped\"\n",
              to_event_ms.size(), wrong_status);
  for (const auto& [e, count] : errors) std::printf("  error x%d: %s\n", count, e.c_str());
  PrintLatency("stop sent -> terminal event on the stream", to_event_ms, "stop_event");
  PrintLatency("stop sent -> stop reply", to_reply_ms, "stop_reply");
  cpu.Print("stop");
  return errors.empty() && wrong_status == 0 ? 0 : 1;
}

// ---------------------------------------------------------------- quiet

// Waits (at most --max-seconds) until the server uses under 5% of a core over 300 ms.
int Quiet(const Options& o) {
  if (o.server_pid <= 0) Die("--server-pid is required");
  const auto deadline =
      SteadyClock::now() + std::chrono::milliseconds(static_cast<int64_t>(o.max_s * 1000));
  double last = ProcCpuSeconds(o.server_pid);
  while (SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    const double now = ProcCpuSeconds(o.server_pid);
    if (now < 0) return 1;
    if ((now - last) / 0.3 < 0.05) return 0;
    last = now;
  }
  std::printf("(server still busy after %.0f s)\n", o.max_s);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = ParseArgs(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  if (o.scenario == "quiet") return Quiet(o);
  if (o.scenario == "tokens") {  // one token per line, for wrk scripts
    for (const auto& t : MintTokens(o, o.users, "bench-wrk-")) std::printf("%s\n", t.c_str());
    return 0;
  }
  if (o.port <= 0) Die("--port is required");
  if (o.scenario == "saturate") return Saturate(o);
  if (o.scenario == "steady") return Steady(o);
  if (o.scenario == "streams") return Streams(o);
  if (o.scenario == "stop") return Stop(o);
  Die("unknown scenario " + o.scenario);
}
