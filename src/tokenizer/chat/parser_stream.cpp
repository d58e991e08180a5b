// Token-stream helpers of the parser (expectations, error messages with positions) and assignment targets
// (names, tuples, namespace attributes), shared by statements and expressions.
#include "tokenizer/chat/parser_state.h"

namespace autoglm::jinja {

bool Parser::skip_if(TokenType type) {
  if (current().type != type) return false;
  advance();
  return true;
}

bool Parser::skip_name(std::string_view name) {
  if (!is_name(name)) return false;
  advance();
  return true;
}

Status Parser::error_at_offset(uint32_t offset, const std::string& message) const {
  return parse_error(source_.describe(offset) + ": " + message);
}

Status Parser::error_at(const Token& token, const std::string& message) const {
  return error_at_offset(token.offset, message);
}

Status Parser::expect(TokenType type) {
  if (current().type == type) {
    advance();
    return Status::ok();
  }
  Token wanted;
  wanted.type = type;
  static const char* const kSpellings[] = {"", "", "}}", "", "%}"};
  const auto index = static_cast<size_t>(type);
  if (index < 5) wanted.text = kSpellings[index];
  std::string expected = describe_token(wanted);
  if (current().type == TokenType::kEof) {
    return error_at(current(), "unexpected end of template, expected '" + expected + "'.");
  }
  if (type == TokenType::kComma || type == TokenType::kColon || type == TokenType::kRParen ||
      type == TokenType::kRBracket || type == TokenType::kRBrace || type == TokenType::kAssign) {
    static const std::pair<TokenType, const char*> kOps[] = {
        {TokenType::kComma, ","},    {TokenType::kColon, ":"},  {TokenType::kRParen, ")"},
        {TokenType::kRBracket, "]"}, {TokenType::kRBrace, "}"}, {TokenType::kAssign, "="}};
    for (const auto& [t, text] : kOps) {
      if (t == type) expected = text;
    }
  }
  return error_at(current(), "expected token '" + expected + "', got '" + describe_token(current()) + "'");
}

Status Parser::expect_name(std::string_view name) {
  if (skip_name(name)) return Status::ok();
  if (current().type == TokenType::kEof) {
    return error_at(current(), "unexpected end of template, expected '" + std::string(name) + "'.");
  }
  return error_at(current(),
                  "expected token '" + std::string(name) + "', got '" + describe_token(current()) + "'");
}

Status Parser::check_assignable_name(const Token& token) const {
  const std::string& n = token.text;
  if (n == "true" || n == "false" || n == "none" || n == "True" || n == "False" || n == "None") {
    return error_at(token, "can't assign to 'const'");
  }
  return Status::ok();
}

StmtPtr Parser::make_stmt(StmtKind kind) const {
  auto stmt = std::make_unique<Stmt>();
  stmt->kind = kind;
  stmt->offset = current().offset;
  return stmt;
}

ExprPtr Parser::make_expr(ExprKind kind, uint32_t offset) const {
  auto e = std::make_unique<Expr>();
  e->kind = kind;
  e->offset = offset;
  return e;
}

namespace {

Expected<Target> to_target(const Expr& e, bool with_namespace, const Source& source) {
  Target target;
  target.offset = e.offset;
  if (e.kind == ExprKind::kName) {
    target.name = e.name;
    return target;
  }
  if (e.kind == ExprKind::kGetattr && with_namespace && e.a != nullptr && e.a->kind == ExprKind::kName) {
    target.kind = Target::Kind::kNamespaceAttr;
    target.name = e.a->name;
    target.attribute = e.name;
    return target;
  }
  if (e.kind == ExprKind::kTuple) {
    target.kind = Target::Kind::kTuple;
    for (const ExprPtr& item : e.items) {
      AUTOGLM_ASSIGN_OR_RETURN(Target t, to_target(*item, false, source));
      target.items.push_back(std::move(t));
    }
    return target;
  }
  const char* what = e.kind == ExprKind::kConst ? "const" : e.kind == ExprKind::kList ? "list" : "expression";
  return parse_error(source.describe(e.offset) + ": can't assign to '" + what + "'");
}

}  // namespace

Expected<Target> Parser::parse_assign_target(bool with_tuple, bool name_only,
                                             const std::vector<std::string_view>& extra_end_rules,
                                             bool with_namespace) {
  if (name_only) {
    if (current().type != TokenType::kName) return error_at(current(), "expected name");
    Target target;
    target.offset = current().offset;
    target.name = current().text;
    advance();
    return target;
  }
  // A namespace reference ns.attr is only valid as a whole target (jinja2's parse_primary(with_namespace)).
  if (with_namespace && current().type == TokenType::kName && look().type == TokenType::kDot) {
    Target target;
    target.kind = Target::Kind::kNamespaceAttr;
    target.offset = current().offset;
    target.name = current().text;
    advance();
    advance();
    if (current().type != TokenType::kName) return error_at(current(), "expected token 'name'");
    target.attribute = current().text;
    advance();
    if (!(with_tuple && current().type == TokenType::kComma)) return target;
    return error_at(current(), "namespace attributes cannot be assigned as part of a tuple");
  }
  ExprPtr expr;
  if (with_tuple) {
    AUTOGLM_ASSIGN_OR_RETURN(expr, parse_tuple(true, true, extra_end_rules, false));
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(expr, parse_primary());
  }
  return to_target(*expr, with_namespace, source_);
}

}  // namespace autoglm::jinja
