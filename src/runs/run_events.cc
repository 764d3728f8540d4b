#include "runs/run_events.h"

#include "core/clock.h"

namespace agentd::runs {

nlohmann::json AckEvent(const std::string& run_id, const std::string& thread_id) {
  return {{"type", "ack"},
          {"message", "Working on your request..."},
          {"agent_run_id", run_id},
          {"thread_id", thread_id},
          {"timestamp", IsoTime(NowMillis())}};
}

nlohmann::json TerminalStatusEvent(store::RunStatus status, std::string_view message) {
  return {{"type", "status"}, {"status", store::RunStatusName(status)}, {"message", message}};
}

nlohmann::json ErrorEvent(std::string_view error, std::string_view error_code) {
  return {{"type", "error"},
          {"error", error},
          {"error_code", error_code},
          {"recoverable", false},
          {"actions", nlohmann::json::array()},
          {"timestamp", IsoTime(NowMillis())}};
}

bool IsTerminalEventData(std::string_view data) {
  if (data.find("\"status\"") == std::string_view::npos) return false;
  auto j = nlohmann::json::parse(data, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || j.value("type", "") != "status") return false;
  const std::string status = j.value("status", "");
  return status == "completed" || status == "failed" || status == "stopped";
}

}  // namespace agentd::runs
