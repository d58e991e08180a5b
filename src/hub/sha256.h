// Streaming SHA-256 (OpenSSL), the checksum the hub publishes for every LFS file.
#pragma once

#include <cstddef>
#include <string>

#include "core/status.h"

struct evp_md_ctx_st;

namespace autoglm::hub {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void reset();
  void update(const void* data, size_t size);
  // Lower-case hex of the digest of everything since the last reset; the state is reset afterwards.
  std::string hex_digest();

 private:
  evp_md_ctx_st* ctx_;
};

// Hex SHA-256 of a file's content.
Expected<std::string> sha256_file(const std::string& path);

}  // namespace autoglm::hub
