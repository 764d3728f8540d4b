// The embedded default EventBus: channels in this process's memory.
#pragma once

#include <memory>

#include "bus/event_bus.h"

namespace agentd::bus::memory {

std::unique_ptr<EventBus> NewMemoryEventBus();

}  // namespace agentd::bus::memory
