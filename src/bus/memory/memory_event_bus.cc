#include "bus/memory/memory_event_bus.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace agentd::bus::memory {
namespace {

// Channels are spread over shards so publishers of different runs rarely share a lock.
constexpr size_t kShards = 16;

class MemoryEventBus final : public EventBus {
 public:
  void OpenRun(const std::string& run_id) override {
    Shard& s = ShardFor(run_id);
    std::lock_guard lock(s.mu);
    s.channels.try_emplace(run_id);
  }

  void CloseRun(const std::string& run_id) override {
    Shard& s = ShardFor(run_id);
    std::lock_guard lock(s.mu);
    s.channels.erase(run_id);
  }

  void Publish(const EventPtr& event) override {
    Shard& s = ShardFor(event->run_id);
    std::lock_guard lock(s.mu);
    auto it = s.channels.find(event->run_id);
    if (it == s.channels.end()) return;
    for (auto& sub : it->second) sub->OnEvent(event);
    if (event->terminal) s.channels.erase(it);
  }

  bool Subscribe(const std::string& run_id, std::shared_ptr<Subscriber> subscriber) override {
    Shard& s = ShardFor(run_id);
    std::lock_guard lock(s.mu);
    auto it = s.channels.find(run_id);
    if (it == s.channels.end()) return false;
    it->second.push_back(std::move(subscriber));
    return true;
  }

  void Unsubscribe(const std::string& run_id, const Subscriber* subscriber) override {
    Shard& s = ShardFor(run_id);
    std::lock_guard lock(s.mu);
    auto it = s.channels.find(run_id);
    if (it == s.channels.end()) return;
    auto& subs = it->second;
    subs.erase(std::remove_if(subs.begin(), subs.end(),
                              [&](const auto& p) { return p.get() == subscriber; }),
               subs.end());
  }

 private:
  struct Shard {
    std::mutex mu;
    std::unordered_map<std::string, std::vector<std::shared_ptr<Subscriber>>> channels;
  };

  Shard& ShardFor(const std::string& run_id) {
    return shards_[std::hash<std::string>{}(run_id) % kShards];
  }

  std::array<Shard, kShards> shards_;
};

}  // namespace

std::unique_ptr<EventBus> NewMemoryEventBus() { return std::make_unique<MemoryEventBus>(); }

}  // namespace agentd::bus::memory
