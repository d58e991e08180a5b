// Dispatch of ops to kernels: one table per op (keyed by its Args type), entries keyed by
// (device kind, dtype). Kernels self-register with a static KernelRegistrar in their own file, so adding a
// kernel is one file per backend plus nothing else; the op harness enumerates registered entries.
//
// The dtype key is the one that selects the code path: the weight dtype for matmul and embedding, the
// activation dtype for everything else. Kernels cannot fail: the op function checks shapes, dtypes and
// devices before dispatch.
#pragma once

#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "backend/backend.h"
#include "tensor/tensor.h"

namespace autoglm {

template <typename Args>
class KernelTable {
 public:
  using Fn = void (*)(Backend&, const Args&);
  using Key = std::pair<DeviceKind, DType>;

  static KernelTable& instance() {
    static KernelTable table;
    return table;
  }

  void add(DeviceKind device, DType dtype, Fn fn) {
    std::lock_guard<std::mutex> lock(mutex_);
    entries_[{device, dtype}] = fn;
  }

  Fn find(DeviceKind device, DType dtype) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find({device, dtype});
    return it == entries_.end() ? nullptr : it->second;
  }

  std::vector<Key> keys() const {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<Key> out;
    for (const auto& [key, fn] : entries_)
      out.push_back(key);
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::map<Key, Fn> entries_;
};

template <typename Args>
struct KernelRegistrar {
  KernelRegistrar(DeviceKind device, DType dtype, void (*fn)(Backend&, const Args&)) {
    KernelTable<Args>::instance().add(device, dtype, fn);
  }
};

// Finds the kernel or explains which one is missing.
template <typename Args>
Expected<typename KernelTable<Args>::Fn> find_kernel(const char* op, const Backend& backend, DType dtype) {
  auto fn = KernelTable<Args>::instance().find(backend.device().kind, dtype);
  if (fn == nullptr) {
    return unsupported(std::string(op) + ": no kernel for " + std::string(dtype_name(dtype)) + " on " +
                       backend.name());
  }
  return fn;
}

}  // namespace autoglm
