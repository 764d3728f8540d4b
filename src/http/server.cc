#include "http/server.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/url/parse.hpp>

#include "http/error_mapping.h"

namespace agentd::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
constexpr char kCorsAllowHeaders[] =
    "Authorization, Content-Type, X-API-Key, Idempotency-Key, X-Emit-Timing, Last-Event-ID";

std::string Lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Fills path and query from the request target; false when the target is not a valid URI.
bool ParseTarget(std::string_view target, HttpRequest& req) {
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return false;
  req.path = std::string(url->path());
  for (auto param : url->params()) req.query.emplace_back(param.key, param.value);
  return true;
}

class SocketChunkWriter final : public ChunkWriter {
 public:
  explicit SocketChunkWriter(beast::tcp_stream& stream) : stream_(stream) {}
  asio::awaitable<bool> Write(std::string_view data) override {
    if (data.empty()) co_return true;
    auto result = co_await asio::async_write(
        stream_, bhttp::make_chunk(asio::const_buffer(data.data(), data.size())), kTuple);
    co_return !std::get<0>(result);
  }

 private:
  beast::tcp_stream& stream_;
};

// The body of a streamed route, read into a fixed buffer as the handler asks for it.
class BeastBodyReader final : public BodyReader {
 public:
  BeastBodyReader(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                  bhttp::request_parser<bhttp::buffer_body>& parser,
                  std::chrono::milliseconds timeout, bool expect_continue)
      : stream_(stream),
        buffer_(buffer),
        parser_(parser),
        timeout_(timeout),
        expect_continue_(expect_continue),
        piece_(kPieceBytes) {}

  asio::awaitable<Result<std::string_view>> Read() override {
    if (failed_) co_return Unavailable("The request body could not be read");
    if (expect_continue_ && !continue_sent_ && !parser_.is_done()) {
      continue_sent_ = true;
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      stream_.expires_after(timeout_);
      auto wrote = co_await asio::async_write(
          stream_, asio::const_buffer(kContinue.data(), kContinue.size()), kTuple);
      if (std::get<0>(wrote)) {
        failed_ = true;
        co_return Unavailable("Connection lost");
      }
    }
    while (!parser_.is_done()) {
      parser_.get().body().data = piece_.data();
      parser_.get().body().size = piece_.size();
      stream_.expires_after(timeout_);
      auto result = co_await bhttp::async_read(stream_, buffer_, parser_, kTuple);
      boost::system::error_code ec = std::get<0>(result);
      if (ec == bhttp::error::need_buffer) ec = {};
      if (ec) {
        failed_ = true;
        if (ec.category() == bhttp::make_error_code(bhttp::error::need_buffer).category()) {
          co_return InvalidArgument("Malformed HTTP request body");
        }
        co_return Unavailable("Connection closed while reading the request body");
      }
      const size_t got = piece_.size() - parser_.get().body().size;
      if (got > 0) {
        bytes_read_ += got;
        co_return std::string_view(piece_.data(), got);
      }
    }
    co_return std::string_view();
  }

  bool done() const override { return parser_.is_done(); }
  uint64_t bytes_read() const override { return bytes_read_; }
  bool failed() const { return failed_; }
  // The client waits for "100 Continue" before sending: nothing of the body is on the way.
  bool body_withheld() const { return expect_continue_ && !continue_sent_; }

  // Reads and drops the rest of the body, at most `max` bytes; true when it ended.
  asio::awaitable<bool> Drain(uint64_t max) {
    const uint64_t start = bytes_read_;
    while (!parser_.is_done()) {
      if (bytes_read_ - start > max) co_return false;
      auto piece = co_await Read();
      if (!piece.ok()) co_return false;
    }
    co_return true;
  }

 private:
  static constexpr size_t kPieceBytes = 64 * 1024;

  beast::tcp_stream& stream_;
  beast::flat_buffer& buffer_;
  bhttp::request_parser<bhttp::buffer_body>& parser_;
  const std::chrono::milliseconds timeout_;
  const bool expect_continue_;
  std::vector<char> piece_;
  bool continue_sent_ = false;
  bool failed_ = false;
  uint64_t bytes_read_ = 0;
};

// After closing the sending side with part of a request body unread: read and drop what the
// client still sends for a moment, so the kernel does not answer it with a reset that would
// destroy the response before the client reads it.
constexpr auto kLingerTime = std::chrono::seconds(2);

}  // namespace

class HttpServer::Impl {
 public:
  Impl(asio::io_context& io, const Router& router, ServerOptions options)
      : io_(io), router_(router), options_(std::move(options)), acceptor_(io) {}

  Result<uint16_t> Listen() {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(options_.host, ec);
    if (ec) return InvalidArgument("Invalid listen address: " + options_.host);
    tcp::endpoint endpoint(address, options_.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return Unavailable("Cannot listen on " + options_.host + ":" + std::to_string(options_.port) +
                         ": " + ec.message());
    }
    asio::co_spawn(io_, Accept(), asio::detached);
    return acceptor_.local_endpoint().port();
  }

  int active_streams() const { return active_streams_.load(); }

  void StopAccepting() {
    asio::post(io_, [this] {
      boost::system::error_code ec;
      acceptor_.close(ec);
    });
  }

 private:
  asio::awaitable<void> Accept() {
    for (;;) {
      auto [ec, socket] = co_await acceptor_.async_accept(asio::make_strand(io_), kTuple);
      if (ec) {
        if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
        spdlog::warn("accept failed: {}", ec.message());
        continue;
      }
      socket.set_option(tcp::no_delay(true), ec);
      auto executor = socket.get_executor();
      asio::co_spawn(executor, Session(beast::tcp_stream(std::move(socket))), asio::detached);
    }
  }

  void AddCors(const HttpRequest& req, HttpResponse& resp) const {
    auto origin = req.Header("origin");
    if (origin.empty()) return;
    const auto& allowed = options_.cors_allowed_origins;
    const bool any = std::find(allowed.begin(), allowed.end(), "*") != allowed.end();
    if (!any && std::find(allowed.begin(), allowed.end(), origin) == allowed.end()) return;
    resp.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
    resp.headers.emplace_back("Vary", "Origin");
    resp.headers.emplace_back("Access-Control-Expose-Headers", "Content-Location");
  }

  HttpResponse Preflight(const HttpRequest& req) const {
    HttpResponse resp = HttpResponse::Empty(204);
    AddCors(req, resp);
    if (resp.headers.empty()) return resp;
    resp.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS");
    resp.headers.emplace_back("Access-Control-Allow-Headers", kCorsAllowHeaders);
    resp.headers.emplace_back("Access-Control-Max-Age", "600");
    return resp;
  }

  asio::awaitable<HttpResponse> Dispatch(HttpRequest& req, const Router::Match& match) {
    if (req.method == "OPTIONS") co_return Preflight(req);
    if (match.kind == Router::MatchKind::kNoPath) {
      co_return HttpResponse::Json(404, {{"detail", "Not Found"}});
    }
    if (match.kind == Router::MatchKind::kNoMethod) {
      auto r = HttpResponse::Json(405, {{"detail", "Method Not Allowed"}});
      std::string allow;
      for (const auto& m : match.allowed_methods) allow += (allow.empty() ? "" : ", ") + m;
      r.headers.emplace_back("Allow", allow);
      co_return r;
    }
    try {
      co_return co_await (*match.handler)(req);
    } catch (const std::exception& e) {
      spdlog::error("{} {}: unhandled exception: {}", req.method, req.path, e.what());
    }
    co_return ErrorResponse(Internal("unhandled"));
  }

  static bhttp::response<bhttp::string_body> ToBeast(HttpResponse& resp, unsigned version,
                                                     bool keep_alive) {
    bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(resp.status), version};
    out.set(bhttp::field::server, "agentd");
    for (auto& [k, v] : resp.headers) out.insert(k, v);
    out.body() = std::move(resp.body);
    out.keep_alive(keep_alive);
    out.prepare_payload();
    return out;
  }

  // Reads the rest of a whole-body request. On failure writes the error answer and returns false.
  asio::awaitable<bool> ReadWholeBody(beast::tcp_stream& stream, beast::flat_buffer& buffer,
                                      bhttp::request_parser<bhttp::empty_body>& head,
                                      HttpRequest& req) {
    bhttp::request_parser<bhttp::string_body> parser(std::move(head));
    parser.body_limit(options_.max_body_bytes);
    auto read_result = co_await bhttp::async_read(stream, buffer, parser, kTuple);
    boost::system::error_code ec = std::get<0>(read_result);
    if (!ec) {
      req.body = std::move(parser.get().body());
      co_return true;
    }
    if (ec == beast::error::timeout || ec == asio::error::connection_reset ||
        ec == asio::error::eof || ec == bhttp::error::end_of_stream) {
      co_return false;
    }
    HttpResponse err = ec == bhttp::error::body_limit
                           ? HttpResponse::Json(413, {{"detail", "Request body too large"}})
                           : HttpResponse::Json(400, {{"detail", "Malformed HTTP request"}});
    auto out = ToBeast(err, 11, false);
    co_await bhttp::async_write(stream, out, kTuple);
    co_return false;
  }

  asio::awaitable<void> Session(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    bool linger = false;  // closing with part of a request body unread
    for (;;) {
      bhttp::request_parser<bhttp::empty_body> head;
      head.body_limit(boost::none);  // each body mode sets its own limit below
      stream.expires_after(options_.read_timeout);
      auto read_result = co_await bhttp::async_read_header(stream, buffer, head, kTuple);
      boost::system::error_code ec = std::get<0>(read_result);
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof) break;
      if (ec) {
        if (ec == beast::error::timeout || ec == asio::error::connection_reset) break;
        HttpResponse err = HttpResponse::Json(400, {{"detail", "Malformed HTTP request"}});
        auto out = ToBeast(err, 11, false);
        co_await bhttp::async_write(stream, out, kTuple);
        break;
      }
      const auto& breq = head.get();
      HttpRequest req;
      req.method = std::string(breq.method_string());
      for (const auto& field : breq) {
        req.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
      }
      const unsigned version = breq.version();
      bool keep_alive = breq.keep_alive();
      const bool target_ok = ParseTarget(breq.target(), req);
      Router::Match match;
      if (target_ok) match = router_.Find(req);
      HttpResponse resp;
      if (target_ok && match.kind == Router::MatchKind::kFound &&
          match.body == Router::BodyMode::kStream) {
        bhttp::request_parser<bhttp::buffer_body> parser(std::move(head));
        parser.body_limit(boost::none);  // the handler bounds what it keeps
        BeastBodyReader reader(stream, buffer, parser, options_.read_timeout,
                               Lower(req.Header("expect")) == "100-continue");
        req.body_reader = &reader;
        resp = co_await Dispatch(req, match);
        if (!reader.done()) {
          bool drained = false;
          if (!resp.close && !reader.failed() && !reader.body_withheld()) {
            drained = co_await reader.Drain(options_.upload_drain_bytes);
          }
          if (!drained) {
            keep_alive = false;
            linger = !reader.failed() && !reader.body_withheld();
          }
        }
      } else {
        if (!co_await ReadWholeBody(stream, buffer, head, req)) break;
        if (target_ok) {
          resp = co_await Dispatch(req, match);
        } else {
          resp = HttpResponse::Json(400, {{"detail", "Invalid request target"}});
        }
      }
      if (req.method != "OPTIONS") AddCors(req, resp);

      if (resp.stream) {
        stream.expires_never();
        bhttp::response<bhttp::empty_body> out_head{static_cast<bhttp::status>(resp.status),
                                                    version};
        out_head.set(bhttp::field::server, "agentd");
        for (auto& [k, v] : resp.headers) out_head.insert(k, v);
        out_head.chunked(true);
        out_head.keep_alive(false);
        bhttp::response_serializer<bhttp::empty_body> sr{out_head};
        auto head_result = co_await bhttp::async_write_header(stream, sr, kTuple);
        if (std::get<0>(head_result)) break;
        SocketChunkWriter writer(stream);
        ++active_streams_;
        co_await resp.stream(writer);
        --active_streams_;
        co_await asio::async_write(stream, bhttp::make_chunk_last(), kTuple);
        break;
      }
      auto out = ToBeast(resp, version, keep_alive);
      stream.expires_after(options_.read_timeout);
      auto write_result = co_await bhttp::async_write(stream, out, kTuple);
      if (std::get<0>(write_result) || !keep_alive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    if (linger) {
      std::vector<char> sink(64 * 1024);
      uint64_t dropped = 0;
      stream.expires_after(kLingerTime);
      while (dropped <= options_.upload_drain_bytes) {
        auto r = co_await stream.async_read_some(asio::buffer(sink), kTuple);
        if (std::get<0>(r)) break;
        dropped += std::get<1>(r);
      }
    }
  }

  asio::io_context& io_;
  const Router& router_;
  const ServerOptions options_;
  tcp::acceptor acceptor_;
  std::atomic<int> active_streams_{0};
};

HttpServer::HttpServer(asio::io_context& io, const Router& router, ServerOptions options)
    : impl_(std::make_unique<Impl>(io, router, std::move(options))) {}
HttpServer::~HttpServer() = default;
Result<uint16_t> HttpServer::Listen() { return impl_->Listen(); }
void HttpServer::StopAccepting() { impl_->StopAccepting(); }
int HttpServer::active_streams() const { return impl_->active_streams(); }

}  // namespace agentd::http
