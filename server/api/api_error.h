// Errors as the OpenAI API reports them: an HTTP status and the body
// {"error": {"message", "type", "param", "code"}}. Every failure the server answers with goes through here,
// so the status codes are decided in one place.
#pragma once

#include <optional>
#include <string>

#include "autoglm/status.h"

namespace autoglm::server {

struct ApiError {
  int http_status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending request field ("" when none)
  std::string code;   // machine-readable code ("" when none)
  // Seconds for the Retry-After header (429 / 503).
  std::optional<int> retry_after_s;

  std::string body() const;  // the JSON body
};

ApiError invalid_request(std::string message, std::string param = "", std::string code = "");
ApiError unauthorized();
ApiError not_found(std::string message);
ApiError method_not_allowed(std::string method, std::string path);
ApiError payload_too_large(size_t limit_bytes);
ApiError queue_full(int retry_after_s);
ApiError unavailable(std::string message, int retry_after_s);
ApiError internal_error(std::string message);

// An engine Status as the client sees it: invalid arguments are the client's (400), exhausted capacity is
// 503, everything else a 500.
ApiError from_status(const Status& status);

}  // namespace autoglm::server
