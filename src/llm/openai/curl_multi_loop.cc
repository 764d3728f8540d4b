#include "llm/openai/curl_multi_loop.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace agentd::llm::openai {

struct CurlLoopCore {
  struct Command {
    std::shared_ptr<HttpTransfer> transfer;
    bool cancel = false;
  };

  std::mutex mu;
  CURLM* multi = nullptr;         // guarded by mu for wakeups; used by the loop thread
  bool stopping = false;          // guarded by mu
  std::vector<Command> commands;  // guarded by mu

  // False when the loop has stopped (the command is dropped).
  bool Push(Command c) {
    std::lock_guard lock(mu);
    if (stopping || multi == nullptr) return false;
    commands.push_back(std::move(c));
    curl_multi_wakeup(multi);
    return true;
  }
};

namespace {

constexpr auto kMaxPollWait = std::chrono::milliseconds(1000);

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
  }
  return true;
}

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

}  // namespace

// Callbacks and per-transfer work of the loop thread.
class CurlLoopAccess {
 public:
  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<HttpTransfer*>(user);
    const std::string_view line(data, size * n);
    t->last_activity_ = std::chrono::steady_clock::now();
    std::lock_guard lock(t->mu_);
    if (line.starts_with("HTTP/")) {
      t->progress_.retry_after_s.reset();
    } else if (StartsWithNoCase(line, "retry-after:")) {
      const std::string_view v = TrimSpace(line.substr(12));
      int64_t seconds = 0;
      const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), seconds);
      if (ec == std::errc() && end == v.data() + v.size() && seconds >= 0) {
        t->progress_.retry_after_s = seconds;
      }
    } else if (TrimSpace(line).empty()) {
      long code = 0;
      curl_easy_getinfo(static_cast<CURL*>(t->easy_), CURLINFO_RESPONSE_CODE, &code);
      // Interim 1xx responses are followed by the real header block.
      if (code >= 200) t->progress_.status = code;
    }
    return size * n;
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    auto* t = static_cast<HttpTransfer*>(user);
    t->last_activity_ = std::chrono::steady_clock::now();
    {
      std::lock_guard lock(t->mu_);
      t->progress_.body.append(data, size * n);
    }
    t->Notify();
    return size * n;
  }

  // Creates and configures the easy handle. False when libcurl refused.
  static bool Prepare(HttpTransfer& t) {
    CURL* easy = curl_easy_init();
    if (easy == nullptr) return false;
    t.easy_ = easy;
    curl_slist* list = nullptr;
    for (const std::string& h : t.request_.headers) list = curl_slist_append(list, h.c_str());
    // Without this libcurl waits for a "100 Continue" before sending larger bodies.
    list = curl_slist_append(list, "Expect:");
    t.header_list_ = list;
    curl_easy_setopt(easy, CURLOPT_URL, t.request_.url.c_str());
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t.request_.body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(t.request_.body.size()));
    curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS,
                     static_cast<long>(t.request_.connect_timeout.count()));
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(easy, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &CurlLoopAccess::OnHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &CurlLoopAccess::OnBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
    t.last_activity_ = std::chrono::steady_clock::now();
    return true;
  }

  // Detaches the handle from `multi` (closing an unfinished connection) and frees it.
  static void Release(CURLM* multi, HttpTransfer& t) {
    if (t.easy_ == nullptr) return;
    curl_multi_remove_handle(multi, static_cast<CURL*>(t.easy_));
    curl_easy_cleanup(static_cast<CURL*>(t.easy_));
    curl_slist_free_all(static_cast<curl_slist*>(t.header_list_));
    t.easy_ = nullptr;
    t.header_list_ = nullptr;
  }

  static void Finish(HttpTransfer& t, bool failed, bool timed_out, std::string error) {
    {
      std::lock_guard lock(t.mu_);
      t.progress_.done = true;
      t.progress_.failed = failed;
      t.progress_.timed_out = timed_out;
      t.progress_.error = std::move(error);
    }
    t.Notify();
  }

  static std::chrono::steady_clock::time_point IdleDeadline(const HttpTransfer& t) {
    return t.last_activity_ + t.request_.idle_timeout;
  }
};

HttpTransfer::HttpTransfer(HttpRequest request, boost::asio::any_io_executor executor,
                           std::weak_ptr<CurlLoopCore> core)
    : request_(std::move(request)), core_(std::move(core)), signal_(std::move(executor), 1) {}

HttpProgress HttpTransfer::Take() {
  std::lock_guard lock(mu_);
  HttpProgress out = progress_;
  progress_.body.clear();
  return out;
}

void HttpTransfer::Notify() {
  // A full channel already holds a wake-up the reader has not consumed; one is enough.
  signal_.try_send(boost::system::error_code());
}

void HttpTransfer::Cancel() {
  {
    std::lock_guard lock(mu_);
    if (progress_.done || cancelled_) return;
    cancelled_ = true;
  }
  if (std::shared_ptr<CurlLoopCore> core = core_.lock()) {
    core->Push({shared_from_this(), /*cancel=*/true});
  }
}

Result<std::unique_ptr<CurlMultiLoop>> CurlMultiLoop::Create() {
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    return Internal("libcurl could not be initialised");
  }
  auto core = std::make_shared<CurlLoopCore>();
  core->multi = curl_multi_init();
  if (core->multi == nullptr) {
    curl_global_cleanup();
    return Internal("libcurl could not create a multi handle");
  }
  return std::unique_ptr<CurlMultiLoop>(new CurlMultiLoop(std::move(core)));
}

CurlMultiLoop::CurlMultiLoop(std::shared_ptr<CurlLoopCore> core) : core_(std::move(core)) {
  thread_ = std::thread([this] { Run(); });
}

CurlMultiLoop::~CurlMultiLoop() {
  {
    std::lock_guard lock(core_->mu);
    core_->stopping = true;
    curl_multi_wakeup(core_->multi);
  }
  thread_.join();
  CURLM* multi = nullptr;
  {
    std::lock_guard lock(core_->mu);
    multi = std::exchange(core_->multi, nullptr);
  }
  curl_multi_cleanup(multi);
  curl_global_cleanup();
}

std::shared_ptr<HttpTransfer> CurlMultiLoop::Start(HttpRequest request,
                                                   boost::asio::any_io_executor executor) {
  auto t = std::make_shared<HttpTransfer>(std::move(request), std::move(executor), core_);
  if (!core_->Push({t, /*cancel=*/false})) {
    CurlLoopAccess::Finish(*t, true, false, "the HTTP client is shutting down");
  }
  return t;
}

void CurlMultiLoop::Run() {
  CURLM* multi = core_->multi;  // set before the thread started, freed after it ends
  std::unordered_map<HttpTransfer*, std::shared_ptr<HttpTransfer>> active;
  std::vector<CurlLoopCore::Command> commands;
  while (true) {
    {
      std::lock_guard lock(core_->mu);
      if (core_->stopping) break;
      commands.swap(core_->commands);
    }
    for (CurlLoopCore::Command& c : commands) {
      HttpTransfer& t = *c.transfer;
      if (c.cancel) {
        auto it = active.find(&t);
        if (it == active.end()) continue;
        CurlLoopAccess::Release(multi, t);
        CurlLoopAccess::Finish(t, true, false, "cancelled");
        active.erase(it);
      } else if (!CurlLoopAccess::Prepare(t) ||
                 curl_multi_add_handle(multi, static_cast<CURL*>(t.easy_)) != CURLM_OK) {
        CurlLoopAccess::Release(multi, t);
        CurlLoopAccess::Finish(t, true, false, "libcurl refused the request");
      } else {
        active.emplace(&t, std::move(c.transfer));
      }
    }
    commands.clear();

    int running = 0;
    curl_multi_perform(multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      HttpTransfer* raw = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
      const CURLcode code = msg->data.result;
      auto it = active.find(raw);
      if (it == active.end()) continue;
      CurlLoopAccess::Release(multi, *raw);
      CurlLoopAccess::Finish(*raw, code != CURLE_OK, code == CURLE_OPERATION_TIMEDOUT,
                             code == CURLE_OK ? std::string() : curl_easy_strerror(code));
      active.erase(it);
    }

    const auto now = std::chrono::steady_clock::now();
    auto wait = kMaxPollWait;
    for (auto it = active.begin(); it != active.end();) {
      const auto deadline = CurlLoopAccess::IdleDeadline(*it->second);
      if (deadline <= now) {
        CurlLoopAccess::Release(multi, *it->second);
        CurlLoopAccess::Finish(*it->second, true, true, "no data received within the idle timeout");
        it = active.erase(it);
        continue;
      }
      wait = std::min(wait, std::chrono::ceil<std::chrono::milliseconds>(deadline - now));
      ++it;
    }
    curl_multi_poll(multi, nullptr, 0, static_cast<int>(wait.count()), nullptr);
  }
  for (auto& [raw, t] : active) {
    CurlLoopAccess::Release(multi, *t);
    CurlLoopAccess::Finish(*t, true, false, "the HTTP client is shutting down");
  }
  std::vector<CurlLoopCore::Command> pending;
  {
    std::lock_guard lock(core_->mu);
    pending.swap(core_->commands);
  }
  for (auto& c : pending) {
    if (!c.cancel)
      CurlLoopAccess::Finish(*c.transfer, true, false, "the HTTP client is shutting down");
  }
}

}  // namespace agentd::llm::openai
