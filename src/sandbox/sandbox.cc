#include "sandbox/sandbox.h"

namespace agentd::sandbox {

Status ValidateProjectId(std::string_view project_id) {
  if (project_id.empty() || project_id.size() > 64) {
    return InvalidArgument("Invalid project id");
  }
  for (char c : project_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return InvalidArgument("Invalid project id");
  }
  return Status::Ok();
}

}  // namespace agentd::sandbox
