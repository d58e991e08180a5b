// Test helper for the async engine: submit requests together and collect each one's tokens. Header-only, so
// only the test binaries that include it link the engine.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "autoglm/async_engine.h"

namespace autoglm::test {

// Every request submitted at once (so they batch), then each stream read to its end; an error event fails
// the test.
inline std::vector<std::vector<int32_t>> run_all(AsyncEngine& engine, const std::vector<Request>& requests) {
  std::vector<std::unique_ptr<RequestStream>> streams(requests.size());
  for (size_t i = 0; i < requests.size(); ++i)
    EXPECT_TRUE(engine.submit(requests[i], &streams[i]).is_ok());
  std::vector<std::vector<int32_t>> out;
  for (auto& stream : streams) {
    std::vector<int32_t> tokens;
    RequestEvent e;
    while (stream && stream->next(&e)) {
      EXPECT_TRUE(e.error.is_ok()) << e.error.to_string();
      tokens.insert(tokens.end(), e.tokens.begin(), e.tokens.end());
    }
    out.push_back(std::move(tokens));
  }
  return out;
}

}  // namespace autoglm::test
