// Drives the stand-in NVML library (fake_nvml.cpp) from a test that has loaded it through the GPU power
// reader (backend/gpu_power.h).
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

namespace autoglm::test {

// Every power reading from the n-th on fails (-1: none), counting from now.
inline void fake_nvml_fail_from(long n) {
  void* library = dlopen(AUTOGLM_FAKE_NVML, RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(library, nullptr) << "the stand-in NVML library is not loaded";
  auto set = reinterpret_cast<void (*)(long)>(dlsym(library, "fake_nvml_fail_from"));
  ASSERT_NE(set, nullptr);
  set(n);
  dlclose(library);
}

}  // namespace autoglm::test
