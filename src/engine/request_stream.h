// The blocking side of AsyncEngine::submit: a thread-safe queue of one request's events, filled on the engine
// thread by the request's callback and drained by the caller through RequestStream::next.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "autoglm/async_engine.h"

namespace autoglm {

class EventQueue {
 public:
  void push(const RequestEvent& event) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      events_.push_back(event);
    }
    ready_.notify_one();
  }
  // false on timeout.
  bool pop(RequestEvent* event, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto has_event = [&] { return !events_.empty(); };
    if (timeout == std::chrono::milliseconds::max()) {
      ready_.wait(lock, has_event);
    } else if (!ready_.wait_for(lock, timeout, has_event)) {
      return false;
    }
    *event = std::move(events_.front());
    events_.pop_front();
    return true;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<RequestEvent> events_;
};

std::unique_ptr<RequestStream> make_request_stream(RequestId id, std::shared_ptr<EventQueue> queue);

}  // namespace autoglm
