// Fuzz target: the safetensors reader (header length, JSON header, offsets, dtypes, shapes) on arbitrary
// bytes. open() maps a path, so the bytes go through an in-memory file; every view it then hands out must lie
// inside the mapping (and is touched at both ends, which the address sanitizer would catch past it).
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "loader/safetensors_file.h"

namespace {

int memory_file() {
  static const int fd = memfd_create("fuzz.safetensors", 0);
  if (fd < 0) std::abort();
  return fd;
}

void write_all(int fd, const uint8_t* data, size_t size) {
  if (ftruncate(fd, 0) != 0) std::abort();
  size_t done = 0;
  while (done < size) {
    const ssize_t n = pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = memory_file();
  write_all(fd, data, size);
  auto file = autoglm::SafetensorsFile::open("/proc/self/fd/" + std::to_string(fd));
  if (!file) return 0;
  const auto bytes = file->bytes();
  for (const std::string& name : file->tensor_names()) {
    if (!file->info(name)) std::abort();  // every listed name has its info
    auto view = file->view(name);
    if (!view) continue;
    const auto* begin = static_cast<const uint8_t*>(view->data);
    const size_t n = view->nbytes();
    if (begin < bytes.data() || n > static_cast<size_t>(bytes.data() + bytes.size() - begin)) std::abort();
    if (n > 0) {
      volatile uint8_t ends = static_cast<uint8_t>(begin[0] ^ begin[n - 1]);
      (void)ends;
    }
  }
  return 0;
}
