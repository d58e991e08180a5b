#include "engine/request_stream.h"

namespace autoglm {
namespace {

class QueuedRequestStream final : public RequestStream {
 public:
  QueuedRequestStream(RequestId id, std::shared_ptr<EventQueue> queue) : id_(id), queue_(std::move(queue)) {}
  RequestId id() const override { return id_; }
  bool next(RequestEvent* event, std::chrono::milliseconds timeout, bool* timed_out) override {
    if (timed_out != nullptr) *timed_out = false;
    if (done_) return false;
    if (!queue_->pop(event, timeout)) {
      if (timed_out != nullptr) *timed_out = true;
      return false;
    }
    done_ = event->finished;
    return true;
  }

 private:
  RequestId id_;
  std::shared_ptr<EventQueue> queue_;
  bool done_ = false;
};

}  // namespace

std::unique_ptr<RequestStream> make_request_stream(RequestId id, std::shared_ptr<EventQueue> queue) {
  return std::make_unique<QueuedRequestStream>(id, std::move(queue));
}

}  // namespace autoglm
