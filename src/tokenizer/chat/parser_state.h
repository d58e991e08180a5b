// The recursive-descent parser shared by parser.cpp (statements) and parser_expressions.cpp (expressions).
// Internal to the chat template implementation.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "tokenizer/chat/ast.h"
#include "tokenizer/chat/lexer.h"

namespace autoglm::jinja {

// Nesting of expressions and statements beyond which parsing stops (the parser and the evaluator recurse).
inline constexpr int kMaxParseDepth = 200;

class Parser {
 public:
  Parser(const Source& source, std::vector<Token> tokens) : source_(source), tokens_(std::move(tokens)) {}

  Expected<Body> parse_root();

 private:
  // Token stream.
  const Token& current() const { return tokens_[pos_]; }
  const Token& look() const { return tokens_[pos_ + 1 < tokens_.size() ? pos_ + 1 : pos_]; }
  void advance() {
    if (pos_ + 1 < tokens_.size()) ++pos_;
  }
  bool is_name(std::string_view name) const {
    return current().type == TokenType::kName && current().text == name;
  }
  bool skip_if(TokenType type);
  bool skip_name(std::string_view name);
  Status expect(TokenType type);
  Status expect_name(std::string_view name);
  Status error_at(const Token& token, const std::string& message) const;
  Status error_at_offset(uint32_t offset, const std::string& message) const;
  Status check_assignable_name(const Token& token) const;
  StmtPtr make_stmt(StmtKind kind) const;
  ExprPtr make_expr(ExprKind kind, uint32_t offset) const;

  // Statements (parser.cpp).
  Expected<Body> subparse(const std::vector<std::string_view>* end_tokens);
  Expected<Body> parse_statements(const std::vector<std::string_view>& end_tokens, bool drop_needle);
  Expected<Body> parse_function_body(const std::vector<std::string_view>& end_tokens);
  Expected<StmtPtr> parse_statement();
  Expected<StmtPtr> parse_statement_named(const std::string& name);
  Expected<StmtPtr> parse_for();
  Expected<StmtPtr> parse_if();
  Expected<StmtPtr> parse_set();
  Expected<StmtPtr> parse_macro();
  Expected<StmtPtr> parse_call_block();
  Expected<StmtPtr> parse_filter_block();
  Expected<StmtPtr> parse_with();
  Expected<StmtPtr> parse_print();
  Expected<StmtPtr> parse_scope(const std::string& name);
  Status parse_signature(MacroDefinition* macro);
  void finish_macro(MacroDefinition* macro);
  Status fail_unknown_tag(const Token& token, const std::string* name);

  // Expressions (parser_expressions.cpp), named after jinja2's methods.
  Expected<ExprPtr> parse_expression(bool with_condexpr);
  Expected<ExprPtr> parse_condexpr();
  Expected<ExprPtr> parse_or();
  Expected<ExprPtr> parse_and();
  Expected<ExprPtr> parse_not();
  Expected<ExprPtr> parse_compare();
  Expected<ExprPtr> parse_math1();
  Expected<ExprPtr> parse_concat();
  Expected<ExprPtr> parse_math2();
  Expected<ExprPtr> parse_pow();
  Expected<ExprPtr> parse_unary(bool with_filter);
  Expected<ExprPtr> parse_primary();
  Expected<ExprPtr> parse_tuple(bool simplified, bool with_condexpr,
                                const std::vector<std::string_view>& extra_end_rules,
                                bool explicit_parentheses);
  Expected<ExprPtr> parse_list();
  Expected<ExprPtr> parse_dict();
  Expected<ExprPtr> parse_postfix(ExprPtr node);
  Expected<ExprPtr> parse_filter_expr(ExprPtr node);
  Expected<ExprPtr> parse_subscript(ExprPtr node);
  Expected<ExprPtr> parse_subscribed();
  Status parse_call_args(CallArgs* args);
  Expected<ExprPtr> parse_call(ExprPtr node);
  Expected<ExprPtr> parse_filter(ExprPtr node, bool start_inline);
  Expected<ExprPtr> parse_test(ExprPtr node);
  Expected<Target> parse_assign_target(bool with_tuple, bool name_only,
                                       const std::vector<std::string_view>& extra_end_rules,
                                       bool with_namespace);
  bool is_tuple_end(const std::vector<std::string_view>& extra_end_rules) const;

  const Source& source_;
  std::vector<Token> tokens_;
  size_t pos_ = 0;
  int depth_ = 0;
  int loop_depth_ = 0;
  std::vector<std::string> tag_stack_;
  std::vector<std::vector<std::string_view>> end_token_stack_;
};

}  // namespace autoglm::jinja
