#include "support/fake_openai_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace agentd::testing {
namespace {

using nlohmann::json;

json ChunkEnvelope(json choices, json usage = nullptr) {
  return {{"id", "chatcmpl-fake123"},        {"object", "chat.completion.chunk"},
          {"created", 1700000000},           {"model", "gpt-fake-2025-01-01"},
          {"system_fingerprint", "fp_fake"}, {"choices", std::move(choices)},
          {"usage", std::move(usage)}};
}

json Choice(json delta, json finish_reason = nullptr) {
  return json::array({{{"index", 0},
                       {"delta", std::move(delta)},
                       {"logprobs", nullptr},
                       {"finish_reason", std::move(finish_reason)}}});
}

const char* Reason(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 404:
      return "Not Found";
    case 429:
      return "Too Many Requests";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

enum class Wait { kReadable, kTimeout, kStopped };

// Waits for `fd` to become readable (or hung up), the server to stop, or `timeout` (-1 = none).
Wait WaitReadable(int fd, int wake_fd, int timeout_ms) {
  pollfd fds[2] = {{fd, POLLIN, 0}, {wake_fd, POLLIN, 0}};
  while (true) {
    const int r = ::poll(fds, 2, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) return Wait::kTimeout;
    if (fds[1].revents != 0) return Wait::kStopped;
    return Wait::kReadable;
  }
}

// True when the peer closed (or reset) the connection; leaves unread data in place.
bool PeerClosed(int fd) {
  char c;
  const ssize_t n = ::recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

}  // namespace

namespace fake_openai {

std::string RoleChunk() {
  return ChunkEnvelope(Choice({{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}}))
      .dump();
}

std::string TextChunk(const std::string& text) {
  return ChunkEnvelope(Choice({{"content", text}})).dump();
}

std::string ToolCallChunk(int index, const std::string& id, const std::string& name,
                          const std::string& arguments_piece) {
  json call = {{"index", index}};
  json function = {{"arguments", arguments_piece}};
  if (!id.empty()) {
    call["id"] = id;
    call["type"] = "function";
  }
  if (!name.empty()) function["name"] = name;
  call["function"] = std::move(function);
  return ChunkEnvelope(Choice({{"tool_calls", json::array({call})}})).dump();
}

std::string FinishChunk(const std::string& reason) {
  return ChunkEnvelope(Choice(json::object(), reason)).dump();
}

std::string UsageChunk(int64_t prompt_tokens, int64_t completion_tokens) {
  return ChunkEnvelope(json::array(), {{"prompt_tokens", prompt_tokens},
                                       {"completion_tokens", completion_tokens},
                                       {"total_tokens", prompt_tokens + completion_tokens}})
      .dump();
}

FakeReply TextReply(const std::vector<std::string>& deltas, int64_t prompt_tokens,
                    int64_t completion_tokens) {
  FakeReply r;
  r.chunks.push_back({RoleChunk()});
  for (const std::string& d : deltas) r.chunks.push_back({TextChunk(d)});
  r.chunks.push_back({FinishChunk("stop")});
  r.chunks.push_back({UsageChunk(prompt_tokens, completion_tokens)});
  r.chunks.push_back({kDone});
  return r;
}

FakeReply ErrorReply(int status, const std::string& message,
                     std::vector<std::pair<std::string, std::string>> headers) {
  FakeReply r;
  r.status = status;
  r.headers = std::move(headers);
  r.body = json{{"error",
                 {{"message", message},
                  {"type", status == 429 ? "rate_limit_exceeded" : "invalid_request_error"},
                  {"param", nullptr},
                  {"code", nullptr}}}}
               .dump();
  return r;
}

}  // namespace fake_openai

FakeOpenAiServer::FakeOpenAiServer() {
  if (::pipe2(wake_pipe_, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return;
  }
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listen_fd_, 64) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ADD_FAILURE() << "fake OpenAI server cannot listen: " << std::strerror(errno);
    return;
  }
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

FakeOpenAiServer::~FakeOpenAiServer() {
  if (wake_pipe_[1] >= 0) {
    [[maybe_unused]] ssize_t n = ::write(wake_pipe_[1], "x", 1);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> handlers;
  {
    std::lock_guard lock(mu_);
    handlers.swap(handlers_);
  }
  for (std::thread& t : handlers) t.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  for (int fd : wake_pipe_) {
    if (fd >= 0) ::close(fd);
  }
}

std::string FakeOpenAiServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + "/v1";
}

void FakeOpenAiServer::Push(FakeReply reply) {
  std::lock_guard lock(mu_);
  replies_.push_back(std::move(reply));
}

FakeOpenAiServer::State FakeOpenAiServer::Snapshot() const {
  std::lock_guard lock(mu_);
  return state_;
}

bool FakeOpenAiServer::WaitFor(const std::function<bool(const State&)>& pred,
                               std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return pred(state_); });
}

void FakeOpenAiServer::AcceptLoop() {
  while (WaitReadable(listen_fd_, wake_pipe_[0], -1) == Wait::kReadable) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(mu_);
    ++state_.active_connections;
    handlers_.emplace_back([this, fd] {
      Serve(fd);
      ::close(fd);
      std::lock_guard inner(mu_);
      --state_.active_connections;
      cv_.notify_all();
    });
  }
}

void FakeOpenAiServer::Serve(int fd) {
  std::string buf;
  while (true) {
    size_t header_end;
    while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
      if (WaitReadable(fd, wake_pipe_[0], -1) != Wait::kReadable) return;
      char tmp[16384];
      const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return;  // the client closed between requests
      buf.append(tmp, static_cast<size_t>(n));
    }
    RecordedRequest req;
    const std::string head = buf.substr(0, header_end);
    size_t line_end = head.find("\r\n");
    const std::string request_line = head.substr(0, line_end);
    const size_t sp1 = request_line.find(' ');
    const size_t sp2 = request_line.find(' ', sp1 + 1);
    req.method = request_line.substr(0, sp1);
    req.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
    size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
    while (pos < head.size()) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string::npos) end = head.size();
      const std::string line = head.substr(pos, end - pos);
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        req.headers[Lower(line.substr(0, colon))] = value;
      }
      pos = end + 2;
    }
    size_t content_length = 0;
    if (auto it = req.headers.find("content-length"); it != req.headers.end()) {
      content_length = std::stoul(it->second);
    }
    buf.erase(0, header_end + 4);
    while (buf.size() < content_length) {
      if (WaitReadable(fd, wake_pipe_[0], -1) != Wait::kReadable) return;
      char tmp[16384];
      const ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
      if (n <= 0) return;
      buf.append(tmp, static_cast<size_t>(n));
    }
    req.body = buf.substr(0, content_length);
    buf.erase(0, content_length);
    req.json = json::parse(req.body, nullptr, false);
    if (req.json.is_discarded()) req.json = nullptr;

    FakeReply reply;
    {
      std::lock_guard lock(mu_);
      state_.requests.push_back(std::move(req));
      if (replies_.empty()) {
        reply = fake_openai::TextReply({"Hello", " from", " the fake"});
      } else {
        reply = std::move(replies_.front());
        replies_.pop_front();
      }
      cv_.notify_all();
    }
    if (!Answer(fd, reply)) return;
  }
}

bool FakeOpenAiServer::Answer(int fd, const FakeReply& reply) {
  auto disconnected = [&] {
    std::lock_guard lock(mu_);
    ++state_.disconnects;
    cv_.notify_all();
    return false;
  };
  std::string head =
      "HTTP/1.1 " + std::to_string(reply.status) + " " + Reason(reply.status) + "\r\n";
  for (const auto& [name, value] : reply.headers) head += name + ": " + value + "\r\n";
  const bool streaming = reply.status == 200 && reply.body.empty();
  if (!streaming) {
    head +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(reply.body.size()) +
        "\r\n\r\n";
    return SendAll(fd, head + reply.body);
  }
  head += "Content-Type: text/event-stream; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n";
  if (!SendAll(fd, head)) return disconnected();
  for (const FakeChunk& chunk : reply.chunks) {
    if (chunk.delay.count() > 0) {
      const Wait w = WaitReadable(fd, wake_pipe_[0], static_cast<int>(chunk.delay.count()));
      if (w == Wait::kStopped) return false;
      if (w == Wait::kReadable && PeerClosed(fd)) return disconnected();
    }
    const std::string data = chunk.raw ? chunk.payload : "data: " + chunk.payload + "\n\n";
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    if (!SendAll(fd, std::string(size) + data + "\r\n")) return disconnected();
  }
  if (reply.drop) {
    ::shutdown(fd, SHUT_RDWR);
    return false;
  }
  if (reply.hang) {
    while (true) {
      const Wait w = WaitReadable(fd, wake_pipe_[0], -1);
      if (w == Wait::kStopped) return false;
      if (PeerClosed(fd)) return disconnected();
      char tmp[4096];
      if (::recv(fd, tmp, sizeof tmp, MSG_DONTWAIT) <= 0) return disconnected();
    }
  }
  return SendAll(fd, "0\r\n\r\n");
}

}  // namespace agentd::testing
