#include "tokenizer/chat/parser.h"

#include <initializer_list>

#include "tokenizer/chat/builtins.h"
#include "tokenizer/chat/parser_state.h"

namespace autoglm::jinja {
namespace {

constexpr std::string_view kStatementKeywords[] = {"for",    "if",    "block",   "extends",
                                                   "print",  "macro", "include", "from",
                                                   "import", "set",   "with",    "autoescape"};

bool is_statement_keyword(std::string_view name) {
  for (std::string_view k : kStatementKeywords) {
    if (k == name) return true;
  }
  return false;
}

// Post-parse check of filter and test names, jinja2's compile-time rule: an unknown name is an error, except
// inside an if statement or a conditional expression (a "soft" frame), where it only fails when applied.
class CalleeChecker {
 public:
  explicit CalleeChecker(const Source& source) : source_(source) {}

  Status body(Body& body, bool soft) {
    for (StmtPtr& stmt : body)
      AUTOGLM_RETURN_IF_ERROR(statement(*stmt, soft));
    return Status::ok();
  }

 private:
  Status statement(Stmt& s, bool soft) {
    for (OutputPiece& piece : s.pieces)
      AUTOGLM_RETURN_IF_ERROR(expr(piece.expr.get(), soft));
    for (IfBranch& branch : s.branches) {
      AUTOGLM_RETURN_IF_ERROR(expr(branch.test.get(), true));
      AUTOGLM_RETURN_IF_ERROR(body(branch.body, true));
    }
    const bool inner_soft = s.kind == StmtKind::kIf;
    for (ExprPtr& value : s.values)
      AUTOGLM_RETURN_IF_ERROR(expr(value.get(), soft));
    AUTOGLM_RETURN_IF_ERROR(expr(
        s.expr.get(), s.kind == StmtKind::kFor || s.kind == StmtKind::kSet || s.kind == StmtKind::kCallBlock
                          ? soft
                          : inner_soft));
    AUTOGLM_RETURN_IF_ERROR(expr(s.filter.get(), false));
    AUTOGLM_RETURN_IF_ERROR(body(s.body, inner_soft));
    AUTOGLM_RETURN_IF_ERROR(body(s.else_body, inner_soft));
    if (s.macro != nullptr) {
      auto& macro = const_cast<MacroDefinition&>(*s.macro);
      for (MacroParam& param : macro.params)
        AUTOGLM_RETURN_IF_ERROR(expr(param.default_value.get(), false));
      AUTOGLM_RETURN_IF_ERROR(body(macro.body, false));
    }
    return Status::ok();
  }

  Status expr(Expr* e, bool soft) {
    if (e == nullptr) return Status::ok();
    if (e->kind == ExprKind::kCondExpr) soft = true;
    if (e->kind == ExprKind::kFilter || e->kind == ExprKind::kTest) {
      const bool known =
          e->kind == ExprKind::kFilter ? find_filter(e->name) != nullptr : find_test(e->name) != nullptr;
      if (!known) {
        if (!soft) {
          return parse_error(source_.describe(e->offset) + ": No " +
                             (e->kind == ExprKind::kFilter ? "filter" : "test") + " named '" + e->name +
                             "'.");
        }
        e->unknown_callee = true;
      }
    }
    for (Expr* child : {e->a.get(), e->b.get(), e->c.get()})
      AUTOGLM_RETURN_IF_ERROR(expr(child, soft));
    for (ExprPtr& item : e->items)
      AUTOGLM_RETURN_IF_ERROR(expr(item.get(), soft));
    for (auto& [op, operand] : e->comparisons)
      AUTOGLM_RETURN_IF_ERROR(expr(operand.get(), soft));
    for (ExprPtr& arg : e->args.positional)
      AUTOGLM_RETURN_IF_ERROR(expr(arg.get(), soft));
    for (auto& [name, arg] : e->args.keywords)
      AUTOGLM_RETURN_IF_ERROR(expr(arg.get(), soft));
    AUTOGLM_RETURN_IF_ERROR(expr(e->args.star_args.get(), soft));
    return expr(e->args.star_kwargs.get(), soft);
  }

  const Source& source_;
};

// Whether an expression tree reads a name (macro bodies: varargs, kwargs, caller).
bool reads_name(const Expr* e, std::string_view name);

bool body_reads_name(const Body& body, std::string_view name) {
  for (const StmtPtr& s : body) {
    for (const OutputPiece& p : s->pieces) {
      if (reads_name(p.expr.get(), name)) return true;
    }
    for (const IfBranch& b : s->branches) {
      if (reads_name(b.test.get(), name) || body_reads_name(b.body, name)) return true;
    }
    for (const ExprPtr& v : s->values) {
      if (reads_name(v.get(), name)) return true;
    }
    if (reads_name(s->expr.get(), name) || reads_name(s->filter.get(), name)) return true;
    if (body_reads_name(s->body, name) || body_reads_name(s->else_body, name)) return true;
    if (s->kind == StmtKind::kCallBlock && s->macro != nullptr && body_reads_name(s->macro->body, name))
      return true;
  }
  return false;
}

bool reads_name(const Expr* e, std::string_view name) {
  if (e == nullptr) return false;
  if (e->kind == ExprKind::kName && e->name == name) return true;
  for (const Expr* child : {e->a.get(), e->b.get(), e->c.get()}) {
    if (reads_name(child, name)) return true;
  }
  for (const ExprPtr& item : e->items) {
    if (reads_name(item.get(), name)) return true;
  }
  for (const auto& [op, operand] : e->comparisons) {
    if (reads_name(operand.get(), name)) return true;
  }
  for (const ExprPtr& arg : e->args.positional) {
    if (reads_name(arg.get(), name)) return true;
  }
  for (const auto& [key, arg] : e->args.keywords) {
    if (reads_name(arg.get(), name)) return true;
  }
  return reads_name(e->args.star_args.get(), name) || reads_name(e->args.star_kwargs.get(), name);
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Statements

Status Parser::fail_unknown_tag(const Token& token, const std::string* name) {
  std::string message =
      name == nullptr ? "Unexpected end of template." : "Encountered unknown tag '" + *name + "'.";
  if (!end_token_stack_.empty()) {
    std::string looking;
    bool expected = false;
    for (const auto& ends : end_token_stack_) {
      for (std::string_view end : ends) {
        if (name != nullptr && end == *name) expected = true;
      }
    }
    for (std::string_view end : end_token_stack_.back()) {
      looking += (looking.empty() ? "'" : " or '") + std::string(end) + "'";
    }
    if (name != nullptr && expected) {
      message +=
          " You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for " +
          looking + ".";
    } else {
      message += " Jinja was looking for the following tags: " + looking + ".";
    }
  }
  if (!tag_stack_.empty())
    message += " The innermost block that needs to be closed is '" + tag_stack_.back() + "'.";
  return error_at(token, message);
}

Expected<Body> Parser::subparse(const std::vector<std::string_view>* end_tokens) {
  Body body;
  std::unique_ptr<Stmt> output;
  auto flush = [&] {
    if (output != nullptr) body.push_back(std::move(output));
  };
  auto add_piece = [&](OutputPiece piece, uint32_t offset) {
    if (output == nullptr) {
      output = std::make_unique<Stmt>();
      output->kind = StmtKind::kOutput;
      output->offset = offset;
    }
    output->pieces.push_back(std::move(piece));
  };
  if (end_tokens != nullptr) end_token_stack_.push_back(*end_tokens);
  while (current().type != TokenType::kEof) {
    const Token& token = current();
    if (token.type == TokenType::kData) {
      add_piece(OutputPiece{token.text, nullptr}, token.offset);
      advance();
    } else if (token.type == TokenType::kVariableBegin) {
      advance();
      AUTOGLM_ASSIGN_OR_RETURN(ExprPtr e, parse_tuple(false, true, {}, false));
      AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kVariableEnd));
      add_piece(OutputPiece{"", std::move(e)}, token.offset);
    } else if (token.type == TokenType::kBlockBegin) {
      flush();
      advance();
      if (end_tokens != nullptr && current().type == TokenType::kName) {
        for (std::string_view end : *end_tokens) {
          if (current().text == end) {
            end_token_stack_.pop_back();
            return body;
          }
        }
      }
      AUTOGLM_ASSIGN_OR_RETURN(StmtPtr stmt, parse_statement());
      body.push_back(std::move(stmt));
      AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kBlockEnd));
    } else {
      return error_at(token, "unexpected " + describe_token(token));
    }
  }
  flush();
  if (end_tokens != nullptr) end_token_stack_.pop_back();
  return body;
}

Expected<Body> Parser::parse_statements(const std::vector<std::string_view>& end_tokens, bool drop_needle) {
  skip_if(TokenType::kColon);
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kBlockEnd));
  AUTOGLM_ASSIGN_OR_RETURN(Body body, subparse(&end_tokens));
  if (current().type == TokenType::kEof) {
    end_token_stack_.push_back(end_tokens);
    const Status status = fail_unknown_tag(current(), nullptr);
    end_token_stack_.pop_back();
    return status;
  }
  if (drop_needle) advance();
  return body;
}

Expected<StmtPtr> Parser::parse_statement() {
  const Token& token = current();
  if (token.type != TokenType::kName) return error_at(token, "tag name expected");
  if (++depth_ > kMaxParseDepth) return resource_exhausted("template nested too deeply");
  const std::string name = token.text;
  tag_stack_.push_back(name);
  Expected<StmtPtr> result = parse_statement_named(name);
  tag_stack_.pop_back();
  --depth_;
  return result;
}

Expected<StmtPtr> Parser::parse_statement_named(const std::string& name) {
  const Token& token = current();
  if (name == "for") return parse_for();
  if (name == "if") return parse_if();
  if (name == "set") return parse_set();
  if (name == "macro") return parse_macro();
  if (name == "call") return parse_call_block();
  if (name == "filter") return parse_filter_block();
  if (name == "with") return parse_with();
  if (name == "print") return parse_print();
  if (name == "block" || name == "generation") return parse_scope(name);
  if (name == "break" || name == "continue") {
    if (loop_depth_ == 0) return error_at(token, "'" + name + "' outside of a loop");
    auto stmt = make_stmt(name == "break" ? StmtKind::kBreak : StmtKind::kContinue);
    advance();
    return stmt;
  }
  if (is_statement_keyword(name)) {
    return unsupported(source_.describe(token.offset) + ": the '" + name +
                       "' tag is not supported in chat templates");
  }
  tag_stack_.pop_back();
  const Status status = fail_unknown_tag(token, &name);
  tag_stack_.push_back(name);
  return status;
}

Expected<StmtPtr> Parser::parse_for() {
  auto stmt = make_stmt(StmtKind::kFor);
  advance();
  AUTOGLM_ASSIGN_OR_RETURN(stmt->target, parse_assign_target(true, false, {"in"}, false));
  AUTOGLM_RETURN_IF_ERROR(expect_name("in"));
  AUTOGLM_ASSIGN_OR_RETURN(stmt->expr, parse_tuple(false, false, {"recursive"}, false));
  if (skip_name("if")) {
    AUTOGLM_ASSIGN_OR_RETURN(stmt->filter, parse_expression(true));
  }
  stmt->recursive = skip_name("recursive");
  ++loop_depth_;
  AUTOGLM_ASSIGN_OR_RETURN(stmt->body, parse_statements({"endfor", "else"}, false));
  --loop_depth_;
  const bool has_else = current().text == "else";
  advance();
  if (has_else) {
    AUTOGLM_ASSIGN_OR_RETURN(stmt->else_body, parse_statements({"endfor"}, true));
  }
  return stmt;
}

Expected<StmtPtr> Parser::parse_if() {
  auto stmt = make_stmt(StmtKind::kIf);
  advance();
  while (true) {
    IfBranch branch;
    AUTOGLM_ASSIGN_OR_RETURN(branch.test, parse_tuple(false, false, {}, false));
    AUTOGLM_ASSIGN_OR_RETURN(branch.body, parse_statements({"elif", "else", "endif"}, false));
    stmt->branches.push_back(std::move(branch));
    const std::string which = current().text;
    advance();
    if (which == "elif") continue;
    if (which == "else") {
      AUTOGLM_ASSIGN_OR_RETURN(stmt->else_body, parse_statements({"endif"}, true));
    }
    break;
  }
  return stmt;
}

Expected<StmtPtr> Parser::parse_set() {
  auto stmt = make_stmt(StmtKind::kSet);
  advance();
  AUTOGLM_ASSIGN_OR_RETURN(stmt->target, parse_assign_target(true, false, {}, true));
  if (skip_if(TokenType::kAssign)) {
    AUTOGLM_ASSIGN_OR_RETURN(stmt->expr, parse_tuple(false, true, {}, false));
    return stmt;
  }
  stmt->kind = StmtKind::kSetBlock;
  AUTOGLM_ASSIGN_OR_RETURN(stmt->filter, parse_filter(nullptr, false));
  AUTOGLM_ASSIGN_OR_RETURN(stmt->body, parse_statements({"endset"}, true));
  return stmt;
}

Status Parser::parse_signature(MacroDefinition* macro) {
  AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kLParen));
  while (current().type != TokenType::kRParen) {
    if (!macro->params.empty()) AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
    if (current().type != TokenType::kName) return error_at(current(), "expected name");
    MacroParam param;
    param.name = current().text;
    AUTOGLM_RETURN_IF_ERROR(check_assignable_name(current()));
    advance();
    if (skip_if(TokenType::kAssign)) {
      AUTOGLM_ASSIGN_OR_RETURN(param.default_value, parse_expression(true));
    } else if (!macro->params.empty() && macro->params.back().default_value != nullptr) {
      return error_at(current(), "non-default argument follows default argument");
    }
    macro->params.push_back(std::move(param));
  }
  advance();
  return Status::ok();
}

void Parser::finish_macro(MacroDefinition* macro) {
  macro->uses_varargs = body_reads_name(macro->body, "varargs");
  macro->uses_kwargs = body_reads_name(macro->body, "kwargs");
  macro->uses_caller = body_reads_name(macro->body, "caller");
}

Expected<Body> Parser::parse_function_body(const std::vector<std::string_view>& end_tokens) {
  const int saved_loops = loop_depth_;
  loop_depth_ = 0;  // a macro body is its own function: break/continue cannot reach an enclosing loop
  Expected<Body> body = parse_statements(end_tokens, true);
  loop_depth_ = saved_loops;
  return body;
}

Expected<StmtPtr> Parser::parse_macro() {
  auto stmt = make_stmt(StmtKind::kMacro);
  advance();
  auto macro = std::make_shared<MacroDefinition>();
  if (current().type != TokenType::kName) return error_at(current(), "expected name");
  AUTOGLM_RETURN_IF_ERROR(check_assignable_name(current()));
  macro->name = current().text;
  advance();
  AUTOGLM_RETURN_IF_ERROR(parse_signature(macro.get()));
  AUTOGLM_ASSIGN_OR_RETURN(macro->body, parse_function_body({"endmacro"}));
  finish_macro(macro.get());
  stmt->macro = std::move(macro);
  return stmt;
}

Expected<StmtPtr> Parser::parse_call_block() {
  auto stmt = make_stmt(StmtKind::kCallBlock);
  advance();
  auto macro = std::make_shared<MacroDefinition>();
  macro->name = "caller";
  if (current().type == TokenType::kLParen) AUTOGLM_RETURN_IF_ERROR(parse_signature(macro.get()));
  AUTOGLM_ASSIGN_OR_RETURN(stmt->expr, parse_expression(true));
  if (stmt->expr->kind != ExprKind::kCall) return error_at_offset(stmt->offset, "expected call");
  AUTOGLM_ASSIGN_OR_RETURN(macro->body, parse_function_body({"endcall"}));
  finish_macro(macro.get());
  stmt->macro = std::move(macro);
  return stmt;
}

Expected<StmtPtr> Parser::parse_filter_block() {
  auto stmt = make_stmt(StmtKind::kFilterBlock);
  advance();
  AUTOGLM_ASSIGN_OR_RETURN(stmt->filter, parse_filter(nullptr, true));
  AUTOGLM_ASSIGN_OR_RETURN(stmt->body, parse_statements({"endfilter"}, true));
  return stmt;
}

Expected<StmtPtr> Parser::parse_with() {
  auto stmt = make_stmt(StmtKind::kWith);
  advance();
  while (current().type != TokenType::kBlockEnd) {
    if (!stmt->targets.empty()) AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
    AUTOGLM_ASSIGN_OR_RETURN(Target target, parse_assign_target(true, false, {}, false));
    AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kAssign));
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr value, parse_expression(true));
    stmt->targets.push_back(std::move(target));
    stmt->values.push_back(std::move(value));
  }
  AUTOGLM_ASSIGN_OR_RETURN(stmt->body, parse_statements({"endwith"}, true));
  return stmt;
}

Expected<StmtPtr> Parser::parse_print() {
  auto stmt = make_stmt(StmtKind::kOutput);
  advance();
  while (current().type != TokenType::kBlockEnd) {
    if (!stmt->pieces.empty()) AUTOGLM_RETURN_IF_ERROR(expect(TokenType::kComma));
    AUTOGLM_ASSIGN_OR_RETURN(ExprPtr e, parse_expression(true));
    stmt->pieces.push_back(OutputPiece{"", std::move(e)});
  }
  return stmt;
}

Expected<StmtPtr> Parser::parse_scope(const std::string& name) {
  auto stmt = make_stmt(StmtKind::kScope);
  advance();
  if (name == "generation") {
    AUTOGLM_ASSIGN_OR_RETURN(stmt->body, parse_function_body({"endgeneration"}));
    return stmt;
  }
  if (current().type != TokenType::kName) return error_at(current(), "expected name");
  const std::string block_name = current().text;
  advance();
  skip_name("scoped");
  skip_name("required");
  if (current().type == TokenType::kSub) {
    return error_at(
        current(),
        "Block names in Jinja have to be valid Python identifiers and may not contain hyphens, use an "
        "underscore instead.");
  }
  AUTOGLM_ASSIGN_OR_RETURN(stmt->body, parse_function_body({"endblock"}));
  skip_name(block_name);
  return stmt;
}

Expected<Body> Parser::parse_root() {
  AUTOGLM_ASSIGN_OR_RETURN(Body body, subparse(nullptr));
  CalleeChecker checker(source_);
  AUTOGLM_RETURN_IF_ERROR(checker.body(body, false));
  return body;
}

Expected<std::shared_ptr<const ParsedTemplate>> parse_template(std::string_view text) {
  auto parsed = std::make_shared<ParsedTemplate>(text);
  AUTOGLM_ASSIGN_OR_RETURN(std::vector<Token> tokens, tokenize(parsed->source));
  Parser parser(parsed->source, std::move(tokens));
  AUTOGLM_ASSIGN_OR_RETURN(parsed->body, parser.parse_root());
  return std::shared_ptr<const ParsedTemplate>(std::move(parsed));
}

}  // namespace autoglm::jinja
