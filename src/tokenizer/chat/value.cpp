#include "tokenizer/chat/value.h"

#include <algorithm>
#include <cassert>
#include <cmath>

#include "tokenizer/chat/py_text.h"

namespace autoglm::jinja {

struct Value::ListData {
  std::vector<Value> items;
  bool tuple = false;
  int depth = 1;
};

struct Value::UndefinedData {
  std::string message;
  bool unsafe = false;
};

namespace {

const std::string& empty_string() {
  static const std::string empty;
  return empty;
}

int max_depth(const std::vector<Value>& items) {
  int depth = 0;
  for (const Value& item : items)
    depth = std::max(depth, item.depth());
  return depth;
}

// Dicts with more entries than this get a hash index on their string keys.
constexpr size_t kIndexThreshold = 8;

}  // namespace

Value::Value(std::string s) : kind_(ValueKind::kString), ptr_(std::make_shared<std::string>(std::move(s))) {}

Value Value::none() {
  Value v;
  v.kind_ = ValueKind::kNone;
  return v;
}

Value Value::undefined(std::string message, bool unsafe) {
  Value v;
  if (!message.empty() || unsafe)
    v.ptr_ = std::make_shared<UndefinedData>(UndefinedData{std::move(message), unsafe});
  return v;
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = ValueKind::kList;
  const int depth = max_depth(items) + 1;
  v.ptr_ = std::make_shared<ListData>(ListData{std::move(items), false, depth});
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  static_cast<ListData*>(v.ptr_.get())->tuple = true;
  return v;
}

Value Value::dict(Dict entries) {
  Value v;
  v.kind_ = ValueKind::kDict;
  v.ptr_ = std::make_shared<Dict>(std::move(entries));
  return v;
}

Value Value::object(std::shared_ptr<Object> object) {
  Value v;
  v.kind_ = ValueKind::kObject;
  v.ptr_ = std::move(object);
  return v;
}

bool Value::is_tuple() const {
  return is_list() && static_cast<const ListData*>(ptr_.get())->tuple;
}

int64_t Value::as_int() const {
  if (kind_ == ValueKind::kInt) return int_;
  if (kind_ == ValueKind::kBool) return bool_ ? 1 : 0;
  if (kind_ == ValueKind::kFloat && std::fabs(float_) < 9.2e18) return static_cast<int64_t>(float_);
  return 0;
}

double Value::as_double() const {
  switch (kind_) {
    case ValueKind::kBool:
      return bool_ ? 1.0 : 0.0;
    case ValueKind::kInt:
      return static_cast<double>(int_);
    case ValueKind::kFloat:
      return float_;
    case ValueKind::kUndefined:
    case ValueKind::kNone:
    case ValueKind::kString:
    case ValueKind::kList:
    case ValueKind::kDict:
    case ValueKind::kObject:
      break;
  }
  return 0.0;
}

const std::string& Value::as_string() const {
  assert(is_string());
  return *static_cast<const std::string*>(ptr_.get());
}

const std::vector<Value>& Value::as_list() const {
  assert(is_list());
  return static_cast<const ListData*>(ptr_.get())->items;
}

const Dict& Value::as_dict() const {
  assert(is_dict());
  return *static_cast<const Dict*>(ptr_.get());
}

Object& Value::as_object() const {
  assert(is_object());
  return *static_cast<Object*>(ptr_.get());
}

const std::string& Value::undefined_message() const {
  if (!is_undefined() || ptr_ == nullptr) return empty_string();
  return static_cast<const UndefinedData*>(ptr_.get())->message;
}

bool Value::undefined_is_unsafe() const {
  return is_undefined() && ptr_ != nullptr && static_cast<const UndefinedData*>(ptr_.get())->unsafe;
}

bool Value::truthy() const {
  switch (kind_) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return false;
    case ValueKind::kBool:
      return bool_;
    case ValueKind::kInt:
      return int_ != 0;
    case ValueKind::kFloat:
      return float_ != 0.0;
    case ValueKind::kString:
      return !as_string().empty();
    case ValueKind::kList:
      return !as_list().empty();
    case ValueKind::kDict:
      return !as_dict().empty();
    case ValueKind::kObject:
      return true;
  }
  return false;
}

int Value::depth() const {
  if (is_list()) return static_cast<const ListData*>(ptr_.get())->depth;
  if (is_dict()) return as_dict().depth();
  return 0;
}

// ---------------------------------------------------------------------------------------------------------
// Dict

ptrdiff_t Dict::index_of(std::string_view key) const {
  if (index_ != nullptr) {
    const auto& index = *index_;
    const auto it = std::lower_bound(index.begin(), index.end(), key,
                                     [](const auto& entry, std::string_view k) { return entry.first < k; });
    return (it != index.end() && it->first == key) ? static_cast<ptrdiff_t>(it->second) : -1;
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    const Value& k = entries_[i].first;
    if (k.is_string() && k.as_string() == key) return static_cast<ptrdiff_t>(i);
  }
  return -1;
}

ptrdiff_t Dict::index_of(const Value& key) const {
  if (key.is_string()) return index_of(std::string_view(key.as_string()));
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (py_equal(entries_[i].first, key)) return static_cast<ptrdiff_t>(i);
  }
  return -1;
}

const Value* Dict::find(const Value& key) const {
  const ptrdiff_t i = index_of(key);
  return i < 0 ? nullptr : &entries_[static_cast<size_t>(i)].second;
}

const Value* Dict::find(std::string_view key) const {
  const ptrdiff_t i = index_of(key);
  return i < 0 ? nullptr : &entries_[static_cast<size_t>(i)].second;
}

void Dict::set(Value key, Value value) {
  depth_ = std::max(depth_, value.depth() + 1);
  const ptrdiff_t i = index_of(key);
  if (i >= 0) {
    entries_[static_cast<size_t>(i)].second = std::move(value);
    return;
  }
  entries_.emplace_back(std::move(key), std::move(value));
  if (entries_.size() > kIndexThreshold) rebuild_index();
}

bool Dict::erase(std::string_view key) {
  const ptrdiff_t i = index_of(key);
  if (i < 0) return false;
  entries_.erase(entries_.begin() + i);
  index_.reset();
  if (entries_.size() > kIndexThreshold) rebuild_index();
  return true;
}

void Dict::rebuild_index() {
  // Copy-on-write: a copied Dict shares the index of its source until it changes. The string_views point into
  // the shared key strings, which never move.
  auto index = std::make_shared<std::vector<std::pair<std::string_view, size_t>>>();
  index->reserve(entries_.size());
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].first.is_string()) index->emplace_back(entries_[i].first.as_string(), i);
  }
  std::sort(index->begin(), index->end());
  index_ = std::move(index);
}

// ---------------------------------------------------------------------------------------------------------
// Object

Value Object::get_attr(std::string_view name) const {
  return Value::undefined("'" + type_name() + " object' has no attribute '" + std::string(name) + "'");
}

std::string Object::repr(size_t /*max_bytes*/) const {
  return "<" + type_name() + " object>";
}

// ---------------------------------------------------------------------------------------------------------
// str / repr / == / type names

namespace {

void append_repr(std::string& out, const Value& value, int depth, size_t max_bytes);

void append_list_repr(std::string& out, const Value& value, int depth, size_t max_bytes) {
  const bool tuple = value.is_tuple();
  out.push_back(tuple ? '(' : '[');
  const auto& items = value.as_list();
  for (size_t i = 0; i < items.size() && out.size() <= max_bytes; ++i) {
    if (i > 0) out += ", ";
    append_repr(out, items[i], depth + 1, max_bytes);
  }
  if (tuple && items.size() == 1) out.push_back(',');
  out.push_back(tuple ? ')' : ']');
}

void append_repr(std::string& out, const Value& value, int depth, size_t max_bytes) {
  if (out.size() > max_bytes) return;
  if (depth > kMaxValueDepth) {
    out += "...";
    return;
  }
  switch (value.kind()) {
    case ValueKind::kUndefined:
      out += "Undefined";
      return;
    case ValueKind::kString:
      out += py::string_repr(value.as_string());
      return;
    case ValueKind::kList:
      append_list_repr(out, value, depth, max_bytes);
      return;
    case ValueKind::kDict: {
      out.push_back('{');
      bool first = true;
      for (const auto& [key, item] : value.as_dict()) {
        if (out.size() > max_bytes) return;
        if (!first) out += ", ";
        first = false;
        append_repr(out, key, depth + 1, max_bytes);
        out += ": ";
        append_repr(out, item, depth + 1, max_bytes);
      }
      out.push_back('}');
      return;
    }
    case ValueKind::kObject:
      out += value.as_object().repr(max_bytes - std::min(max_bytes, out.size()));
      return;
    case ValueKind::kNone:
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat:
      out += py_str(value);
      return;
  }
}

bool equal(const Value& a, const Value& b, int depth) {
  if (depth > kMaxValueDepth) return false;
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_double() == b.as_double();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case ValueKind::kUndefined:
    case ValueKind::kNone:
      return true;
    case ValueKind::kString:
      return a.as_string() == b.as_string();
    case ValueKind::kList: {
      if (a.is_tuple() != b.is_tuple()) return false;
      const auto& x = a.as_list();
      const auto& y = b.as_list();
      if (x.size() != y.size()) return false;
      for (size_t i = 0; i < x.size(); ++i) {
        if (!equal(x[i], y[i], depth + 1)) return false;
      }
      return true;
    }
    case ValueKind::kDict: {
      const Dict& x = a.as_dict();
      const Dict& y = b.as_dict();
      if (x.size() != y.size()) return false;
      for (const auto& [key, value] : x) {
        const Value* other = y.find(key);
        if (other == nullptr || !equal(value, *other, depth + 1)) return false;
      }
      return true;
    }
    case ValueKind::kObject:
      return a.identity() == b.identity();
    case ValueKind::kBool:
    case ValueKind::kInt:
    case ValueKind::kFloat:
      break;
  }
  return false;
}

}  // namespace

std::string py_str(const Value& value, size_t max_bytes) {
  switch (value.kind()) {
    case ValueKind::kUndefined:
      return "";
    case ValueKind::kNone:
      return "None";
    case ValueKind::kBool:
      return value.as_bool() ? "True" : "False";
    case ValueKind::kInt:
      return std::to_string(value.as_int());
    case ValueKind::kFloat:
      return py::float_repr(value.as_double());
    case ValueKind::kString:
      return value.as_string();
    case ValueKind::kList:
    case ValueKind::kDict:
    case ValueKind::kObject:
      break;
  }
  return py_repr(value, max_bytes);
}

std::string py_repr(const Value& value, size_t max_bytes) {
  std::string out;
  append_repr(out, value, 0, max_bytes);
  return out;
}

bool py_equal(const Value& a, const Value& b) {
  return equal(a, b, 0);
}

std::string py_type_name(const Value& value) {
  switch (value.kind()) {
    case ValueKind::kUndefined:
      return "Undefined";
    case ValueKind::kNone:
      return "NoneType";
    case ValueKind::kBool:
      return "bool";
    case ValueKind::kInt:
      return "int";
    case ValueKind::kFloat:
      return "float";
    case ValueKind::kString:
      return "str";
    case ValueKind::kList:
      return value.is_tuple() ? "tuple" : "list";
    case ValueKind::kDict:
      return "dict";
    case ValueKind::kObject:
      return value.as_object().type_name();
  }
  return "object";
}

}  // namespace autoglm::jinja
