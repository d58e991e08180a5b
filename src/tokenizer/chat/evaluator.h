// Renders a parsed template with jinja2's runtime semantics as HF configures it
// (ImmutableSandboxedEnvironment, default Undefined, autoescape off):
//   - scopes: {% set %} at template level and in if-blocks writes the current scope; each for-loop iteration,
//     macro call, call/filter/set block and with-block has its own scope that reads through to the enclosing
//     one (macros read the scope they were defined in, at call time);
//   - Undefined prints as "", is falsy and iterates as empty; arithmetic on it, calling it, or reading its
//     attributes and items fails with jinja2's UndefinedError message;
//   - the sandbox: list and dict methods that mutate are refused (SecurityError), range() is capped at
//   100000;
//   - runaway protection: evaluation steps, loop iterations, macro call depth and output/string sizes are
//     bounded (RenderLimits); exceeding any bound fails with kResourceExhausted.
// Internal to the chat template implementation.
#pragma once

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/chat/ast.h"
#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/parser.h"
#include "tokenizer/chat/value.h"

namespace autoglm::jinja {

// Bound on the interpreter's recursion (expressions, statements and macro bodies nested in each other).
inline constexpr int kMaxNesting = 1000;

struct RenderLimits {
  int64_t max_steps = 20'000'000;           // expression and statement evaluations
  int64_t max_loop_iterations = 2'000'000;  // for-loop iterations, all loops together
  int max_call_depth = 100;                 // nested macro calls (recursion)
  size_t max_output_bytes = 32u << 20;      // the rendered text, and any single string or list built
};

// A variable scope. Lookups walk the parent chain to the render's globals.
class Frame {
 public:
  explicit Frame(std::shared_ptr<Frame> parent) : parent_(std::move(parent)) {}
  const Value* lookup(std::string_view name) const;
  // Only this scope, not its parents.
  const Value* find_local(std::string_view name) const;
  void set(std::string_view name, Value value);
  void clear() { vars_.clear(); }
  const std::shared_ptr<Frame>& parent() const { return parent_; }

 private:
  std::shared_ptr<Frame> parent_;
  std::vector<std::pair<std::string, Value>> vars_;
};

// Objects templates can call: builtins, macros, bound methods, loop(...).
class Callable : public Object {
 public:
  bool is_callable() const override { return true; }
  virtual Expected<Value> call(Interpreter& interp, const Args& args) = 0;
};

// HF's TemplateNamespace: attributes assigned with {% set ns.attr = value %}.
class Namespace : public Object {
 public:
  std::string type_name() const override { return "TemplateNamespace"; }
  Value get_attr(std::string_view name) const override;
  std::string repr(size_t max_bytes) const override;
  Dict attributes;
};

class Interpreter {
 public:
  Interpreter(const ParsedTemplate& parsed, const RenderLimits& limits, const std::tm& now);
  ~Interpreter();
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Renders the template body with `globals` as the outermost scope. Runtime errors carry their position
  // ("line 3, column 5: TypeError: ..."), except raise_exception(), whose message is returned as it is.
  Expected<std::string> render(std::shared_ptr<Frame> globals);

  // Services for builtins.
  Status count_step();
  // Fails when a string or list of `size` bytes/items would exceed the size limit.
  Status check_size(size_t size) const;
  size_t max_text_bytes() const { return limits_.max_output_bytes; }
  // Python's str() of a value (jinja2's soft_str), failing beyond the size limit.
  Expected<std::string> str(const Value& value) const;
  const std::tm& now() const { return now_; }
  // Marks the error being returned as raise_exception()'s, reported verbatim.
  Status raise(const std::string& message);
  Expected<Value> call_value(const Value& callee, const Args& args);
  Expected<Value> getattr(const Value& obj, std::string_view name);
  Expected<Value> getitem(const Value& obj, const Value& key);
  // Python iteration: list/tuple items, dict keys, string code points; Undefined is empty.
  Expected<std::vector<Value>> iterate(const Value& value);
  Expected<Value> apply_filter(std::string_view name, const Value& input, const Args& args);
  Expected<bool> apply_test(std::string_view name, const Value& input, const Args& args);
  // Namespaces and closures are cleared when the render ends, which breaks reference cycles between them.
  void track(std::shared_ptr<Namespace> ns) { namespaces_.push_back(std::move(ns)); }
  void track(std::shared_ptr<Frame> closure) { closures_.push_back(std::move(closure)); }

  // Evaluates an expression; a failure remembers the innermost failing expression's position.
  Expected<Value> eval(const Expr& expr, const std::shared_ptr<Frame>& frame);
  // Used by Macro and LoopContext (evaluator.cpp).
  Expected<Value> call_macro(const MacroDefinition& macro, const std::shared_ptr<Frame>& closure,
                             const Args& args);
  Expected<Value> render_loop(const Stmt& loop, const std::shared_ptr<Frame>& frame, const Value& iterable,
                              int depth);
  // Applies the filters of a {% filter %} or {% set x | f %} chain (whose innermost input is null) to
  // `input`.
  Expected<Value> apply_filter_chain(const Expr& chain, Value input, const std::shared_ptr<Frame>& frame);

 private:
  Status exec_body(const Body& body, const std::shared_ptr<Frame>& frame);
  Status exec(const Stmt& stmt, const std::shared_ptr<Frame>& frame);
  Status exec_for(const Stmt& stmt, const std::shared_ptr<Frame>& frame, const Value& iterable, int depth);
  Status exec_set(const Stmt& stmt, const std::shared_ptr<Frame>& frame);
  Status exec_call_block(const Stmt& stmt, const std::shared_ptr<Frame>& frame);
  Status assign(const Target& target, const Value& value, Frame& frame);
  Expected<std::string> capture(const Body& body, const std::shared_ptr<Frame>& frame);
  Status write(std::string_view text);
  Status locate(Status status, uint32_t offset);
  Expected<Value> eval_node(const Expr& expr, const std::shared_ptr<Frame>& frame);
  Expected<Value> eval_call(const Expr& expr, const std::shared_ptr<Frame>& frame);
  Status eval_args(const CallArgs& call, const std::shared_ptr<Frame>& frame, Args* args);
  Expected<Value> eval_compare(const Expr& expr, const std::shared_ptr<Frame>& frame);

  const ParsedTemplate& parsed_;
  RenderLimits limits_;
  std::tm now_;
  std::string* out_ = nullptr;
  int64_t steps_ = 0;
  int64_t iterations_ = 0;
  int call_depth_ = 0;
  // Nesting of eval/exec calls (the C++ recursion of this interpreter), bounded so that pathological
  // templates (deep expressions inside deep macro recursion) cannot overflow the thread's stack.
  int nesting_ = 0;
  enum class Flow { kNormal, kBreak, kContinue };
  Flow flow_ = Flow::kNormal;
  std::optional<uint32_t> error_offset_;
  bool raised_ = false;
  std::vector<std::shared_ptr<Namespace>> namespaces_;
  std::vector<std::shared_ptr<Frame>> closures_;
};

}  // namespace autoglm::jinja
