// The JSON of the events the run lifecycle itself emits (the agent loop emits the rest).
// One builder per event so every producer writes the same shape (API.md section 6).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "store/store.h"

namespace agentd::runs {

nlohmann::json AckEvent(const std::string& run_id, const std::string& thread_id);
// {"type":"status","status":<terminal>,"message":...}
nlohmann::json TerminalStatusEvent(store::RunStatus status, std::string_view message);
// {"type":"error","error","error_code","recoverable":false,"actions":[],"timestamp"}
nlohmann::json ErrorEvent(std::string_view error, std::string_view error_code);

// True when the event text is a terminal status event. Cheap for non-status events.
bool IsTerminalEventData(std::string_view data);

}  // namespace agentd::runs
