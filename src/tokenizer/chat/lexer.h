// Template source -> tokens, as jinja2's lexer does it in the environment HF renders chat templates with
// (trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False, default delimiters):
//   - "\r\n" and "\r" become "\n", and one trailing newline of the source is dropped;
//   - "{%-", "{{-", "{#-" strip all whitespace before the tag, "-%}", "-}}", "-#}" all whitespace after it;
//   - lstrip_blocks: spaces and tabs between the start of a line and a block or comment tag are removed
//     (not before "{{", and not when the tag opens with "+");
//   - trim_blocks: the first newline after a block or comment tag is removed (not after "+%}");
//   - {% raw %}...{% endraw %} is data; comments vanish.
// Whitespace means Python's str.isspace(), as in jinja2's regular expressions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace autoglm::jinja {

enum class TokenType : uint8_t {
  kData,
  kVariableBegin,
  kVariableEnd,
  kBlockBegin,
  kBlockEnd,
  kName,
  kString,
  kInteger,
  kFloat,
  kAdd,
  kSub,
  kDiv,
  kFloorDiv,
  kMul,
  kMod,
  kPow,
  kTilde,
  kLBracket,
  kRBracket,
  kLParen,
  kRParen,
  kLBrace,
  kRBrace,
  kEq,
  kNe,
  kGt,
  kGtEq,
  kLt,
  kLtEq,
  kAssign,
  kDot,
  kColon,
  kPipe,
  kComma,
  kSemicolon,
  kEof,
};

struct Token {
  TokenType type = TokenType::kEof;
  uint32_t offset = 0;  // byte offset of the token in the normalized source
  std::string text;     // data, name, decoded string literal, or the operator/delimiter as written
  int64_t int_value = 0;
  double float_value = 0.0;
};

// The normalized template text (newlines unified, trailing newline dropped, invalid UTF-8 replaced) and the
// mapping of byte offsets to line:column for messages.
class Source {
 public:
  explicit Source(std::string_view raw);
  const std::string& text() const { return text_; }
  // "line 3, column 7" (both 1-based; columns count code points).
  std::string describe(uint32_t offset) const;

 private:
  std::string text_;
  std::vector<uint32_t> line_starts_;
};

// Tokens ending with kEof. Errors (kParseError) name the position: unexpected characters, unterminated
// comments and raw blocks, unbalanced brackets, bad escapes in string literals.
Expected<std::vector<Token>> tokenize(const Source& source);

// How a token reads in a syntax error message ("end of statement block", "'foo'", "end of template").
std::string describe_token(const Token& token);

}  // namespace autoglm::jinja
