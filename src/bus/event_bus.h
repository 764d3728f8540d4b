// EventBus: live fan-out of a run's events to its subscribers (SSE connections).
// Events are published only after they are committed to the Store, in seq order per run, so
// anything a subscriber sees can also be read back from the store; a subscriber that missed
// something (joined late, fell behind) catches up from the store (see runs/event_feed.h).
// Implementations: bus/memory (embedded default), later bus/redis (scale-out).
// Thread safety: all methods may be called from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace agentd::bus {

struct Event {
  std::string run_id;
  int64_t seq = 0;
  bool terminal = false;  // the run's final status event; closes the run's channel
  std::string data;       // JSON object text, as sent to clients
};
using EventPtr = std::shared_ptr<const Event>;

// Receives live events. OnEvent is called with the channel's lock held, from the publishing
// thread: it must be quick and must not call back into the bus.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual void OnEvent(const EventPtr& event) = 0;
};

class EventBus {
 public:
  virtual ~EventBus() = default;
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // Opens the run's channel; called before the run becomes visible to clients.
  virtual void OpenRun(const std::string& run_id) = 0;
  // Drops the run's channel without a terminal event (the run was never created).
  virtual void CloseRun(const std::string& run_id) = 0;
  // Delivers to every current subscriber. A terminal event closes the channel after delivery.
  virtual void Publish(const EventPtr& event) = 0;
  // Adds a subscriber to an open channel. False when the run has no open channel here
  // (finished, never opened, or owned elsewhere): the caller reads the store instead.
  virtual bool Subscribe(const std::string& run_id, std::shared_ptr<Subscriber> subscriber) = 0;
  virtual void Unsubscribe(const std::string& run_id, const Subscriber* subscriber) = 0;

 protected:
  EventBus() = default;
};

}  // namespace agentd::bus
