// Expression grammar, jinja2's precedence from loosest to tightest:
//   x if c else y  <  or  <  and  <  not  <  comparisons, in, not in  <  + -  <  ~  <  * / // %  <  **
//   <  unary - +  <  primary with postfix .attr [key] (call) and then filters | f and tests `is t`.
// Note jinja2's quirks kept here: -x|f is (-x)|f, and tests/filters bind tighter than any binary operator.
#include <optional>

#include "tokenizer/chat/parser_state.h"

namespace autoglm::jinja {

Expected<ExprPtr> Parser::parse_expression(bool with_condexpr) {
  return with_condexpr ? parse_condexpr() : parse_or();
}

Expected<ExprPtr> Parser::parse_condexpr() {
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr expr1, parse_or());
  while (is_name("if")) {
    const uint32_t offset = current().offset;
    advance();
    auto cond = make_expr(ExprKind::kCondExpr, offset);
    AUTOGLM_ASSIGN_OR_RETURN(cond->a, parse_or());
    if (skip_name("else")) {
      AUTOGLM_ASSIGN_OR_RETURN(cond->c, parse_condexpr());
    }
    cond->b = std::move(expr1);
    expr1 = std::move(cond);
  }
  return expr1;
}

Expected<ExprPtr> Parser::parse_or() {
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr left, parse_and());
  while (is_name("or")) {
    auto node = make_expr(ExprKind::kOr, current().offset);
    advance();
    AUTOGLM_ASSIGN_OR_RETURN(node->b, parse_and());
    node->a = std::move(left);
    left = std::move(node);
  }
  return left;
}

Expected<ExprPtr> Parser::parse_and() {
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr left, parse_not());
  while (is_name("and")) {
    auto node = make_expr(ExprKind::kAnd, current().offset);
    advance();
    AUTOGLM_ASSIGN_OR_RETURN(node->b, parse_not());
    node->a = std::move(left);
    left = std::move(node);
  }
  return left;
}

Expected<ExprPtr> Parser::parse_not() {
  if (!is_name("not")) return parse_compare();
  auto node = make_expr(ExprKind::kNot, current().offset);
  advance();
  if (++depth_ > kMaxParseDepth) return resource_exhausted("template expression nested too deeply");
  AUTOGLM_ASSIGN_OR_RETURN(node->a, parse_not());
  --depth_;
  return node;
}

Expected<ExprPtr> Parser::parse_compare() {
  const uint32_t offset = current().offset;
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr expr, parse_math1());
  std::vector<std::pair<CompareOp, ExprPtr>> ops;
  while (true) {
    const TokenType t = current().type;
    CompareOp op;
    if (t == TokenType::kEq || t == TokenType::kNe || t == TokenType::kLt || t == TokenType::kLtEq ||
        t == TokenType::kGt || t == TokenType::kGtEq) {
      op = t == TokenType::kEq     ? CompareOp::kEq
           : t == TokenType::kNe   ? CompareOp::kNe
           : t == TokenType::kLt   ? CompareOp::kLt
           : t == TokenType::kLtEq ? CompareOp::kLtEq
           : t == TokenType::kGt   ? CompareOp::kGt
                                   : CompareOp::kGtEq;
      advance();
    } else if (is_name("in")) {
      op = CompareOp::kIn;
      advance();
    } else if (is_name("not") && look().type == TokenType::kName && look().text == "in") {
      op = CompareOp::kNotIn;
      advance();
      advance();
    } else {
      break;
    }
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr operand, parse_math1());
    ops.emplace_back(op, std::move(operand));
  }
  if (ops.empty()) return expr;
  auto node = make_expr(ExprKind::kCompare, offset);
  node->a = std::move(expr);
  node->comparisons = std::move(ops);
  return node;
}

Expected<ExprPtr> Parser::parse_math1() {
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr left, parse_concat());
  while (current().type == TokenType::kAdd || current().type == TokenType::kSub) {
    auto node = make_expr(ExprKind::kBinary, current().offset);
    node->op = current().type == TokenType::kAdd ? BinaryOp::kAdd : BinaryOp::kSub;
    advance();
    AUTOGLM_ASSIGN_OR_RETURN(node->b, parse_concat());
    node->a = std::move(left);
    left = std::move(node);
  }
  return left;
}

Expected<ExprPtr> Parser::parse_concat() {
  const uint32_t offset = current().offset;
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr first, parse_math2());
  if (current().type != TokenType::kTilde) return first;
  auto node = make_expr(ExprKind::kConcat, offset);
  node->items.push_back(std::move(first));
  while (skip_if(TokenType::kTilde)) {
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr next, parse_math2());
    node->items.push_back(std::move(next));
  }
  return node;
}

Expected<ExprPtr> Parser::parse_math2() {
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr left, parse_pow());
  while (true) {
    const TokenType t = current().type;
    if (t != TokenType::kMul && t != TokenType::kDiv && t != TokenType::kFloorDiv && t != TokenType::kMod)
      break;
    auto node = make_expr(ExprKind::kBinary, current().offset);
    node->op = t == TokenType::kMul   ? BinaryOp::kMul
               : t == TokenType::kDiv ? BinaryOp::kDiv
               : t == TokenType::kMod ? BinaryOp::kMod
                                      : BinaryOp::kFloorDiv;
    advance();
    AUTOGLM_ASSIGN_OR_RETURN(node->b, parse_pow());
    node->a = std::move(left);
    left = std::move(node);
  }
  return left;
}

namespace {

// The value jinja2's compile-time folding gives a numeric expression made of literals, unary signs and
// arithmetic; nullopt when the expression is not such a constant.
std::optional<double> folded_number(const Expr& e) {
  if (e.kind == ExprKind::kConst) {
    if (e.value.is_number()) return e.value.as_double();
    return std::nullopt;
  }
  if (e.kind == ExprKind::kNeg || e.kind == ExprKind::kPos) {
    const std::optional<double> v = folded_number(*e.a);
    if (!v) return std::nullopt;
    return e.kind == ExprKind::kNeg ? -*v : *v;
  }
  if (e.kind != ExprKind::kBinary) return std::nullopt;
  const std::optional<double> a = folded_number(*e.a);
  const std::optional<double> b = folded_number(*e.b);
  if (!a || !b) return std::nullopt;
  if (e.op == BinaryOp::kAdd) return *a + *b;
  if (e.op == BinaryOp::kSub) return *a - *b;
  if (e.op == BinaryOp::kMul) return *a * *b;
  if (e.op == BinaryOp::kDiv && *b != 0) return *a / *b;
  return std::nullopt;  // floor division, modulo and powers of constants do not occur as bases in practice
}

bool is_folded_constant(const Expr& e) {
  if (e.kind == ExprKind::kConst) return true;
  if (e.kind == ExprKind::kNeg || e.kind == ExprKind::kPos || e.kind == ExprKind::kNot)
    return is_folded_constant(*e.a);
  if (e.kind == ExprKind::kBinary) return is_folded_constant(*e.a) && is_folded_constant(*e.b);
  return false;
}

}  // namespace

Expected<ExprPtr> Parser::parse_pow() {
  AUTOGLM_ASSIGN_OR_RETURN(ExprPtr left, parse_unary(true));
  while (current().type == TokenType::kPow) {
    auto node = make_expr(ExprKind::kBinary, current().offset);
    node->op = BinaryOp::kPow;
    advance();
    AUTOGLM_ASSIGN_OR_RETURN(node->b, parse_unary(true));
    const std::optional<double> base = folded_number(*left);
    node->negated_power = base && *base < 0 && !is_folded_constant(*node->b);
    node->a = std::move(left);
    left = std::move(node);
  }
  return left;
}

Expected<ExprPtr> Parser::parse_unary(bool with_filter) {
  if (++depth_ > kMaxParseDepth) return resource_exhausted("template expression nested too deeply");
  ExprPtr node;
  const TokenType t = current().type;
  if (t == TokenType::kSub || t == TokenType::kAdd) {
    node = make_expr(t == TokenType::kSub ? ExprKind::kNeg : ExprKind::kPos, current().offset);
    advance();
    AUTOGLM_ASSIGN_OR_RETURN(node->a, parse_unary(false));
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(node, parse_primary());
  }
  AUTOGLM_ASSIGN_OR_RETURN(node, parse_postfix(std::move(node)));
  if (with_filter) {
    AUTOGLM_ASSIGN_OR_RETURN(node, parse_filter_expr(std::move(node)));
  }
  --depth_;
  return node;
}

Expected<ExprPtr> Parser::parse_primary() {
  const Token& token = current();
  if (token.type == TokenType::kName) {
    const std::string& n = token.text;
    ExprPtr node;
    if (n == "true" || n == "false" || n == "True" || n == "False") {
      node = make_expr(ExprKind::kConst, token.offset);
      node->value = Value(n == "true" || n == "True");
    } else if (n == "none" || n == "None") {
      node = make_expr(ExprKind::kConst, token.offset);
      node->value = Value::none();
    } else {
      node = make_expr(ExprKind::kName, token.offset);
      node->name = n;
    }
    advance();
    return node;
  }
  if (token.type == TokenType::kString) {
    auto node = make_expr(ExprKind::kConst, token.offset);
    std::string text;
    while (current().type == TokenType::kString) {
      text += current().text;
      advance();
    }
    node->value = Value(std::move(text));
    return node;
  }
  if (token.type == TokenType::kInteger || token.type == TokenType::kFloat) {
    auto node = make_expr(ExprKind::kConst, token.offset);
    node->value = token.type == TokenType::kInteger ? Value(token.int_value) : Value(token.float_value);
    advance();
    return node;
  }
  if (token.type == TokenType::kLParen) {
    advance();
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr node, parse_tuple(false, true, {}, true));
    AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kRParen));
    return node;
  }
  if (token.type == TokenType::kLBracket) return parse_list();
  if (token.type == TokenType::kLBrace) return parse_dict();
  return error_at(token, "unexpected '" + describe_token(token) + "'");
}

bool Parser::is_tuple_end(const std::vector<std::string_view>& extra_end_rules) const {
  const TokenType t = current().type;
  if (t == TokenType::kVariableEnd || t == TokenType::kBlockEnd || t == TokenType::kRParen) return true;
  for (std::string_view rule : extra_end_rules) {
    if (is_name(rule)) return true;
  }
  return false;
}

Expected<ExprPtr> Parser::parse_tuple(bool simplified, bool with_condexpr,
                                      const std::vector<std::string_view>& extra_end_rules,
                                      bool explicit_parentheses) {
  const uint32_t offset = current().offset;
  std::vector<ExprPtr> args;
  bool is_tuple = false;
  while (true) {
    if (!args.empty()) AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
    if (is_tuple_end(extra_end_rules)) break;
    ExprPtr item;
    if (simplified) {
      AUTOGLM_ASSIGN_OR_RETURN(item, parse_primary());
    } else {
      AUTOGLM_ASSIGN_OR_RETURN(item, parse_expression(with_condexpr));
    }
    args.push_back(std::move(item));
    if (current().type != TokenType::kComma) break;
    is_tuple = true;
  }
  if (!is_tuple) {
    if (!args.empty()) return std::move(args[0]);
    if (!explicit_parentheses) {
      return error_at(current(), "Expected an expression, got '" + describe_token(current()) + "'");
    }
  }
  auto node = make_expr(ExprKind::kTuple, offset);
  node->items = std::move(args);
  return node;
}

Expected<ExprPtr> Parser::parse_list() {
  auto node = make_expr(ExprKind::kList, current().offset);
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kLBracket));
  while (current().type != TokenType::kRBracket) {
    if (!node->items.empty()) AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
    if (current().type == TokenType::kRBracket) break;
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr item, parse_expression(true));
    node->items.push_back(std::move(item));
  }
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kRBracket));
  return node;
}

Expected<ExprPtr> Parser::parse_dict() {
  auto node = make_expr(ExprKind::kDict, current().offset);
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kLBrace));
  while (current().type != TokenType::kRBrace) {
    if (!node->items.empty()) AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
    if (current().type == TokenType::kRBrace) break;
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr key, parse_expression(true));
    AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kColon));
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
    node->items.push_back(std::move(key));
    node->items.push_back(std::move(value));
  }
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kRBrace));
  return node;
}

Expected<ExprPtr> Parser::parse_postfix(ExprPtr node) {
  while (true) {
    const TokenType t = current().type;
    if (t == TokenType::kDot || t == TokenType::kLBracket) {
      AUTOGLM_ASSIGN_OR_RETURN(node, parse_subscript(std::move(node)));
    } else if (t == TokenType::kLParen) {
      AUTOGLM_ASSIGN_OR_RETURN(node, parse_call(std::move(node)));
    } else {
      return node;
    }
  }
}

Expected<ExprPtr> Parser::parse_filter_expr(ExprPtr node) {
  while (true) {
    const TokenType t = current().type;
    if (t == TokenType::kPipe) {
      AUTOGLM_ASSIGN_OR_RETURN(node, parse_filter(std::move(node), false));
    } else if (is_name("is")) {
      AUTOGLM_ASSIGN_OR_RETURN(node, parse_test(std::move(node)));
    } else if (t == TokenType::kLParen) {
      AUTOGLM_ASSIGN_OR_RETURN(node, parse_call(std::move(node)));
    } else {
      return node;
    }
  }
}

Expected<ExprPtr> Parser::parse_subscript(ExprPtr node) {
  const Token token = current();
  advance();
  if (token.type == TokenType::kDot) {
    const Token attr = current();
    advance();
    if (attr.type == TokenType::kName) {
      auto get = make_expr(ExprKind::kGetattr, token.offset);
      get->a = std::move(node);
      get->name = attr.text;
      return get;
    }
    if (attr.type != TokenType::kInteger) return error_at(attr, "expected name or number");
    auto get = make_expr(ExprKind::kGetitem, token.offset);
    get->a = std::move(node);
    get->b = make_expr(ExprKind::kConst, attr.offset);
    get->b->value = Value(attr.int_value);
    return get;
  }
  std::vector<ExprPtr> args;
  while (current().type != TokenType::kRBracket) {
    if (!args.empty()) AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr arg, parse_subscribed());
    args.push_back(std::move(arg));
  }
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kRBracket));
  auto get = make_expr(ExprKind::kGetitem, token.offset);
  get->a = std::move(node);
  if (args.size() == 1) {
    get->b = std::move(args[0]);
  } else {
    get->b = make_expr(ExprKind::kTuple, token.offset);
    get->b->items = std::move(args);
  }
  return get;
}

Expected<ExprPtr> Parser::parse_subscribed() {
  const uint32_t offset = current().offset;
  auto slice = make_expr(ExprKind::kSlice, offset);
  if (current().type == TokenType::kColon) {
    advance();
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr node, parse_expression(true));
    if (current().type != TokenType::kColon) return node;
    advance();
    slice->a = std::move(node);
  }
  const TokenType t = current().type;
  if (t != TokenType::kColon && t != TokenType::kRBracket && t != TokenType::kComma) {
    AUTOGLM_ASSIGN_OR_RETURN(slice->b, parse_expression(true));
  }
  if (skip_if(TokenType::kColon)) {
    const TokenType u = current().type;
    if (u != TokenType::kRBracket && u != TokenType::kComma) {
      AUTOGLM_ASSIGN_OR_RETURN(slice->c, parse_expression(true));
    }
  }
  return slice;
}

Status Parser::parse_call_args(CallArgs* args) {
  const Token open = current();
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kLParen));
  bool require_comma = false;
  auto ensure = [&](bool ok) {
    return ok ? Status::ok() : error_at(open, "invalid syntax for function call expression");
  };
  while (current().type != TokenType::kRParen) {
    if (require_comma) {
      AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
      if (current().type == TokenType::kRParen) break;
    }
    if (current().type == TokenType::kMul) {
      AUTOGLM_RETURN_IF_ERROR(ensure(args->star_args == nullptr && args->star_kwargs == nullptr));
      advance();
      AUTOGLM_ASSIGN_OR_RETURN(args->star_args, parse_expression(true));
    } else if (current().type == TokenType::kPow) {
      AUTOGLM_RETURN_IF_ERROR(ensure(args->star_kwargs == nullptr));
      advance();
      AUTOGLM_ASSIGN_OR_RETURN(args->star_kwargs, parse_expression(true));
    } else if (current().type == TokenType::kName && look().type == TokenType::kAssign) {
      AUTOGLM_RETURN_IF_ERROR(ensure(args->star_kwargs == nullptr));
      std::string key = current().text;
      advance();
      advance();
      AUTOGLM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
      args->keywords.emplace_back(std::move(key), std::move(value));
    } else {
      AUTOGLM_RETURN_IF_ERROR(
          ensure(args->star_args == nullptr && args->star_kwargs == nullptr && args->keywords.empty()));
      AUTOGLM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
      args->positional.push_back(std::move(value));
    }
    require_comma = true;
  }
  return expect(TokenType::kRParen);
}

Expected<ExprPtr> Parser::parse_call(ExprPtr node) {
  auto call = make_expr(ExprKind::kCall, current().offset);
  AUTOGLM_RETURN_IF_ERROR(parse_call_args(&call->args));
  call->a = std::move(node);
  return call;
}

Expected<ExprPtr> Parser::parse_filter(ExprPtr node, bool start_inline) {
  while (current().type == TokenType::kPipe || start_inline) {
    if (!start_inline) advance();
    start_inline = false;
    if (current().type != TokenType::kName)
      return error_at(current(), "expected token 'name', got '" + describe_token(current()) + "'");
    auto filter = make_expr(ExprKind::kFilter, current().offset);
    filter->name = current().text;
    advance();
    while (skip_if(TokenType::kDot)) {
      if (current().type != TokenType::kName) return error_at(current(), "expected token 'name'");
      filter->name += "." + current().text;
      advance();
    }
    if (current().type == TokenType::kLParen) AUTOGLM_RETURN_IF_ERROR(parse_call_args(&filter->args));
    filter->a = std::move(node);
    node = std::move(filter);
  }
  return node;
}

Expected<ExprPtr> Parser::parse_test(ExprPtr node) {
  const uint32_t offset = current().offset;
  advance();  // "is"
  const bool negated = skip_name("not");
  if (current().type != TokenType::kName) {
    return error_at(current(), "expected token 'name', got '" + describe_token(current()) + "'");
  }
  auto test = make_expr(ExprKind::kTest, offset);
  test->name = current().text;
  advance();
  while (skip_if(TokenType::kDot)) {
    if (current().type != TokenType::kName) return error_at(current(), "expected token 'name'");
    test->name += "." + current().text;
    advance();
  }
  const TokenType t = current().type;
  if (t == TokenType::kLParen) {
    AUTOGLM_RETURN_IF_ERROR(parse_call_args(&test->args));
  } else if ((t == TokenType::kName || t == TokenType::kString || t == TokenType::kInteger ||
              t == TokenType::kFloat || t == TokenType::kLBracket || t == TokenType::kLBrace) &&
             !is_name("else") && !is_name("or") && !is_name("and")) {
    if (is_name("is")) return error_at(current(), "You cannot chain multiple tests with is");
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr arg, parse_primary());
    AUTOGLM_ASSIGN_OR_RETURN(arg, parse_postfix(std::move(arg)));
    test->args.positional.push_back(std::move(arg));
  }
  test->a = std::move(node);
  if (!negated) return test;
  auto n = make_expr(ExprKind::kNot, offset);
  n->a = std::move(test);
  return n;
}

}  // namespace autoglm::jinja
