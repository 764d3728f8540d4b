#include "http/handlers/run_handlers.h"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>

#include "files/upload.h"
#include "http/error_mapping.h"
#include "http/handlers/request_auth.h"

namespace agentd::http {
namespace {

namespace asio = boost::asio;

constexpr char kPingFrame[] = "data: {\"type\":\"ping\"}\n\n";

HttpResponse JsonOrError(const Result<nlohmann::json>& result) {
  if (!result.ok()) return ErrorResponse(result.status());
  return HttpResponse::Json(200, *result);
}

std::optional<std::string> Field(const FormFields& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return v;
  }
  return std::nullopt;
}

api::StartRunForm ToStartForm(const FormFields& form) {
  api::StartRunForm f;
  f.prompt = Field(form, "prompt");
  f.thread_id = Field(form, "thread_id");
  f.project_id = Field(form, "project_id");
  f.agent_id = Field(form, "agent_id");
  f.model_name = Field(form, "model_name");
  f.optimistic = Field(form, "optimistic");
  f.memory_enabled = Field(form, "memory_enabled");
  f.mode = Field(form, "mode");
  return f;
}

// The fields of a streamed multipart start, kept in memory (bounded by FormLimits), and its
// file parts, spooled to disk within the caller's upload limits. Past a limit it records the
// refusal, deletes every spooled file and drops the file data still coming, but keeps
// collecting fields.
class StartFormCollector final : public MultipartHandler {
 public:
  StartFormCollector(const FormLimits& limits, api::UploadLimits uploads,
                     std::filesystem::path spool_dir)
      : limits_(limits), uploads_(uploads), spool_dir_(std::move(spool_dir)) {}

  Status OnPartBegin(const PartHeaders& h) override {
    in_file_ = h.is_file;
    writer_.reset();
    if (!in_file_) {
      fields_.emplace_back(h.name, std::string());
      return Status::Ok();
    }
    filename_ = h.filename;
    sent_type_ = h.content_type;
    // Browsers send an empty part with filename="" for an empty file input: opened only when
    // data arrives.
    return h.filename.empty() ? Status::Ok() : OpenFile();
  }

  Status OnPartData(std::string_view bytes) override {
    if (!in_file_) {
      auto& [name, value] = fields_.back();
      field_bytes_ += bytes.size();
      if (value.size() + bytes.size() > limits_.max_field_bytes ||
          field_bytes_ > kMaxFieldBytesTotal) {
        return InvalidArgument("Form fields exceed their size limit");
      }
      value.append(bytes);
      return Status::Ok();
    }
    if (!refusal_.ok()) return Status::Ok();
    if (writer_ == nullptr) {
      AGENTD_RETURN_IF_ERROR(OpenFile());
      if (!refusal_.ok()) return Status::Ok();
    }
    Status appended = writer_->Append(bytes);
    if (appended.reason() == "FILE_TOO_LARGE") {
      Refuse(std::move(appended));
      return Status::Ok();
    }
    return appended;
  }

  Status OnPartEnd() override {
    if (!in_file_ || !refusal_.ok() || writer_ == nullptr) return Status::Ok();
    AGENTD_ASSIGN_OR_RETURN(files::SpooledFile file, writer_->Finish());
    writer_.reset();
    files_.push_back(std::move(file));
    return Status::Ok();
  }

  const Status& refusal() const { return refusal_; }
  FormFields TakeFields() { return std::move(fields_); }
  std::vector<files::SpooledFile> TakeFiles() { return std::move(files_); }

 private:
  static constexpr size_t kMaxFieldBytesTotal = 4u << 20;

  Status OpenFile() {
    if (!refusal_.ok()) return Status::Ok();
    if (uploads_.max_files != files::kNoLimit &&
        static_cast<int64_t>(files_.size()) >= uploads_.max_files) {
      Refuse(files::TooManyFiles(uploads_.max_files));
      return Status::Ok();
    }
    AGENTD_ASSIGN_OR_RETURN(writer_, files::SpoolWriter::Open(spool_dir_, filename_, sent_type_,
                                                              uploads_.max_file_bytes));
    return Status::Ok();
  }

  void Refuse(Status status) {
    refusal_ = std::move(status);
    writer_.reset();
    files_.clear();
  }

  const FormLimits limits_;
  const api::UploadLimits uploads_;
  const std::filesystem::path spool_dir_;
  FormFields fields_;
  size_t field_bytes_ = 0;
  std::vector<files::SpooledFile> files_;
  std::unique_ptr<files::SpoolWriter> writer_;
  bool in_file_ = false;
  std::string filename_;
  std::string sent_type_;
  Status refusal_;
};

void AppendFrame(std::string& out, const bus::Event& e) {
  out += "id: ";
  out += std::to_string(e.seq);
  out += "\ndata: ";
  out += e.data;
  out += "\n\n";
}

// Using a capture-less wrapper keeps each handler a plain coroutine taking its dependencies.
struct Deps {
  api::RunApi& api;
  const auth::TokenVerifier& verifier;
  RunHandlerOptions options;
};

// A start's form as read from its body.
struct ReadForm {
  api::StartRunForm form;
  bool cut_short = false;  // refused, and the rest of the body was past the drain bound
};

// Reads a non-multipart body whole (bounded) and parses it as before streaming existed.
asio::awaitable<Result<ReadForm>> ReadWholeForm(const Deps& d, HttpRequest& req) {
  std::string body;
  for (;;) {
    auto piece = co_await req.body_reader->Read();
    if (!piece.ok()) co_return piece.status();
    if (piece->empty()) break;
    if (body.size() + piece->size() > d.options.max_body_bytes) {
      co_return Status(StatusCode::kInvalidArgument, "Request body too large", "REQUEST_TOO_LARGE");
    }
    body.append(*piece);
  }
  auto form = ParseForm(req.Header("content-type"), body, d.options.form_limits);
  if (!form.ok()) co_return form.status();
  co_return ReadForm{ToStartForm(form->fields), false};
}

// Streams a multipart body: fields to memory, files to spool files within the caller's limits.
asio::awaitable<Result<ReadForm>> ReadMultipartForm(const Deps& d, const auth::Principal& caller,
                                                    HttpRequest& req) {
  auto limits = d.api.UploadLimitsFor(caller);
  if (!limits.ok()) co_return limits.status();
  StartFormCollector collector(d.options.form_limits, *limits, d.options.spool_dir);
  std::unique_ptr<MultipartParser> parser;
  uint64_t refused_at = 0;
  bool cut_short = false;
  for (;;) {
    auto piece = co_await req.body_reader->Read();
    if (!piece.ok()) co_return piece.status();
    if (piece->empty()) break;
    if (parser == nullptr) {
      auto boundary = MultipartParser::BoundaryFromContentType(req.Header("content-type"));
      if (!boundary.ok()) co_return boundary.status();
      parser =
          std::make_unique<MultipartParser>(std::move(*boundary), collector, d.options.form_limits);
    }
    if (Status fed = parser->Feed(*piece); !fed.ok()) co_return fed;
    if (!collector.refusal().ok()) {
      if (refused_at == 0) refused_at = req.body_reader->bytes_read();
      if (req.body_reader->bytes_read() - refused_at > d.options.upload_drain_bytes) {
        cut_short = true;
        break;
      }
    }
  }
  if (!cut_short && parser != nullptr) {
    if (Status finished = parser->Finish(); !finished.ok()) co_return finished;
  }
  ReadForm out{ToStartForm(collector.TakeFields()), cut_short};
  out.form.file_refusal = collector.refusal();
  out.form.files = collector.TakeFiles();
  co_return out;
}

// GCC 12 reports a false -Wmismatched-new-delete on this coroutine's frame (Asio's awaitable
// frame has a matching operator new/delete pair; the warning depends on frame layout).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
asio::awaitable<HttpResponse> StartRun(const Deps& d, HttpRequest& req) {
  const auto begin = std::chrono::steady_clock::now();
  auto caller = AuthenticateRequest(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  const double auth_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - begin).count();
  const bool multipart = MediaTypeEssence(req.Header("content-type")) == "multipart/form-data";
  Result<ReadForm> read = Internal("unread");
  if (multipart) {
    read = co_await ReadMultipartForm(d, *caller, req);
  } else {
    read = co_await ReadWholeForm(d, req);
  }
  if (!read.ok()) {
    if (read.status().reason() == "REQUEST_TOO_LARGE") {
      co_return HttpResponse::Json(413, {{"detail", "Request body too large"}});
    }
    co_return ErrorResponse(read.status());
  }
  if (read->cut_short) {
    // The rest of the body was not read: fields after the refused file are unknown, so the
    // refusal is all that can be answered.
    HttpResponse resp = ErrorResponse(read->form.file_refusal);
    resp.close = true;
    co_return resp;
  }
  api::StartRunForm form = std::move(read->form);
  const std::string_view timing = req.Header("x-emit-timing");
  form.emit_timing = timing == "true" || timing == "True" || timing == "1";
  form.auth_ms = auth_ms;
  auto started = co_await d.api.StartRun(*caller, std::move(form));
  if (!started.ok()) co_return ErrorResponse(started.status());
  HttpResponse resp = HttpResponse::Json(200, *started);
  resp.headers.emplace_back(
      "Content-Location",
      "/agent-run/" + started->at("agent_run_id").get<std::string>() + "/stream");
  co_return resp;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

asio::awaitable<HttpResponse> StopRun(const Deps& d, HttpRequest& req) {
  auto caller = AuthenticateRequest(req, d.verifier, false);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  co_return JsonOrError(co_await d.api.StopRun(*caller, req.params["id"]));
}

asio::awaitable<HttpResponse> StreamRun(const Deps& d, HttpRequest& req) {
  auto caller = AuthenticateRequest(req, d.verifier, true);
  if (!caller.ok()) co_return ErrorResponse(caller.status());
  std::string last_id(req.Header("last-event-id"));
  if (last_id.empty()) last_id = req.Query("last_id").value_or("");
  auto executor = co_await asio::this_coro::executor;
  auto feed = d.api.OpenStream(*caller, req.params["id"], last_id, executor);
  if (!feed.ok()) co_return ErrorResponse(feed.status());
  if (*feed == nullptr) co_return HttpResponse::Empty(204);

  HttpResponse resp;
  resp.headers = {{"Content-Type", "text/event-stream"},
                  {"Cache-Control", "no-cache, no-transform"},
                  {"X-Accel-Buffering", "no"}};
  resp.stream = [feed = *feed,
                 heartbeat = d.options.heartbeat](ChunkWriter& out) -> asio::awaitable<void> {
    std::string frames;
    while (!feed->done()) {
      auto batch = co_await feed->Next(heartbeat);
      if (!batch.ok()) {
        // The store failed under us: end the stream; the client resumes from its last id.
        break;
      }
      frames.clear();
      if (batch->empty()) {
        frames = kPingFrame;
      } else {
        for (const auto& e : *batch) AppendFrame(frames, *e);
      }
      if (!co_await out.Write(frames)) break;
    }
    feed->Close();
  };
  co_return resp;
}

}  // namespace

void AddRunRoutes(Router& router, api::RunApi& api, const auth::TokenVerifier& verifier,
                  RunHandlerOptions options) {
  auto deps = std::make_shared<Deps>(Deps{api, verifier, options});
  auto authed = [deps](auto fn) -> Handler {
    return [deps, fn](HttpRequest& req) { return fn(*deps, req); };
  };
  auto get_json = [deps](auto call) -> Handler {
    return [deps, call](HttpRequest& req) -> asio::awaitable<HttpResponse> {
      auto caller = AuthenticateRequest(req, deps->verifier, false);
      if (!caller.ok()) co_return ErrorResponse(caller.status());
      co_return JsonOrError(call(deps->api, *caller, req));
    };
  };

  router.Add("GET", "/health", [](HttpRequest&) -> asio::awaitable<HttpResponse> {
    co_return HttpResponse::Json(200, {{"status", "ok"}});
  });
  router.Add("POST", "/agent/start", authed(StartRun), Router::BodyMode::kStream);
  router.Add("GET", "/agent-run/{id}/stream", authed(StreamRun));
  router.Add("POST", "/agent-run/{id}/stop", authed(StopRun));
  router.Add("POST", "/agent-runs/{id}/stop", authed(StopRun));
  router.Add("GET", "/agent-run/{id}",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.GetRun(p, r.params["id"]);
             }));
  router.Add("GET", "/agent-runs/{id}/status",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.GetRunStatus(p, r.params["id"]);
             }));
  router.Add("GET", "/limits", get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest&) {
               return a.GetLimits(p);
             }));
  router.Add("GET", "/agent-runs/active",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest&) {
               return a.ListActiveRuns(p);
             }));
  router.Add("GET", "/thread/{thread_id}/agent-runs",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.ListThreadRuns(p, r.params["thread_id"], r.Query("limit"),
                                       r.Query("before"));
             }));
  router.Add("GET", "/threads/{thread_id}/messages",
             get_json([](api::RunApi& a, const auth::Principal& p, HttpRequest& r) {
               return a.ListMessages(p, r.params["thread_id"]);
             }));
}

}  // namespace agentd::http
