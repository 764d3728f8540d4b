// Bridges callback-style completions (the Store's writer thread, run completion) into
// coroutines: the callback may fire on any thread; the coroutine resumes on its own executor.
#pragma once

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <functional>
#include <memory>
#include <utility>

namespace agentd::runs {

// `start` receives a std::function<void(T)> to call exactly once with the result.
template <typename T, typename Start>
boost::asio::awaitable<T> AwaitCallback(Start start) {
  auto initiation = [start = std::move(start)](auto handler) mutable {
    using Handler = decltype(handler);
    auto ex = boost::asio::get_associated_executor(handler);
    auto shared = std::make_shared<Handler>(std::move(handler));
    start(std::function<void(T)>([shared, ex](T value) {
      boost::asio::post(ex, [shared, v = std::move(value)]() mutable { (*shared)(std::move(v)); });
    }));
  };
  co_return co_await boost::asio::async_initiate<const boost::asio::use_awaitable_t<>&, void(T)>(
      std::move(initiation), boost::asio::use_awaitable);
}

}  // namespace agentd::runs
