// JSON text -> Value through nlohmann's SAX interface: the values are built directly (no intermediate DOM),
// objects keep their key order, a repeated key keeps its first position and its last value (Python's
// json.loads), and nesting deeper than kMaxValueDepth is refused.
#include <nlohmann/json.hpp>

#include "tokenizer/chat/value.h"

namespace autoglm::jinja {
namespace {

class ValueBuilder : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool null() override { return add(Value::none()); }
  bool boolean(bool value) override { return add(Value(value)); }
  bool number_integer(number_integer_t value) override { return add(Value(static_cast<int64_t>(value))); }
  bool number_unsigned(number_unsigned_t value) override {
    if (value > static_cast<uint64_t>(INT64_MAX)) return add(Value(static_cast<double>(value)));
    return add(Value(static_cast<int64_t>(value)));
  }
  bool number_float(number_float_t value, const string_t& /*text*/) override { return add(Value(value)); }
  bool string(string_t& value) override { return add(Value(std::move(value))); }
  bool binary(binary_t& /*value*/) override { return fail("binary values are not JSON"); }

  bool start_object(std::size_t /*size*/) override {
    if (stack_.size() >= static_cast<size_t>(kMaxValueDepth)) return fail("JSON nested too deeply");
    stack_.push_back(Frame{true, {}, {}, {}});
    return true;
  }
  bool key(string_t& value) override {
    stack_.back().key = std::move(value);
    return true;
  }
  bool end_object() override {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    return add(Value::dict(std::move(frame.dict)));
  }
  bool start_array(std::size_t /*size*/) override {
    if (stack_.size() >= static_cast<size_t>(kMaxValueDepth)) return fail("JSON nested too deeply");
    stack_.push_back(Frame{false, {}, {}, {}});
    return true;
  }
  bool end_array() override {
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    return add(Value::list(std::move(frame.items)));
  }
  bool parse_error(std::size_t position, const std::string& /*last_token*/,
                   const nlohmann::detail::exception& ex) override {
    return fail("invalid JSON at byte " + std::to_string(position) + ": " + ex.what());
  }

  Value result;
  std::string error;

 private:
  struct Frame {
    bool is_object;
    Dict dict;
    std::vector<Value> items;
    std::string key;
  };

  bool add(Value value) {
    if (stack_.empty()) {
      result = std::move(value);
    } else if (stack_.back().is_object) {
      stack_.back().dict.set(Value(std::move(stack_.back().key)), std::move(value));
    } else {
      stack_.back().items.push_back(std::move(value));
    }
    return true;
  }
  bool fail(std::string message) {
    if (error.empty()) error = std::move(message);
    return false;
  }

  std::vector<Frame> stack_;
};

}  // namespace

Expected<Value> value_from_json(std::string_view json) {
  ValueBuilder builder;
  bool ok = false;
  try {
    ok = nlohmann::json::sax_parse(json.begin(), json.end(), &builder);
  } catch (const std::exception& e) {  // nlohmann reports some input errors by throwing
    return parse_error(std::string("invalid JSON: ") + e.what());
  }
  if (!ok) return parse_error(builder.error.empty() ? std::string("invalid JSON") : builder.error);
  return builder.result;
}

}  // namespace autoglm::jinja
