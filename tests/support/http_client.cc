#include "support/http_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <mutex>

namespace agentd::testing {
namespace {

void EnsureCurlInitialised() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

// Parses one header line into `r`; a status line starts a new header block (100 Continue).
void ParseHeaderLine(std::string_view line, Response* r) {
  if (line.starts_with("HTTP/")) {
    r->headers.clear();
    const size_t sp = line.find(' ');
    if (sp != std::string_view::npos)
      r->status = std::atol(std::string(line.substr(sp + 1)).c_str());
    return;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return;
  r->headers.emplace_back(Trim(line.substr(0, colon)), Trim(line.substr(colon + 1)));
}

size_t CollectBody(char* ptr, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(ptr, size * n);
  return size * n;
}

size_t CollectHeader(char* ptr, size_t size, size_t n, void* out) {
  ParseHeaderLine(std::string_view(ptr, size * n), static_cast<Response*>(out));
  return size * n;
}

curl_slist* BuildHeaderList(const Headers& headers) {
  curl_slist* list = nullptr;
  // No "Expect: 100-continue" round trip on larger bodies.
  list = curl_slist_append(list, "Expect:");
  for (const auto& [name, value] : headers) {
    // An empty value removes a header curl would send by itself (e.g. Accept).
    const std::string line = value.empty() ? name + ":" : name + ": " + value;
    list = curl_slist_append(list, line.c_str());
  }
  return list;
}

Response Perform(CURL* curl, curl_slist* headers, std::chrono::milliseconds timeout) {
  Response r;
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, CollectBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
  const CURLcode rc = curl_easy_perform(curl);
  if (rc != CURLE_OK) {
    r.error = std::string(curl_easy_strerror(rc)) + ": " + errbuf;
    // Keep a status that did arrive (e.g. a timeout on a streaming body).
  }
  long code = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
  if (rc != CURLE_OK && code == 0) r.status = 0;
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  return r;
}

}  // namespace

std::optional<std::string> Response::Header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return std::nullopt;
}

nlohmann::json Response::Json() const {
  return nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
}

std::string UrlEncode(std::string_view s) {
  EnsureCurlInitialised();
  char* e = curl_easy_escape(nullptr, s.data(), static_cast<int>(s.size()));
  std::string out = e != nullptr ? e : "";
  curl_free(e);
  return out;
}

Response HttpClient::Request(const std::string& method, const std::string& path,
                             const Headers& headers, const std::string& body,
                             std::chrono::milliseconds timeout) const {
  EnsureCurlInitialised();
  CURL* curl = curl_easy_init();
  const std::string url = base_url_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  if (method == "GET") {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
  } else if (method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
    if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
      curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
      curl_easy_setopt(curl, CURLOPT_COPYPOSTFIELDS, body.c_str());
    }
  }
  curl_slist* list = BuildHeaderList(headers);
  const bool has_type = std::any_of(headers.begin(), headers.end(), [](const auto& h) {
    return EqualsIgnoreCase(h.first, "Content-Type");
  });
  // libcurl adds a form Content-Type to POSTFIELDS bodies; send none unless the test asks.
  if (!has_type) list = curl_slist_append(list, "Content-Type:");
  return Perform(curl, list, timeout);
}

Response HttpClient::PostMultipart(const std::string& path, const Headers& headers,
                                   const std::vector<Part>& parts) const {
  EnsureCurlInitialised();
  CURL* curl = curl_easy_init();
  const std::string url = base_url_ + path;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_mime* mime = curl_mime_init(curl);
  for (const Part& p : parts) {
    curl_mimepart* part = curl_mime_addpart(mime);
    curl_mime_name(part, p.name.c_str());
    curl_mime_data(part, p.value.data(), p.value.size());
    if (!p.filename.empty()) curl_mime_filename(part, p.filename.c_str());
    if (!p.content_type.empty()) curl_mime_type(part, p.content_type.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_MIMEPOST, mime);
  Response r = Perform(curl, BuildHeaderList(headers), std::chrono::seconds(15));
  curl_mime_free(mime);
  return r;
}

Response HttpClient::PostUrlencoded(const std::string& path, const Headers& headers,
                                    const Fields& fields) const {
  std::string body;
  for (const auto& [k, v] : fields) {
    if (!body.empty()) body += '&';
    body += UrlEncode(k) + "=" + UrlEncode(v);
  }
  Headers all = headers;
  all.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  return Request("POST", path, all, body);
}

// ---------------------------------------------------------------------------------------------

std::string SseEvent::type() const {
  if (json.is_object() && json.contains("type") && json["type"].is_string()) {
    return json["type"].get<std::string>();
  }
  return "";
}

long long SseEvent::Seq() const {
  if (!id) return -1;
  try {
    size_t used = 0;
    const long long v = std::stoll(*id, &used);
    return used == id->size() ? v : -1;
  } catch (const std::exception&) {
    return -1;
  }
}

SseStream::SseStream(const std::string& url, const Headers& headers) {
  EnsureCurlInitialised();
  CURL* curl = curl_easy_init();
  easy_ = curl;
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &SseStream::OnData);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &SseStream::OnHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, this);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_NOPROXY, "*");
  curl_slist* list = BuildHeaderList(headers);
  header_list_ = list;
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  CURLM* multi = curl_multi_init();
  multi_ = multi;
  curl_multi_add_handle(multi, curl);
  thread_ = std::thread([this] { Run(); });
}

SseStream::~SseStream() {
  Close();
  curl_multi_remove_handle(static_cast<CURLM*>(multi_), static_cast<CURL*>(easy_));
  curl_easy_cleanup(static_cast<CURL*>(easy_));
  curl_multi_cleanup(static_cast<CURLM*>(multi_));
  curl_slist_free_all(static_cast<curl_slist*>(header_list_));
}

void SseStream::Run() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  bool clean = false;
  std::string error;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stop_requested_) break;
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    if (running == 0) {
      int left = 0;
      while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
        if (msg->msg == CURLMSG_DONE) {
          clean = msg->data.result == CURLE_OK;
          if (!clean) error = curl_easy_strerror(msg->data.result);
        }
      }
      break;
    }
    curl_multi_poll(multi, nullptr, 0, 1000, nullptr);
  }
  long code = 0;
  curl_easy_getinfo(static_cast<CURL*>(easy_), CURLINFO_RESPONSE_CODE, &code);
  std::lock_guard lock(mu_);
  if (head_.status == 0) head_.status = code;
  headers_done_ = true;
  ended_ = true;
  clean_end_ = clean && !stop_requested_;
  curl_error_ = error;
  cv_.notify_all();
}

size_t SseStream::OnHeader(char* ptr, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<SseStream*>(self_ptr);
  std::string_view line(ptr, size * n);
  std::lock_guard lock(self->mu_);
  if (line == "\r\n" || line == "\n") {
    if (self->head_.status >= 200) {
      self->headers_done_ = true;
      self->cv_.notify_all();
    }
  } else {
    ParseHeaderLine(line, &self->head_);
  }
  return size * n;
}

size_t SseStream::OnData(char* ptr, size_t size, size_t n, void* self_ptr) {
  auto* self = static_cast<SseStream*>(self_ptr);
  std::lock_guard lock(self->mu_);
  self->raw_.append(ptr, size * n);
  self->pending_.append(ptr, size * n);
  self->ParseLocked();
  self->cv_.notify_all();
  return size * n;
}

void SseStream::ParseLocked() {
  while (true) {
    const size_t nl = pending_.find('\n');
    if (nl == std::string::npos) return;
    std::string line = pending_.substr(0, nl);
    pending_.erase(0, nl + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (building_has_data_ || building_.id) {
        building_.json = nlohmann::json::parse(building_.data, nullptr, false);
        if (building_.IsPing()) ++pings_;
        queue_.push_back(std::move(building_));
      }
      building_ = SseEvent{};
      building_has_data_ = false;
      continue;
    }
    if (line.front() == ':') continue;  // comment
    const size_t colon = line.find(':');
    std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (field == "data") {
      if (building_has_data_) building_.data += '\n';
      building_.data += value;
      building_has_data_ = true;
    } else if (field == "id") {
      building_.id = value;
    }
  }
}

std::optional<SseEvent> SseStream::Next(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || ended_; });
  if (queue_.empty()) return std::nullopt;
  SseEvent e = std::move(queue_.front());
  queue_.pop_front();
  return e;
}

std::optional<SseEvent> SseStream::NextNonPing(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    std::optional<SseEvent> e = Next(std::max(left, std::chrono::milliseconds(0)));
    if (!e || !e->IsPing()) return e;
  }
}

long SseStream::WaitStatus(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, timeout, [&] { return headers_done_ || ended_; });
  return head_.status;
}

bool SseStream::WaitEnded(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return ended_; });
}

bool SseStream::ended() const {
  std::lock_guard lock(mu_);
  return ended_;
}

bool SseStream::ClosedByServer() const {
  std::lock_guard lock(mu_);
  return ended_ && clean_end_;
}

std::string SseStream::curl_error() const {
  std::lock_guard lock(mu_);
  return curl_error_;
}

std::optional<std::string> SseStream::Header(std::string_view name) const {
  std::lock_guard lock(mu_);
  return head_.Header(name);
}

std::string SseStream::raw_body() const {
  std::lock_guard lock(mu_);
  return raw_;
}

int SseStream::pings_seen() const {
  std::lock_guard lock(mu_);
  return pings_;
}

void SseStream::Close() {
  {
    std::lock_guard lock(mu_);
    stop_requested_ = true;
  }
  if (multi_ != nullptr) curl_multi_wakeup(static_cast<CURLM*>(multi_));
  if (thread_.joinable()) thread_.join();
}

StreamResult ReadToEnd(SseStream& stream, std::chrono::milliseconds timeout) {
  StreamResult r;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    std::optional<SseEvent> e = stream.Next(left);
    if (!e) break;
    if (e->IsPing()) {
      ++r.pings;
    } else {
      r.events.push_back(std::move(*e));
    }
  }
  r.ended = stream.ended();
  r.closed_by_server = stream.ClosedByServer();
  r.status = stream.WaitStatus(std::chrono::milliseconds(0));
  return r;
}

}  // namespace agentd::testing
