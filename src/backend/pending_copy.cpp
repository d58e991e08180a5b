// Backend::copy_to_host_async for backends whose copies complete at once (the CPU).
#include <memory>

#include "backend/backend.h"

namespace autoglm {
namespace {

class CompletedCopy final : public PendingCopy {
 public:
  explicit CompletedCopy(Status status) : status_(std::move(status)) {}
  Status wait() override { return status_; }

 private:
  Status status_;
};

}  // namespace

Expected<std::unique_ptr<PendingCopy>> Backend::copy_to_host_async(TensorView dst, TensorView src) {
  if (dst.device.kind != DeviceKind::kCpu)
    return invalid_argument("copy_to_host_async: the destination " + dst.describe() + " is not host memory");
  Status copied = copy(dst, src);
  if (!copied.is_ok()) return copied;
  return std::unique_ptr<PendingCopy>(std::make_unique<CompletedCopy>(Status::ok()));
}

}  // namespace autoglm
