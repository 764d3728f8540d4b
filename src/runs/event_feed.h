// RunEventFeed: one reader's view of a run's events, in seq order, with no gaps and no
// duplicates, from any starting point. It subscribes to the live bus first, then reads the
// store for everything after the reader's position, then continues with the live events
// (skipping what the store already gave). A reader that falls behind by more than the queue
// bound is switched back to reading the store, so memory stays bounded and nothing is dropped.
// Owned through shared_ptr (the bus holds it while subscribed); call Close() when done.
// Next() must not be called concurrently with itself.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bus/event_bus.h"
#include "core/status.h"
#include "store/store.h"

namespace agentd::runs {

class RunEventFeed final : public bus::Subscriber,
                           public std::enable_shared_from_this<RunEventFeed> {
 public:
  // REQUIRES: store and bus outlive the feed.
  RunEventFeed(store::Store& store, bus::EventBus& bus, boost::asio::any_io_executor executor,
               std::string run_id, int64_t after_seq, size_t max_queue_bytes,
               std::chrono::milliseconds store_poll);

  void OnEvent(const bus::EventPtr& event) override;

  // The next events after the last ones returned. Returns an empty batch when `idle` passed
  // with nothing new (the caller sends a heartbeat). After the terminal event, done() is true.
  boost::asio::awaitable<Result<std::vector<bus::EventPtr>>> Next(std::chrono::milliseconds idle);

  bool done() const { return done_; }
  void Close();

 private:
  using Doorbell = boost::asio::experimental::concurrent_channel<void(boost::system::error_code)>;

  Result<std::vector<bus::EventPtr>> ReadStore();
  std::vector<bus::EventPtr> TakeLive();
  void Deliver(const std::vector<bus::EventPtr>& batch);

  store::Store& store_;
  bus::EventBus& bus_;
  const std::string run_id_;
  const size_t max_queue_bytes_;
  const std::chrono::milliseconds store_poll_;
  Doorbell doorbell_;

  // Touched only by the reader (Next / Close).
  int64_t last_seq_;
  bool done_ = false;
  bool subscribed_ = false;
  bool catching_up_ = true;

  std::mutex mu_;
  std::deque<bus::EventPtr> queue_;  // GUARDED_BY(mu_)
  size_t queued_bytes_ = 0;          // GUARDED_BY(mu_)
  bool overflowed_ = false;          // GUARDED_BY(mu_)
};

}  // namespace agentd::runs
