// The composition root of `agentd serve`: builds every component from the Config (the only
// place that picks implementations), runs the server until SIGINT/SIGTERM, and tears it down
// in reverse order.
#pragma once

#include "app/config.h"

namespace agentd::app {

// Returns the process exit code.
int Serve(Config config);

}  // namespace agentd::app
