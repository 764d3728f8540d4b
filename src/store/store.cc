#include "store/store.h"

namespace agentd::store {

const char* RunStatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kRunning:
      return "running";
    case RunStatus::kCompleted:
      return "completed";
    case RunStatus::kFailed:
      return "failed";
    case RunStatus::kStopped:
      return "stopped";
  }
  return "failed";
}

std::optional<RunStatus> ParseRunStatus(std::string_view s) {
  if (s == "running") return RunStatus::kRunning;
  if (s == "completed") return RunStatus::kCompleted;
  if (s == "failed") return RunStatus::kFailed;
  if (s == "stopped") return RunStatus::kStopped;
  return std::nullopt;
}

}  // namespace agentd::store
