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

  asio::awaitable<HttpResponse> Dispatch(HttpRequest& req) {
    if (req.method == "OPTIONS") co_return Preflight(req);
    auto match = router_.Find(req);
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

  asio::awaitable<void> Session(beast::tcp_stream stream) {
    beast::flat_buffer buffer;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.body_limit(options_.max_body_bytes);
      stream.expires_after(options_.read_timeout);
      auto read_result = co_await bhttp::async_read(stream, buffer, parser, kTuple);
      boost::system::error_code ec = std::get<0>(read_result);
      if (ec == bhttp::error::end_of_stream || ec == asio::error::eof) break;
      if (ec) {
        if (ec == beast::error::timeout || ec == asio::error::connection_reset) break;
        HttpResponse err = ec == bhttp::error::body_limit
                               ? HttpResponse::Json(413, {{"detail", "Request body too large"}})
                               : HttpResponse::Json(400, {{"detail", "Malformed HTTP request"}});
        auto out = ToBeast(err, 11, false);
        co_await bhttp::async_write(stream, out, kTuple);
        break;
      }
      auto breq = parser.release();
      HttpRequest req;
      req.method = std::string(breq.method_string());
      for (const auto& field : breq) {
        req.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
      }
      req.body = std::move(breq.body());
      const bool keep_alive = breq.keep_alive();
      HttpResponse resp;
      if (ParseTarget(breq.target(), req)) {
        resp = co_await Dispatch(req);
      } else {
        resp = HttpResponse::Json(400, {{"detail", "Invalid request target"}});
      }
      if (req.method != "OPTIONS") AddCors(req, resp);

      if (resp.stream) {
        stream.expires_never();
        bhttp::response<bhttp::empty_body> head{static_cast<bhttp::status>(resp.status),
                                                breq.version()};
        head.set(bhttp::field::server, "agentd");
        for (auto& [k, v] : resp.headers) head.insert(k, v);
        head.chunked(true);
        head.keep_alive(false);
        bhttp::response_serializer<bhttp::empty_body> sr{head};
        auto head_result = co_await bhttp::async_write_header(stream, sr, kTuple);
        if (std::get<0>(head_result)) break;
        SocketChunkWriter writer(stream);
        ++active_streams_;
        co_await resp.stream(writer);
        --active_streams_;
        co_await asio::async_write(stream, bhttp::make_chunk_last(), kTuple);
        break;
      }
      auto out = ToBeast(resp, breq.version(), keep_alive);
      auto write_result = co_await bhttp::async_write(stream, out, kTuple);
      if (std::get<0>(write_result) || !keep_alive) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
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
