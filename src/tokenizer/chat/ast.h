// The syntax tree of a parsed template: jinja2's node types, flattened into one expression struct and one
// statement struct (each node uses the fields its kind documents). Trees are immutable after parsing and
// shared by every render of the template.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tokenizer/chat/value.h"

namespace autoglm::jinja {

struct Expr;
struct Stmt;
using ExprPtr = std::unique_ptr<Expr>;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

enum class ExprKind {
  kConst,     // value
  kName,      // name
  kGetattr,   // a.name
  kGetitem,   // a[b]
  kSlice,     // a:b:c inside a subscript; null parts are omitted bounds
  kList,      // [items...]
  kTuple,     // (items...)
  kDict,      // {items[0]: items[1], ...} (keys and values alternate)
  kNeg,       // -a
  kPos,       // +a
  kNot,       // not a
  kBinary,    // a op b
  kAnd,       // a and b
  kOr,        // a or b
  kConcat,    // items[0] ~ items[1] ~ ...
  kCompare,   // a ops[0] ... (chained: a < b < c)
  kCondExpr,  // b if a else c (c may be null)
  kCall,      // a(args)
  kFilter,    // a | name(args); a is null inside {% filter %} / {% set x | f %}
  kTest,      // a is name(args)
};

enum class BinaryOp { kAdd, kSub, kMul, kDiv, kFloorDiv, kMod, kPow };
enum class CompareOp { kEq, kNe, kLt, kLtEq, kGt, kGtEq, kIn, kNotIn };

struct CallArgs {
  std::vector<ExprPtr> positional;
  std::vector<std::pair<std::string, ExprPtr>> keywords;
  ExprPtr star_args;    // *args
  ExprPtr star_kwargs;  // **kwargs
};

struct Expr {
  ExprKind kind = ExprKind::kConst;
  uint32_t offset = 0;  // position in the normalized source, for error messages
  Value value;
  std::string name;
  BinaryOp op = BinaryOp::kAdd;
  ExprPtr a;
  ExprPtr b;
  ExprPtr c;
  std::vector<ExprPtr> items;
  std::vector<std::pair<CompareOp, ExprPtr>> comparisons;
  CallArgs args;
  // kFilter / kTest whose name is unknown at parse time inside an if or conditional expression: jinja2 only
  // fails when such a filter or test is actually applied.
  bool unknown_callee = false;
  // kBinary kPow whose left operand jinja2 folds to a negative number while the right one is not constant:
  // its generated Python reads "-3 ** x", i.e. -(3 ** x). Kept for byte-exactness.
  bool negated_power = false;
};

// The left side of an assignment or a loop variable.
struct Target {
  enum class Kind { kName, kNamespaceAttr, kTuple };
  Kind kind = Kind::kName;
  uint32_t offset = 0;
  std::string name;       // kName, or the namespace variable of kNamespaceAttr
  std::string attribute;  // kNamespaceAttr
  std::vector<Target> items;
};

struct MacroParam {
  std::string name;
  ExprPtr default_value;  // null: required
};

struct MacroDefinition {
  std::string name;
  std::vector<MacroParam> params;
  Body body;
  // Whether the body reads these names, which makes the macro accept extra arguments (jinja2's rule).
  bool uses_varargs = false;
  bool uses_kwargs = false;
  bool uses_caller = false;
};

enum class StmtKind {
  kOutput,       // pieces: template data and {{ expressions }}
  kIf,           // branches (test, body), else_body
  kFor,          // target in iter [if filter] [recursive]: body, else_body
  kSet,          // target = expr
  kSetBlock,     // {% set target | filters %}body{% endset %}: expr is the filter chain or null
  kMacro,        // macro
  kCallBlock,    // {% call(params) expr %}body{% endcall %}: macro is the caller
  kFilterBlock,  // {% filter expr %}body{% endfilter %}
  kWith,         // {% with targets = values %}body{% endwith %}
  kBreak,
  kContinue,
  kScope,  // {% generation %}, {% block %}: the body, rendered in place
};

struct OutputPiece {
  std::string data;  // used when expr is null
  ExprPtr expr;
};

struct IfBranch {
  ExprPtr test;
  Body body;
};

struct Stmt {
  StmtKind kind = StmtKind::kOutput;
  uint32_t offset = 0;
  std::vector<OutputPiece> pieces;
  std::vector<IfBranch> branches;
  Body body;
  Body else_body;
  Target target;
  std::vector<Target> targets;
  std::vector<ExprPtr> values;
  ExprPtr expr;
  ExprPtr filter;
  bool recursive = false;
  std::shared_ptr<const MacroDefinition> macro;
};

}  // namespace autoglm::jinja
