#include "api/api_error.h"

#include <nlohmann/json.hpp>

namespace autoglm::server {

std::string ApiError::body() const {
  nlohmann::json error = {{"message", message},
                          {"type", type},
                          {"param", param.empty() ? nlohmann::json(nullptr) : nlohmann::json(param)},
                          {"code", code.empty() ? nlohmann::json(nullptr) : nlohmann::json(code)}};
  // Messages may quote client input: invalid UTF-8 is replaced rather than failing the error itself.
  return nlohmann::json{{"error", error}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ApiError invalid_request(std::string message, std::string param, std::string code) {
  return ApiError{400, std::move(message), "invalid_request_error", std::move(param), std::move(code), {}};
}

ApiError unauthorized() {
  return ApiError{401,
                  "Incorrect or missing API key: pass it as 'Authorization: Bearer KEY'.",
                  "authentication_error",
                  "",
                  "invalid_api_key",
                  {}};
}

ApiError not_found(std::string message) {
  return ApiError{404, std::move(message), "not_found_error", "", "not_found", {}};
}

ApiError method_not_allowed(std::string method, std::string path) {
  return ApiError{405,
                  "Method " + method + " is not allowed on " + path,
                  "invalid_request_error",
                  "",
                  "method_not_allowed",
                  {}};
}

ApiError payload_too_large(size_t limit_bytes) {
  return ApiError{413,
                  "The request body exceeds the limit of " + std::to_string(limit_bytes) + " bytes.",
                  "invalid_request_error",
                  "",
                  "payload_too_large",
                  {}};
}

ApiError queue_full(int retry_after_s) {
  return ApiError{
      429,          "The server's request queue is full; retry later.", "rate_limit_error", "", "queue_full",
      retry_after_s};
}

ApiError unavailable(std::string message, int retry_after_s) {
  return ApiError{503, std::move(message), "server_error", "", "unavailable", retry_after_s};
}

ApiError internal_error(std::string message) {
  return ApiError{500, std::move(message), "server_error", "", "internal_error", {}};
}

ApiError from_status(const Status& status) {
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kParseError:
      return invalid_request(status.message());
    case StatusCode::kNotFound:
    case StatusCode::kUnsupported:
      return invalid_request(status.message(), "", "unsupported");
    case StatusCode::kResourceExhausted:
      return unavailable(status.message(), 1);
    default:
      return internal_error(status.message());
  }
}

}  // namespace autoglm::server
