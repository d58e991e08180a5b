// Errors as values: every fallible function of the engine and of its public API returns Status or
// Expected<T>.
// Exceptions never cross module boundaries; third-party code that throws is wrapped where it is called.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace autoglm {

enum class StatusCode {
  kOk,
  kInvalidArgument,    // a caller passed something malformed (bad shape, bad option, bad request)
  kNotFound,           // a file, tensor or registry entry does not exist
  kIoError,            // the OS refused a read, write or map
  kParseError,         // a file exists but its content is malformed (config.json, safetensors header)
  kUnsupported,        // well-formed input that this build cannot handle (unknown dtype, architecture)
  kOutOfRange,         // an index, offset or length beyond its bounds
  kResourceExhausted,  // memory or capacity ran out
  kInternal,           // a broken invariant: a bug of ours
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return {}; }
  bool is_ok() const { return code_ == StatusCode::kOk; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "ParseError: config.json: missing hidden_size"
  std::string to_string() const;
  // Prefixes the message with context ("loading /path/model.safetensors: ...").
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

Status invalid_argument(std::string message);
Status not_found(std::string message);
Status io_error(std::string message);
Status parse_error(std::string message);
Status unsupported(std::string message);
Status out_of_range(std::string message);
Status resource_exhausted(std::string message);
Status internal_error(std::string message);

// A value or the Status that explains why there is none.
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : storage_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Expected(Status status) : storage_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(storage_).is_ok() && "Expected built from an OK status");
  }

  bool has_value() const { return storage_.index() == 0; }
  explicit operator bool() const { return has_value(); }

  T& value() & { return std::get<0>(storage_); }
  const T& value() const& { return std::get<0>(storage_); }
  T&& value() && { return std::get<0>(std::move(storage_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Status status() const { return has_value() ? Status::ok() : std::get<Status>(storage_); }

 private:
  std::variant<T, Status> storage_;
};

}  // namespace autoglm

#define AUTOGLM_CONCAT_INNER(a, b) a##b
#define AUTOGLM_CONCAT(a, b) AUTOGLM_CONCAT_INNER(a, b)

#define AUTOGLM_RETURN_IF_ERROR(expr)                     \
  do {                                                    \
    ::autoglm::Status autoglm_status_ = (expr);           \
    if (!autoglm_status_.is_ok()) return autoglm_status_; \
  } while (0)

#define AUTOGLM_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.has_value()) return tmp.status();          \
  lhs = std::move(tmp).value()

// AUTOGLM_ASSIGN_OR_RETURN(auto x, make_x()); returns the Status from the enclosing function on error.
#define AUTOGLM_ASSIGN_OR_RETURN(lhs, expr) \
  AUTOGLM_ASSIGN_OR_RETURN_IMPL(AUTOGLM_CONCAT(autoglm_expected_, __LINE__), lhs, expr)
