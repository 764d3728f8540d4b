// CurlMultiLoop: the one background thread per server that drives every provider HTTP
// transfer through a libcurl multi handle (curl_multi_poll, woken by curl_multi_wakeup).
// Created by app/serve.cc and shared by all OpenAI-compatible clients. Bytes received on the
// loop thread are queued on the transfer and announced to the awaiting coroutine through a
// thread-safe Asio channel bound to that coroutine's executor, so the coroutine only ever waits
// in a cancellable Asio operation.
// Thread safety: Start and HttpTransfer's methods may be called from any thread.
// Lifetime: destroy the loop before the io_context whose executors its transfers signal.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "core/status.h"

namespace agentd::llm::openai {

struct HttpRequest {
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent as a POST
  std::chrono::milliseconds connect_timeout{10000};
  // The transfer is aborted when no byte (header or body) arrived for this long.
  std::chrono::milliseconds idle_timeout{120000};
};

// What happened since the previous Take.
struct HttpProgress {
  long status = 0;  // 0 until the response headers are complete
  std::optional<int64_t> retry_after_s;
  std::string body;  // body bytes received since the previous Take
  bool done = false;
  bool timed_out = false;  // the connect or idle timeout fired (done is true)
  bool failed = false;     // transport error: refused, reset, truncated (done is true)
  std::string error;       // libcurl's description of the failure
};

class CurlMultiLoop;
class CurlLoopAccess;
struct CurlLoopCore;

// One request in flight. Shared by the awaiting coroutine and the loop thread.
class HttpTransfer : public std::enable_shared_from_this<HttpTransfer> {
 public:
  using Signal = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

  HttpTransfer(HttpRequest request, boost::asio::any_io_executor executor,
               std::weak_ptr<CurlLoopCore> core);
  HttpTransfer(const HttpTransfer&) = delete;
  HttpTransfer& operator=(const HttpTransfer&) = delete;

  // Moves out the bytes received so far; status and done are sticky.
  HttpProgress Take();
  // Receives one token whenever Take has something new; await it with async_receive.
  Signal& signal() { return signal_; }
  // Aborts the transfer (its connection is closed) unless it already finished. Idempotent.
  void Cancel();

 private:
  friend class CurlMultiLoop;
  friend class CurlLoopAccess;
  void Notify();

  const HttpRequest request_;
  const std::weak_ptr<CurlLoopCore> core_;
  Signal signal_;

  std::mutex mu_;
  HttpProgress progress_;   // guarded by mu_
  bool cancelled_ = false;  // guarded by mu_

  // Loop thread only.
  void* easy_ = nullptr;
  void* header_list_ = nullptr;
  std::chrono::steady_clock::time_point last_activity_;
};

class CurlMultiLoop {
 public:
  // Starts the loop thread. Failure: Internal when libcurl cannot be initialised.
  static Result<std::unique_ptr<CurlMultiLoop>> Create();
  ~CurlMultiLoop();  // aborts the transfers still running and joins the thread
  CurlMultiLoop(const CurlMultiLoop&) = delete;
  CurlMultiLoop& operator=(const CurlMultiLoop&) = delete;

  // Starts `request`; its signal is delivered on `executor`.
  std::shared_ptr<HttpTransfer> Start(HttpRequest request, boost::asio::any_io_executor executor);

 private:
  explicit CurlMultiLoop(std::shared_ptr<CurlLoopCore> core);
  void Run();

  std::shared_ptr<CurlLoopCore> core_;
  std::thread thread_;
};

}  // namespace agentd::llm::openai
