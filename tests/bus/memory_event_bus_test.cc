#include "bus/memory/memory_event_bus.h"

#include <gtest/gtest.h>

#include <vector>

namespace agentd::bus {
namespace {

class Recorder final : public Subscriber {
 public:
  void OnEvent(const EventPtr& event) override { seqs.push_back(event->seq); }
  std::vector<int64_t> seqs;
};

EventPtr MakeEvent(const std::string& run, int64_t seq, bool terminal = false) {
  return std::make_shared<const Event>(Event{run, seq, terminal, "{}"});
}

TEST(MemoryEventBus, SubscribeToUnopenedRunIsRefused) {
  auto bus = memory::NewMemoryEventBus();
  EXPECT_FALSE(bus->Subscribe("r1", std::make_shared<Recorder>()));
}

TEST(MemoryEventBus, EverySubscriberGetsEventsInPublishOrder) {
  auto bus = memory::NewMemoryEventBus();
  bus->OpenRun("r1");
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  ASSERT_TRUE(bus->Subscribe("r1", a));
  ASSERT_TRUE(bus->Subscribe("r1", b));
  for (int64_t s = 1; s <= 3; ++s) bus->Publish(MakeEvent("r1", s));
  EXPECT_EQ(a->seqs, (std::vector<int64_t>{1, 2, 3}));
  EXPECT_EQ(b->seqs, a->seqs);
}

TEST(MemoryEventBus, TerminalEventClosesTheChannelAfterDelivery) {
  auto bus = memory::NewMemoryEventBus();
  bus->OpenRun("r1");
  auto a = std::make_shared<Recorder>();
  ASSERT_TRUE(bus->Subscribe("r1", a));
  bus->Publish(MakeEvent("r1", 1, /*terminal=*/true));
  EXPECT_EQ(a->seqs, (std::vector<int64_t>{1}));
  EXPECT_FALSE(bus->Subscribe("r1", std::make_shared<Recorder>()));
}

TEST(MemoryEventBus, UnsubscribedAndOtherRunsSubscribersGetNothing) {
  auto bus = memory::NewMemoryEventBus();
  bus->OpenRun("r1");
  bus->OpenRun("r2");
  auto gone = std::make_shared<Recorder>();
  auto other = std::make_shared<Recorder>();
  ASSERT_TRUE(bus->Subscribe("r1", gone));
  ASSERT_TRUE(bus->Subscribe("r2", other));
  bus->Unsubscribe("r1", gone.get());
  bus->Publish(MakeEvent("r1", 1));
  EXPECT_TRUE(gone->seqs.empty());
  EXPECT_TRUE(other->seqs.empty());
}

TEST(MemoryEventBus, CloseRunDropsTheChannel) {
  auto bus = memory::NewMemoryEventBus();
  bus->OpenRun("r1");
  bus->CloseRun("r1");
  EXPECT_FALSE(bus->Subscribe("r1", std::make_shared<Recorder>()));
}

}  // namespace
}  // namespace agentd::bus
