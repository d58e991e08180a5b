// Statements, scopes, macros and loops. Expressions are in eval_expr.cpp.
#include "tokenizer/chat/evaluator.h"

#include <algorithm>

#include "tokenizer/chat/operators.h"
#include "tokenizer/chat/py_text.h"

namespace autoglm::jinja {

// ---------------------------------------------------------------------------------------------------------
// Frames and namespaces

const Value* Frame::find_local(std::string_view name) const {
  for (const auto& [key, value] : vars_) {
    if (key == name) return &value;
  }
  return nullptr;
}

const Value* Frame::lookup(std::string_view name) const {
  for (const Frame* f = this; f != nullptr; f = f->parent_.get()) {
    if (const Value* v = f->find_local(name)) return v;
  }
  return nullptr;
}

void Frame::set(std::string_view name, Value value) {
  for (auto& [key, v] : vars_) {
    if (key == name) {
      v = std::move(value);
      return;
    }
  }
  vars_.emplace_back(std::string(name), std::move(value));
}

Value Namespace::get_attr(std::string_view name) const {
  if (const Value* v = attributes.find(name)) return *v;
  return Value::undefined("'" + type_name() + " object' has no attribute '" + std::string(name) + "'");
}

std::string Namespace::repr(size_t max_bytes) const {
  // Python's reprlib guard: a namespace reached again while printing itself shows as {...}; the depth of
  // namespaces inside namespaces is bounded like the nesting of values.
  thread_local std::vector<const Namespace*> printing;
  if (std::find(printing.begin(), printing.end(), this) != printing.end()) return "<Namespace {...}>";
  if (printing.size() >= 16) return "<Namespace ...>";
  printing.push_back(this);
  std::string text = "<Namespace " + py_repr(Value::dict(attributes), max_bytes) + ">";
  printing.pop_back();
  return text;
}

namespace {

// A macro, or the caller() of a {% call %} block.
class Macro : public Callable {
 public:
  Macro(std::shared_ptr<const MacroDefinition> definition, std::shared_ptr<Frame> closure)
      : definition_(std::move(definition)), closure_(std::move(closure)) {}
  std::string type_name() const override { return "Macro"; }
  std::string repr(size_t /*max_bytes*/) const override { return "<Macro '" + definition_->name + "'>"; }
  Value get_attr(std::string_view name) const override {
    if (name == "name") return Value(definition_->name);
    if (name == "arguments") {
      std::vector<Value> names;
      for (const MacroParam& p : definition_->params)
        names.emplace_back(p.name);
      return Value::tuple(std::move(names));
    }
    if (name == "catch_kwargs") return Value(definition_->uses_kwargs);
    if (name == "catch_varargs") return Value(definition_->uses_varargs);
    if (name == "caller") return Value(definition_->uses_caller);
    return Object::get_attr(name);
  }
  Expected<Value> call(Interpreter& interp, const Args& args) override {
    return interp.call_macro(*definition_, closure_, args);
  }

 private:
  std::shared_ptr<const MacroDefinition> definition_;
  std::shared_ptr<Frame> closure_;
};

// jinja2's LoopContext: the `loop` variable of a for-loop.
class LoopContext : public Callable, public std::enable_shared_from_this<LoopContext> {
 public:
  LoopContext(std::vector<Value> items, int depth0, const Stmt& stmt, std::shared_ptr<Frame> frame)
      : items_(std::move(items)), depth0_(depth0), stmt_(stmt), frame_(std::move(frame)) {}

  std::string type_name() const override { return "LoopContext"; }
  std::string repr(size_t /*max_bytes*/) const override {
    return "<LoopContext " + std::to_string(index0_ + 1) + "/" + std::to_string(items_.size()) + ">";
  }

  Value get_attr(std::string_view name) const override {
    const auto length = static_cast<int64_t>(items_.size());
    const auto i = static_cast<int64_t>(index0_);
    if (name == "index") return Value(i + 1);
    if (name == "index0") return Value(i);
    if (name == "revindex") return Value(length - i);
    if (name == "revindex0") return Value(length - i - 1);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i == length - 1);
    if (name == "length") return Value(length);
    if (name == "depth") return Value(int64_t{depth0_} + 1);
    if (name == "depth0") return Value(int64_t{depth0_});
    if (name == "previtem") {
      return i > 0 ? items_[index0_ - 1] : Value::undefined("there is no previous item");
    }
    if (name == "nextitem") {
      return i + 1 < length ? items_[index0_ + 1] : Value::undefined("there is no next item");
    }
    if (name == "cycle" || name == "changed") {
      auto self = std::const_pointer_cast<LoopContext>(shared_from_this());
      return Value::object(std::make_shared<LoopMethod>(std::move(self), std::string(name)));
    }
    return Object::get_attr(name);
  }

  // loop(iterable) in a recursive loop.
  Expected<Value> call(Interpreter& interp, const Args& args) override {
    if (!stmt_.recursive)
      return type_error("The loop must have the 'recursive' marker to be called recursively.");
    if (args.positional.size() != 1 || !args.keywords.empty())
      return type_error("loop() takes exactly one argument");
    return interp.render_loop(stmt_, frame_, args.positional[0], depth0_ + 1);
  }

  void set_index(size_t index0) { index0_ = index0; }

 private:
  class LoopMethod : public Callable {
   public:
    LoopMethod(std::shared_ptr<LoopContext> loop, std::string name)
        : loop_(std::move(loop)), name_(std::move(name)) {}
    std::string type_name() const override { return "method"; }
    Expected<Value> call(Interpreter& /*interp*/, const Args& args) override {
      if (name_ == "cycle") {
        if (args.positional.empty()) return type_error("no items for cycling given");
        return args.positional[loop_->index0_ % args.positional.size()];
      }
      Value current = Value::tuple(args.positional);
      const bool changed = !loop_->has_last_ || !py_equal(loop_->last_changed_, current);
      loop_->last_changed_ = std::move(current);
      loop_->has_last_ = true;
      return Value(changed);
    }

   private:
    std::shared_ptr<LoopContext> loop_;
    std::string name_;
  };

  std::vector<Value> items_;
  size_t index0_ = 0;
  int depth0_;
  const Stmt& stmt_;
  std::shared_ptr<Frame> frame_;
  Value last_changed_;
  bool has_last_ = false;
};

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Interpreter

Interpreter::Interpreter(const ParsedTemplate& parsed, const RenderLimits& limits, const std::tm& now)
    : parsed_(parsed), limits_(limits), now_(now) {}

Interpreter::~Interpreter() {
  // Break the cycles frame -> macro -> frame and namespace -> value -> namespace.
  for (const auto& frame : closures_)
    frame->clear();
  for (const auto& ns : namespaces_)
    ns->attributes = Dict();
}

Status Interpreter::count_step() {
  if (++steps_ > limits_.max_steps) {
    return resource_exhausted("template evaluation exceeded " + std::to_string(limits_.max_steps) + " steps");
  }
  return Status::ok();
}

Status Interpreter::check_size(size_t size) const {
  if (size > limits_.max_output_bytes) {
    return resource_exhausted("template built a value or output larger than " +
                              std::to_string(limits_.max_output_bytes) + " bytes");
  }
  return Status::ok();
}

Expected<std::string> Interpreter::str(const Value& value) const {
  if (value.is_string()) return value.as_string();
  std::string text = py_str(value, limits_.max_output_bytes);
  AUTOGLM_RETURN_IF_ERROR(check_size(text.size()));
  return text;
}

Status Interpreter::raise(const std::string& message) {
  raised_ = true;
  return invalid_argument(message);
}

Status Interpreter::write(std::string_view text) {
  AUTOGLM_RETURN_IF_ERROR(check_size(out_->size() + text.size()));
  out_->append(text);
  return Status::ok();
}

Status Interpreter::locate(Status status, uint32_t offset) {
  if (!status.is_ok() && !error_offset_) error_offset_ = offset;
  return status;
}

Expected<std::string> Interpreter::render(std::shared_ptr<Frame> globals) {
  std::string out;
  out_ = &out;
  auto top = std::make_shared<Frame>(std::move(globals));
  track(top);
  Status status = exec_body(parsed_.body, top);
  if (status.is_ok()) return out;
  if (raised_ || status.code() == StatusCode::kResourceExhausted || !error_offset_) return status;
  return Status(status.code(), parsed_.source.describe(*error_offset_) + ": " + status.message());
}

Status Interpreter::exec_body(const Body& body, const std::shared_ptr<Frame>& frame) {
  if (nesting_ >= kMaxNesting) return resource_exhausted("template evaluation nested too deeply");
  ++nesting_;
  Status status;
  for (const StmtPtr& stmt : body) {
    status = exec(*stmt, frame);
    if (!status.is_ok() || flow_ != Flow::kNormal) break;
  }
  --nesting_;
  return status;
}

Expected<std::string> Interpreter::capture(const Body& body, const std::shared_ptr<Frame>& frame) {
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  const Status status = exec_body(body, frame);
  out_ = saved;
  AUTOGLM_RETURN_IF_ERROR(status);
  return buffer;
}

Status Interpreter::exec(const Stmt& stmt, const std::shared_ptr<Frame>& frame) {
  AUTOGLM_RETURN_IF_ERROR(count_step());
  switch (stmt.kind) {
    case StmtKind::kOutput:
      for (const OutputPiece& piece : stmt.pieces) {
        if (piece.expr == nullptr) {
          AUTOGLM_RETURN_IF_ERROR(write(piece.data));
          continue;
        }
        AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*piece.expr, frame));
        if (v.is_string()) {
          AUTOGLM_RETURN_IF_ERROR(write(v.as_string()));
        } else {
          AUTOGLM_ASSIGN_OR_RETURN(std::string text, str(v));
          AUTOGLM_RETURN_IF_ERROR(write(text));
        }
      }
      return Status::ok();
    case StmtKind::kIf:
      for (const IfBranch& branch : stmt.branches) {
        AUTOGLM_ASSIGN_OR_RETURN(Value test, eval(*branch.test, frame));
        if (test.truthy()) return exec_body(branch.body, frame);
      }
      return exec_body(stmt.else_body, frame);
    case StmtKind::kFor: {
      AUTOGLM_ASSIGN_OR_RETURN(Value iterable, eval(*stmt.expr, frame));
      return exec_for(stmt, frame, iterable, 0);
    }
    case StmtKind::kSet:
    case StmtKind::kSetBlock:
      return exec_set(stmt, frame);
    case StmtKind::kMacro: {
      track(frame);
      frame->set(stmt.macro->name, Value::object(std::make_shared<Macro>(stmt.macro, frame)));
      return Status::ok();
    }
    case StmtKind::kCallBlock:
      return exec_call_block(stmt, frame);
    case StmtKind::kFilterBlock: {
      AUTOGLM_ASSIGN_OR_RETURN(std::string text, capture(stmt.body, std::make_shared<Frame>(frame)));
      AUTOGLM_ASSIGN_OR_RETURN(Value v, apply_filter_chain(*stmt.filter, Value(std::move(text)), frame));
      AUTOGLM_ASSIGN_OR_RETURN(std::string filtered, str(v));
      return write(filtered);
    }
    case StmtKind::kWith: {
      auto inner = std::make_shared<Frame>(frame);
      for (size_t i = 0; i < stmt.targets.size(); ++i) {
        AUTOGLM_ASSIGN_OR_RETURN(Value v, eval(*stmt.values[i], frame));
        AUTOGLM_RETURN_IF_ERROR(locate(assign(stmt.targets[i], v, *inner), stmt.targets[i].offset));
      }
      return exec_body(stmt.body, inner);
    }
    case StmtKind::kBreak:
      flow_ = Flow::kBreak;
      return Status::ok();
    case StmtKind::kContinue:
      flow_ = Flow::kContinue;
      return Status::ok();
    case StmtKind::kScope:
      return exec_body(stmt.body, std::make_shared<Frame>(frame));
  }
  return Status::ok();
}

Status Interpreter::assign(const Target& target, const Value& value, Frame& frame) {
  switch (target.kind) {
    case Target::Kind::kName:
      frame.set(target.name, value);
      return Status::ok();
    case Target::Kind::kNamespaceAttr: {
      const Value* holder = frame.lookup(target.name);
      auto* ns =
          holder != nullptr && holder->is_object() ? dynamic_cast<Namespace*>(&holder->as_object()) : nullptr;
      if (ns == nullptr) {
        return invalid_argument("TemplateRuntimeError: cannot assign attribute on non-namespace object");
      }
      if (!target.attribute.empty() && target.attribute[0] == '_') {
        return invalid_argument(
            "SecurityError: Chat templates cannot store underscore-prefixed attributes on a "
            "namespace, but got '" +
            target.attribute + "'. Please rename the attribute.");
      }
      ns->attributes.set(target.attribute, value);
      return Status::ok();
    }
    case Target::Kind::kTuple: {
      AUTOGLM_ASSIGN_OR_RETURN(std::vector<Value> items, iterate(value));
      if (items.size() < target.items.size()) {
        return value_error("ValueError: not enough values to unpack (expected " +
                           std::to_string(target.items.size()) + ", got " + std::to_string(items.size()) +
                           ")");
      }
      if (items.size() > target.items.size()) {
        return value_error("ValueError: too many values to unpack (expected " +
                           std::to_string(target.items.size()) + ")");
      }
      for (size_t i = 0; i < items.size(); ++i)
        AUTOGLM_RETURN_IF_ERROR(assign(target.items[i], items[i], frame));
      return Status::ok();
    }
  }
  return Status::ok();
}

Status Interpreter::exec_set(const Stmt& stmt, const std::shared_ptr<Frame>& frame) {
  Value value;
  if (stmt.kind == StmtKind::kSet) {
    AUTOGLM_ASSIGN_OR_RETURN(value, eval(*stmt.expr, frame));
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(std::string text, capture(stmt.body, std::make_shared<Frame>(frame)));
    value = Value(std::move(text));
    if (stmt.filter != nullptr) {
      AUTOGLM_ASSIGN_OR_RETURN(value, apply_filter_chain(*stmt.filter, std::move(value), frame));
    }
  }
  return locate(assign(stmt.target, value, *frame), stmt.target.offset);
}

Status Interpreter::exec_call_block(const Stmt& stmt, const std::shared_ptr<Frame>& frame) {
  const Expr& call = *stmt.expr;
  AUTOGLM_ASSIGN_OR_RETURN(Value callee, eval(*call.a, frame));
  Args args;
  AUTOGLM_RETURN_IF_ERROR(eval_args(call.args, frame, &args));
  track(frame);
  args.keywords.emplace_back("caller", Value::object(std::make_shared<Macro>(stmt.macro, frame)));
  Expected<Value> result = call_value(callee, args);
  if (!result.has_value()) return locate(result.status(), call.offset);
  AUTOGLM_ASSIGN_OR_RETURN(std::string text, str(*result));
  return write(text);
}

Status Interpreter::exec_for(const Stmt& stmt, const std::shared_ptr<Frame>& frame, const Value& iterable,
                             int depth) {
  Expected<std::vector<Value>> listed = iterate(iterable);
  if (!listed.has_value()) return locate(listed.status(), stmt.expr->offset);
  std::vector<Value> items = std::move(listed).value();
  if (stmt.filter != nullptr) {
    std::vector<Value> kept;
    for (Value& item : items) {
      auto scope = std::make_shared<Frame>(frame);
      AUTOGLM_RETURN_IF_ERROR(locate(assign(stmt.target, item, *scope), stmt.target.offset));
      AUTOGLM_ASSIGN_OR_RETURN(Value keep, eval(*stmt.filter, scope));
      if (keep.truthy()) kept.push_back(std::move(item));
    }
    items = std::move(kept);
  }
  if (items.empty()) return exec_body(stmt.else_body, std::make_shared<Frame>(frame));
  if (stmt.recursive) track(frame);
  const size_t n = items.size();
  auto loop = std::make_shared<LoopContext>(items, depth, stmt, stmt.recursive ? frame : nullptr);
  const Value loop_value = Value::object(loop);
  for (size_t i = 0; i < n; ++i) {
    if (++iterations_ > limits_.max_loop_iterations) {
      return resource_exhausted("template loops exceeded " + std::to_string(limits_.max_loop_iterations) +
                                " iterations");
    }
    loop->set_index(i);
    auto scope = std::make_shared<Frame>(frame);
    AUTOGLM_RETURN_IF_ERROR(locate(assign(stmt.target, items[i], *scope), stmt.target.offset));
    scope->set("loop", loop_value);
    AUTOGLM_RETURN_IF_ERROR(exec_body(stmt.body, scope));
    const Flow flow = flow_;
    flow_ = Flow::kNormal;
    if (flow == Flow::kBreak) break;
  }
  return Status::ok();
}

Expected<Value> Interpreter::render_loop(const Stmt& loop, const std::shared_ptr<Frame>& frame,
                                         const Value& iterable, int depth) {
  if (depth > limits_.max_call_depth) {
    return resource_exhausted("recursive loop nested deeper than " + std::to_string(limits_.max_call_depth));
  }
  std::string buffer;
  std::string* saved = out_;
  out_ = &buffer;
  const Status status = exec_for(loop, frame, iterable, depth);
  out_ = saved;
  AUTOGLM_RETURN_IF_ERROR(status);
  return Value(std::move(buffer));
}

Expected<Value> Interpreter::call_macro(const MacroDefinition& macro, const std::shared_ptr<Frame>& closure,
                                        const Args& args) {
  if (call_depth_ >= limits_.max_call_depth) {
    return resource_exhausted("macro calls nested deeper than " + std::to_string(limits_.max_call_depth) +
                              " (runaway recursion?)");
  }
  auto frame = std::make_shared<Frame>(closure);
  std::vector<std::pair<std::string, Value>> keywords = args.keywords;
  auto pop_keyword = [&](std::string_view name, Value* out) {
    for (auto it = keywords.begin(); it != keywords.end(); ++it) {
      if (it->first == name) {
        *out = std::move(it->second);
        keywords.erase(it);
        return true;
      }
    }
    return false;
  };
  const size_t n = macro.params.size();
  std::vector<std::optional<Value>> bound(n);
  bool found_caller = false;
  for (size_t i = 0; i < n; ++i) {
    if (i < args.positional.size()) {
      bound[i] = args.positional[i];
      continue;
    }
    Value v;
    if (pop_keyword(macro.params[i].name, &v)) bound[i] = std::move(v);
    if (macro.params[i].name == "caller") found_caller = true;
  }
  if (macro.uses_caller && !found_caller) {
    Value c = Value::undefined("No caller defined");
    pop_keyword("caller", &c);
    frame->set("caller", std::move(c));
  }
  if (macro.uses_kwargs) {
    Dict extra;
    for (auto& [key, value] : keywords)
      extra.set(key, std::move(value));
    frame->set("kwargs", Value::dict(std::move(extra)));
  } else if (!keywords.empty()) {
    for (const auto& [key, value] : keywords) {
      if (key == "caller") {
        return type_error(
            "macro '" + macro.name +
            "' was invoked with two values for the special caller argument. This is most likely a bug.");
      }
    }
    return type_error("macro '" + macro.name + "' takes no keyword argument '" + keywords[0].first + "'");
  }
  if (macro.uses_varargs) {
    std::vector<Value> rest;
    for (size_t i = n; i < args.positional.size(); ++i)
      rest.push_back(args.positional[i]);
    frame->set("varargs", Value::tuple(std::move(rest)));
  } else if (args.positional.size() > n) {
    return type_error("macro '" + macro.name + "' takes not more than " + std::to_string(n) + " argument(s)");
  }
  ++call_depth_;
  for (size_t i = 0; i < n; ++i) {
    const MacroParam& param = macro.params[i];
    if (bound[i]) {
      frame->set(param.name, std::move(*bound[i]));
    } else if (param.default_value != nullptr) {
      Expected<Value> v = eval(*param.default_value, frame);
      if (!v.has_value()) {
        --call_depth_;
        return v.status();
      }
      frame->set(param.name, std::move(v).value());
    } else {
      frame->set(param.name, Value::undefined("parameter '" + param.name + "' was not provided"));
    }
  }
  Expected<std::string> text = capture(macro.body, frame);
  --call_depth_;
  if (!text.has_value()) return text.status();
  return Value(std::move(text).value());
}

}  // namespace autoglm::jinja
