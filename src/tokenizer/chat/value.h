// The values a chat template computes with: Python's data model as Jinja2 sees it (None, bool, int, float,
// str, list/tuple, dict) plus Jinja2's Undefined and opaque objects (namespaces, macros, loop contexts, bound
// methods).
//
// Values are immutable and cheap to copy: strings, lists and dicts are shared behind reference counts. This
// matches the sandbox HF renders templates in (jinja2's ImmutableSandboxedEnvironment), where lists and dicts
// cannot be modified; the only mutable objects are namespaces and loop contexts. Dicts keep insertion order,
// as Python's do. Strings are UTF-8; operations that Python defines on code points (len, slicing, indexing)
// work on code points. A Value is not thread-safe to share while a render mutates a namespace inside it; the
// values a caller builds (messages, tools) are never mutated and may be shared between renders and threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"

namespace autoglm::jinja {

enum class ValueKind { kUndefined, kNone, kBool, kInt, kFloat, kString, kList, kDict, kObject };

class Value;
class Dict;
class Object;

// Nesting depth beyond which containers are refused: deeper values would exhaust the stack of the recursive
// algorithms (repr, JSON, equality, destruction).
inline constexpr int kMaxValueDepth = 256;

class Value {
 public:
  // Undefined with no hint, Jinja2's `missing`.
  Value() = default;
  Value(bool b) : kind_(ValueKind::kBool), bool_(b) {}      // NOLINT(google-explicit-constructor)
  Value(int64_t i) : kind_(ValueKind::kInt), int_(i) {}     // NOLINT(google-explicit-constructor)
  Value(int i) : kind_(ValueKind::kInt), int_(i) {}         // NOLINT(google-explicit-constructor)
  Value(double f) : kind_(ValueKind::kFloat), float_(f) {}  // NOLINT(google-explicit-constructor)
  Value(std::string s);                                     // NOLINT(google-explicit-constructor)
  Value(std::string_view s) : Value(std::string(s)) {}      // NOLINT(google-explicit-constructor)
  Value(const char* s) : Value(std::string(s)) {}           // NOLINT(google-explicit-constructor)
  // Other pointers would silently become bools.
  template <typename T>
  Value(const T*) = delete;

  static Value none();
  // An undefined value; `message` is what an operation that cannot use it reports ("'foo' is undefined").
  // `unsafe` marks the undefined a sandbox returns for a forbidden attribute (list.append): using it is a
  // security error rather than an undefined error.
  static Value undefined(std::string message, bool unsafe = false);
  static Value list(std::vector<Value> items);
  static Value tuple(std::vector<Value> items);
  static Value dict(Dict entries);
  static Value object(std::shared_ptr<Object> object);

  ValueKind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == ValueKind::kUndefined; }
  bool is_none() const { return kind_ == ValueKind::kNone; }
  bool is_bool() const { return kind_ == ValueKind::kBool; }
  bool is_int() const { return kind_ == ValueKind::kInt; }
  bool is_float() const { return kind_ == ValueKind::kFloat; }
  // int, float or bool (Python's numbers.Number includes bool).
  bool is_number() const { return is_int() || is_float() || is_bool(); }
  bool is_string() const { return kind_ == ValueKind::kString; }
  bool is_list() const { return kind_ == ValueKind::kList; }  // lists and tuples
  bool is_tuple() const;
  bool is_dict() const { return kind_ == ValueKind::kDict; }
  bool is_object() const { return kind_ == ValueKind::kObject; }

  bool as_bool() const { return bool_; }
  // The integer of an int or bool (a float truncates, anything else is 0): callers check the kind first.
  int64_t as_int() const;
  // Numeric value of an int, float or bool.
  double as_double() const;
  const std::string& as_string() const;
  const std::vector<Value>& as_list() const;
  const Dict& as_dict() const;
  Object& as_object() const;
  // Identity of the shared string, list, dict or object (`is sameas`, namespace equality).
  const void* identity() const { return ptr_.get(); }

  // Message and kind of an undefined value.
  const std::string& undefined_message() const;
  bool undefined_is_unsafe() const;

  // Python truthiness.
  bool truthy() const;
  // Nesting depth of lists and dicts (0 for scalars).
  int depth() const;

 private:
  struct ListData;
  struct UndefinedData;

  ValueKind kind_ = ValueKind::kUndefined;
  union {
    bool bool_;
    int64_t int_ = 0;
    double float_;
  };
  // string, ListData, Dict, Object or UndefinedData (null for a plain undefined), by kind_.
  std::shared_ptr<void> ptr_;
};

// An insertion-ordered dict with Python key semantics (1, 1.0 and True are the same key). Lookup is linear
// for small dicts and hashed on string keys for larger ones.
class Dict {
 public:
  using Entry = std::pair<Value, Value>;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<Entry>& entries() const { return entries_; }
  auto begin() const { return entries_.begin(); }
  auto end() const { return entries_.end(); }

  // nullptr when absent.
  const Value* find(const Value& key) const;
  const Value* find(std::string_view key) const;
  const Value* find(const std::string& key) const { return find(std::string_view(key)); }
  const Value* find(const char* key) const { return find(std::string_view(key)); }
  bool contains(const Value& key) const { return find(key) != nullptr; }
  // Replaces the value of an existing key in place (keeping its position) or appends.
  void set(Value key, Value value);
  void set(std::string_view key, Value value) { set(Value(key), std::move(value)); }
  void set(const char* key, Value value) { set(Value(key), std::move(value)); }
  void set(const std::string& key, Value value) { set(Value(key), std::move(value)); }
  bool erase(std::string_view key);
  // Nesting depth of the values (a dict of scalars has depth 1).
  int depth() const { return depth_; }

 private:
  ptrdiff_t index_of(const Value& key) const;
  ptrdiff_t index_of(std::string_view key) const;
  void rebuild_index();

  std::vector<Entry> entries_;
  // String key -> position, built once the dict grows past a few entries.
  std::shared_ptr<std::vector<std::pair<std::string_view, size_t>>> index_;
  int depth_ = 1;
};

// Objects that are neither data nor Undefined: namespaces, macros, loop contexts, builtins, bound methods.
class Object {
 public:
  virtual ~Object() = default;
  // Python-style type name used in messages ("namespace", "macro", "LoopContext").
  virtual std::string type_name() const = 0;
  // Attribute lookup; undefined when absent.
  virtual Value get_attr(std::string_view name) const;
  virtual bool is_callable() const { return false; }
  // What str() of the object prints; may stop early once longer than max_bytes (see py_str).
  virtual std::string repr(size_t max_bytes) const;
};

// Python's str(): strings as they are, None/True/False as words, floats as repr(), containers as repr();
// Undefined is "". The text stops growing once it exceeds max_bytes (it is then incomplete, and longer than
// max_bytes): values share their parts, so a small value can stand for an enormous text (a list repeating
// one long string), which a bounded render must refuse before building it.
std::string py_str(const Value& value, size_t max_bytes = SIZE_MAX);
// Python's repr() (strings quoted and escaped as Python does), bounded the same way.
std::string py_repr(const Value& value, size_t max_bytes = SIZE_MAX);
// Python's ==: numbers compare by value across int/float/bool, containers element-wise; Undefined equals only
// Undefined.
bool py_equal(const Value& a, const Value& b);
// Python's type name: "str", "int", "float", "bool", "NoneType", "list", "tuple", "dict", "Undefined", or the
// object's type_name().
std::string py_type_name(const Value& value);

// A dict, list, tuple or scalar from a JSON document (objects keep their key order). Numbers that are
// integers in JSON become ints (ints beyond 64 bits become floats); strings must be valid UTF-8.
Expected<Value> value_from_json(std::string_view json);

}  // namespace autoglm::jinja
