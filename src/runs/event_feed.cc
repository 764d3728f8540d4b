#include "runs/event_feed.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "runs/run_events.h"

namespace agentd::runs {

namespace asio = boost::asio;
using namespace boost::asio::experimental::awaitable_operators;

namespace {
constexpr int kStoreBatch = 512;
}

RunEventFeed::RunEventFeed(store::Store& store, bus::EventBus& bus, asio::any_io_executor executor,
                           std::string run_id, int64_t after_seq, size_t max_queue_bytes,
                           std::chrono::milliseconds store_poll)
    : store_(store),
      bus_(bus),
      run_id_(std::move(run_id)),
      max_queue_bytes_(max_queue_bytes),
      store_poll_(store_poll),
      doorbell_(executor, 1),
      last_seq_(after_seq) {}

void RunEventFeed::OnEvent(const bus::EventPtr& event) {
  {
    std::lock_guard lock(mu_);
    if (overflowed_) return;
    if (queued_bytes_ + event->data.size() > max_queue_bytes_) {
      // Too far behind: forget the queue; the reader resumes from the store.
      queue_.clear();
      queued_bytes_ = 0;
      overflowed_ = true;
    } else {
      queued_bytes_ += event->data.size();
      queue_.push_back(event);
    }
  }
  doorbell_.try_send(boost::system::error_code{});
}

void RunEventFeed::Close() {
  if (subscribed_) {
    bus_.Unsubscribe(run_id_, this);
    subscribed_ = false;
  }
}

void RunEventFeed::Deliver(const std::vector<bus::EventPtr>& batch) {
  if (batch.empty()) return;
  last_seq_ = batch.back()->seq;
  if (batch.back()->terminal) {
    done_ = true;
    Close();
  }
}

Result<std::vector<bus::EventPtr>> RunEventFeed::ReadStore() {
  AGENTD_ASSIGN_OR_RETURN(auto events, store_.ReadEvents(run_id_, last_seq_, kStoreBatch));
  std::vector<bus::EventPtr> out;
  out.reserve(events.size());
  for (auto& e : events) {
    auto ev = std::make_shared<bus::Event>();
    ev->run_id = run_id_;
    ev->seq = e.seq;
    ev->terminal = IsTerminalEventData(e.data);
    ev->data = std::move(e.data);
    out.push_back(std::move(ev));
  }
  return out;
}

std::vector<bus::EventPtr> RunEventFeed::TakeLive() {
  std::vector<bus::EventPtr> out;
  std::lock_guard lock(mu_);
  if (overflowed_) {
    overflowed_ = false;
    catching_up_ = true;
    return out;
  }
  int64_t expect = last_seq_ + 1;
  while (!queue_.empty()) {
    bus::EventPtr ev = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= ev->data.size();
    if (ev->seq < expect) continue;  // already read from the store
    if (ev->seq > expect) {          // a gap: only the store can fill it
      catching_up_ = true;
      break;
    }
    out.push_back(std::move(ev));
    ++expect;
  }
  return out;
}

asio::awaitable<Result<std::vector<bus::EventPtr>>> RunEventFeed::Next(
    std::chrono::milliseconds idle) {
  auto executor = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + idle;
  while (!done_) {
    if (catching_up_) {
      if (!subscribed_) subscribed_ = bus_.Subscribe(run_id_, shared_from_this());
      auto batch = ReadStore();
      if (!batch.ok()) co_return batch.status();
      if (!batch->empty()) {
        Deliver(*batch);
        co_return batch;
      }
      catching_up_ = false;
    }
    auto live = TakeLive();
    if (!live.empty()) {
      Deliver(live);
      co_return live;
    }
    if (catching_up_) continue;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) co_return std::vector<bus::EventPtr>{};
    asio::steady_timer timer(executor);
    if (subscribed_) {
      timer.expires_at(deadline);
      co_await (doorbell_.async_receive(asio::as_tuple(asio::use_awaitable)) ||
                timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    } else {
      // No live channel here (run finished meanwhile or runs elsewhere): poll the store.
      timer.expires_after(
          std::min<std::chrono::steady_clock::duration>(store_poll_, deadline - now));
      co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      catching_up_ = true;
    }
  }
  co_return std::vector<bus::EventPtr>{};
}

}  // namespace agentd::runs
