// Fuzz target: the OpenAI request parser (both endpoints) on arbitrary bodies. Any input must give a request
// or an error value; errors must serialize to JSON.
#include <cstdint>
#include <string_view>

#include "api/completion_request.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  for (auto endpoint : {autoglm::server::Endpoint::kCompletions, autoglm::server::Endpoint::kChat}) {
    auto parsed = autoglm::server::parse_completion_request(body, endpoint);
    if (auto* error = std::get_if<autoglm::server::ApiError>(&parsed)) (void)error->body();
  }
  return 0;
}
