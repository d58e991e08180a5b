#include "tokenizer/chat/lexer.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>

#include "tokenizer/chat/py_text.h"
#include "tokenizer/utf8.h"

namespace autoglm::jinja {

Source::Source(std::string_view raw) {
  const std::string valid = utf8::sanitize(raw);
  text_.reserve(valid.size());
  for (size_t i = 0; i < valid.size(); ++i) {
    if (valid[i] == '\r') {
      text_.push_back('\n');
      if (i + 1 < valid.size() && valid[i + 1] == '\n') ++i;
    } else {
      text_.push_back(valid[i]);
    }
  }
  if (!text_.empty() && text_.back() == '\n') text_.pop_back();  // keep_trailing_newline=False
  line_starts_.push_back(0);
  for (size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\n') line_starts_.push_back(static_cast<uint32_t>(i + 1));
  }
}

std::string Source::describe(uint32_t offset) const {
  offset = std::min<uint32_t>(offset, static_cast<uint32_t>(text_.size()));
  const auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
  const size_t line = static_cast<size_t>(it - line_starts_.begin());
  const uint32_t start = line_starts_[line - 1];
  const size_t column = py::length(std::string_view(text_).substr(start, offset - start)) + 1;
  return "line " + std::to_string(line) + ", column " + std::to_string(column);
}

namespace {

struct OperatorSpelling {
  std::string_view text;
  TokenType type;
};

// Longest first, as jinja2 sorts its operator alternation.
constexpr OperatorSpelling kOperators[] = {
    {"//", TokenType::kFloorDiv}, {"**", TokenType::kPow},      {"==", TokenType::kEq},
    {"!=", TokenType::kNe},       {">=", TokenType::kGtEq},     {"<=", TokenType::kLtEq},
    {"+", TokenType::kAdd},       {"-", TokenType::kSub},       {"/", TokenType::kDiv},
    {"*", TokenType::kMul},       {"%", TokenType::kMod},       {"~", TokenType::kTilde},
    {"[", TokenType::kLBracket},  {"]", TokenType::kRBracket},  {"(", TokenType::kLParen},
    {")", TokenType::kRParen},    {"{", TokenType::kLBrace},    {"}", TokenType::kRBrace},
    {">", TokenType::kGt},        {"<", TokenType::kLt},        {"=", TokenType::kAssign},
    {".", TokenType::kDot},       {":", TokenType::kColon},     {"|", TokenType::kPipe},
    {",", TokenType::kComma},     {";", TokenType::kSemicolon},
};

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
bool is_name_start(unsigned char c) {
  return c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80;
}
bool is_name_char(unsigned char c) {
  return is_name_start(c) || is_digit(static_cast<char>(c));
}

class Lexer {
 public:
  explicit Lexer(const Source& source) : source_(source), src_(source.text()) {}

  Expected<std::vector<Token>> run() {
    while (pos_ < src_.size()) {
      AUTOGLM_RETURN_IF_ERROR(lex_root());
    }
    emit(TokenType::kEof, static_cast<uint32_t>(src_.size()), "");
    return std::move(tokens_);
  }

 private:
  Status error(size_t offset, const std::string& message) const {
    return parse_error(source_.describe(static_cast<uint32_t>(offset)) + ": " + message);
  }

  void emit(TokenType type, size_t offset, std::string text) {
    Token token;
    token.type = type;
    token.offset = static_cast<uint32_t>(offset);
    token.text = std::move(text);
    tokens_.push_back(std::move(token));
  }

  // Length of the Python whitespace code point at `at`, 0 if there is none.
  size_t space_at(size_t at) const {
    if (at >= src_.size()) return 0;
    const utf8::Decoded d = utf8::decode(src_, at);
    return py::is_space(d.code_point) ? d.length : 0;
  }
  size_t skip_spaces(size_t at) const {
    for (size_t n = space_at(at); n > 0; n = space_at(at))
      at += n;
    return at;
  }
  bool starts_with(size_t at, std::string_view s) const {
    return at <= src_.size() && std::string_view(src_).substr(at, s.size()) == s;
  }

  // The earliest "{{", "{%" or "{#" at or after `from`.
  size_t find_tag(size_t from) const {
    for (size_t at = src_.find('{', from); at != std::string::npos; at = src_.find('{', at + 1)) {
      if (at + 1 < src_.size() && (src_[at + 1] == '{' || src_[at + 1] == '%' || src_[at + 1] == '#'))
        return at;
    }
    return std::string::npos;
  }

  // The data before a tag, with "-" stripping or lstrip_blocks applied (jinja2's OptionalLStrip).
  void emit_text(size_t begin, size_t end, char sign, bool lstrip_allowed) {
    std::string_view text(src_.data() + begin, end - begin);
    if (sign == '-') {
      text = py::strip(text, nullptr, false, true);
    } else if (sign != '+' && lstrip_allowed) {
      const size_t newline = text.rfind('\n');
      const size_t line_start = newline == std::string_view::npos ? 0 : newline + 1;
      if ((line_start > 0 || line_starting_) && line_start < text.size() &&
          py::strip(text.substr(line_start), nullptr, true, false).empty()) {
        text = text.substr(0, line_start);
      }
    }
    if (!text.empty()) emit(TokenType::kData, begin, std::string(text));
  }

  // After a block or comment end "%}" / "#}": "-" eats all whitespace, "+" nothing, otherwise one newline.
  size_t after_end(size_t at, char sign) const {
    if (sign == '-') return skip_spaces(at);
    if (sign != '+' && at < src_.size() && src_[at] == '\n') return at + 1;
    return at;
  }

  Status lex_root() {
    const size_t tag = find_tag(pos_);
    if (tag == std::string::npos) {
      emit(TokenType::kData, pos_, src_.substr(pos_));
      pos_ = src_.size();
      return Status::ok();
    }
    const char kind = src_[tag + 1];
    size_t inner = tag + 2;
    char sign = 0;
    if (inner < src_.size() && (src_[inner] == '-' || src_[inner] == '+')) sign = src_[inner++];
    if (kind == '%') {
      size_t raw_end = 0;
      if (match_raw_tag(inner, "raw", &raw_end)) {
        emit_text(pos_, tag, sign, true);
        line_starting_ = src_[raw_end - 1] == '\n';
        return lex_raw(tag, raw_end);
      }
    }
    emit_text(pos_, tag, sign, kind != '{');
    if (kind == '#') return lex_comment(tag, inner);
    emit(kind == '{' ? TokenType::kVariableBegin : TokenType::kBlockBegin, tag,
         std::string(src_.substr(tag, inner - tag)));
    return lex_tag(kind == '{', inner);
  }

  // "\s*<word>\s*(-%}\s*|%})" after "{%" (jinja2's raw_begin; endraw also accepts "+%}" and trim_blocks).
  bool match_raw_tag(size_t at, std::string_view word, size_t* end, bool is_end = false) const {
    at = skip_spaces(at);
    if (!starts_with(at, word)) return false;
    at = skip_spaces(at + word.size());
    if (starts_with(at, "-%}")) {
      *end = skip_spaces(at + 3);
      return true;
    }
    if (is_end && starts_with(at, "+%}")) {
      *end = at + 3;
      return true;
    }
    if (starts_with(at, "%}")) {
      *end = is_end ? after_end(at + 2, 0) : at + 2;
      return true;
    }
    return false;
  }

  Status lex_raw(size_t tag, size_t body) {
    for (size_t at = src_.find("{%", body); at != std::string::npos; at = src_.find("{%", at + 1)) {
      size_t inner = at + 2;
      char sign = 0;
      if (inner < src_.size() && (src_[inner] == '-' || src_[inner] == '+')) sign = src_[inner++];
      size_t end = 0;
      if (match_raw_tag(inner, "endraw", &end, true)) {
        emit_text(body, at, sign, true);
        line_starting_ = src_[end - 1] == '\n';
        pos_ = end;
        return Status::ok();
      }
    }
    if (body >= src_.size()) {  // jinja2 only fails when a character is left after the tag
      pos_ = src_.size();
      return Status::ok();
    }
    return error(tag, "Missing end of raw directive");
  }

  Status lex_comment(size_t tag, size_t body) {
    for (size_t at = body; at + 1 < src_.size(); ++at) {
      size_t end = 0;
      if ((src_[at] == '+' || src_[at] == '-') && starts_with(at + 1, "#}")) {
        end = after_end(at + 3, src_[at]);
      } else if (starts_with(at, "#}")) {
        end = after_end(at + 2, 0);
      } else {
        continue;
      }
      line_starting_ = src_[end - 1] == '\n';
      pos_ = end;
      return Status::ok();
    }
    if (body >= src_.size()) {  // jinja2 only fails when a character is left after the tag
      pos_ = src_.size();
      return Status::ok();
    }
    return error(tag, "Missing end of comment tag");
  }

  Status lex_tag(bool variable, size_t at) {
    std::vector<char> balance;  // closing brackets expected, innermost last
    while (true) {
      if (at >= src_.size()) {  // the parser reports the unexpected end of the template
        pos_ = at;
        return Status::ok();
      }
      if (balance.empty()) {
        size_t end = 0;
        if (variable) {
          if (starts_with(at, "-}}")) end = skip_spaces(at + 3);
          if (end == 0 && starts_with(at, "}}")) end = at + 2;
        } else if (starts_with(at, "+%}")) {
          end = at + 3;
        } else if (starts_with(at, "-%}")) {
          end = skip_spaces(at + 3);
        } else if (starts_with(at, "%}")) {
          end = after_end(at + 2, 0);
        }
        if (end != 0) {
          emit(variable ? TokenType::kVariableEnd : TokenType::kBlockEnd, at, "");
          line_starting_ = src_[end - 1] == '\n';
          pos_ = end;
          return Status::ok();
        }
      }
      if (const size_t n = space_at(at); n > 0) {
        at = skip_spaces(at);
        continue;
      }
      size_t next = 0;
      AUTOGLM_RETURN_IF_ERROR(lex_token(at, &balance, &next));
      at = next;
    }
  }

  Status lex_token(size_t at, std::vector<char>* balance, size_t* next) {
    const char c = src_[at];
    if (is_digit(c)) return lex_number(at, next);
    if (is_name_start(static_cast<unsigned char>(c))) {
      size_t end = at;
      while (end < src_.size() && is_name_char(static_cast<unsigned char>(src_[end])) && space_at(end) == 0)
        ++end;
      emit(TokenType::kName, at, std::string(src_.substr(at, end - at)));
      *next = end;
      return Status::ok();
    }
    if (c == '\'' || c == '"') return lex_string(at, next);
    for (const OperatorSpelling& op : kOperators) {
      if (!starts_with(at, op.text)) continue;
      const char first = op.text[0];
      if (first == '{' || first == '(' || first == '[') {
        balance->push_back(first == '{' ? '}' : first == '(' ? ')' : ']');
      } else if (first == '}' || first == ')' || first == ']') {
        if (balance->empty()) return error(at, std::string("unexpected '") + first + "'");
        if (balance->back() != first) {
          return error(at, std::string("unexpected '") + first + "', expected '" + balance->back() + "'");
        }
        balance->pop_back();
      }
      emit(op.type, at, std::string(op.text));
      *next = at + op.text.size();
      return Status::ok();
    }
    const size_t n = utf8::decode(src_, at).length;
    return error(at, "unexpected char " + py::string_repr(src_.substr(at, n)));
  }

  // Digits with optional single "_" separators; returns the end.
  size_t digits(size_t at) const {
    size_t end = at;
    while (end < src_.size() && (is_digit(src_[end]) || (src_[end] == '_' && end + 1 < src_.size() &&
                                                         is_digit(src_[end + 1]) && end > at))) {
      ++end;
    }
    return end;
  }

  Status lex_number(size_t at, size_t* next) {
    // Float first (jinja2 tries float_re before integer_re): digits, then ".digits" and/or an exponent. Like
    // jinja2's (?<!\.), a number right after a "." is never a float ("x.0.1" is x[0][1]).
    const bool after_dot = at > 0 && src_[at - 1] == '.';
    size_t end = digits(at);
    size_t float_end = 0;
    if (!after_dot) {
      size_t e = end;
      if (e + 1 < src_.size() && src_[e] == '.' && is_digit(src_[e + 1])) {
        e = digits(e + 1);
        float_end = e;
      }
      if (e < src_.size() && (src_[e] | 0x20) == 'e') {
        size_t x = e + 1;
        if (x < src_.size() && (src_[x] == '+' || src_[x] == '-')) ++x;
        if (x < src_.size() && is_digit(src_[x])) float_end = digits(x);
      }
    }
    if (float_end != 0) {
      std::string text;
      for (size_t i = at; i < float_end; ++i) {
        if (src_[i] != '_') text.push_back(src_[i]);
      }
      emit(TokenType::kFloat, at, text);
      tokens_.back().float_value = std::strtod(text.c_str(), nullptr);
      *next = float_end;
      return Status::ok();
    }
    int base = 10;
    if (src_[at] == '0' && at + 2 < src_.size()) {
      const char p = static_cast<char>(src_[at + 1] | 0x20);
      base = p == 'b' ? 2 : p == 'o' ? 8 : p == 'x' ? 16 : 10;
    }
    std::string text;
    if (base != 10) {
      size_t i = at + 2;
      auto valid = [&](char ch) {
        const int v = is_digit(ch)                                 ? ch - '0'
                      : ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f') ? (ch | 0x20) - 'a' + 10
                                                                   : 99;
        return v < base;
      };
      while (i < src_.size()) {
        if (src_[i] == '_' && i + 1 < src_.size() && valid(src_[i + 1])) {
          ++i;
        } else if (valid(src_[i])) {
          text.push_back(src_[i++]);
        } else {
          break;
        }
      }
      if (text.empty()) base = 10;  // "0b" without digits is the integer 0 followed by a name
      end = i;
    }
    if (base == 10) {
      text.clear();
      if (src_[at] == '0') {  // "0", "00", "0_0": a zero never continues with other digits
        end = at + 1;
        while (end < src_.size() &&
               (src_[end] == '0' || (src_[end] == '_' && end + 1 < src_.size() && src_[end + 1] == '0'))) {
          ++end;
        }
        text = "0";
      } else {
        for (size_t i = at; i < end; ++i) {
          if (src_[i] != '_') text.push_back(src_[i]);
        }
      }
    }
    int64_t value = 0;
    const auto result = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (result.ec != std::errc()) return error(at, "integer literal too large");
    emit(TokenType::kInteger, at, std::string(src_.substr(at, end - at)));
    tokens_.back().int_value = value;
    *next = end;
    return Status::ok();
  }

  Status lex_string(size_t at, size_t* next) {
    const char quote = src_[at];
    size_t end = at + 1;
    while (end < src_.size() && src_[end] != quote)
      end += src_[end] == '\\' ? 2 : 1;
    if (end >= src_.size()) return error(at, std::string("unexpected char '") + quote + "'");
    std::string decoded;
    AUTOGLM_RETURN_IF_ERROR(decode_escapes(at + 1, end, &decoded));
    emit(TokenType::kString, at, std::move(decoded));
    *next = end + 1;
    return Status::ok();
  }

  // Python's "unicode-escape" decoding of the literal body, after jinja2's "backslashreplace" encoding of
  // non-ASCII characters (so a backslash before a non-ASCII character keeps both, the character spelled as
  // its \x/\u/\U escape).
  Status decode_escapes(size_t begin, size_t end, std::string* out) const {
    for (size_t i = begin; i < end;) {
      const char c = src_[i];
      if (c != '\\') {
        out->push_back(c);
        ++i;
        continue;
      }
      const char e = src_[i + 1];
      i += 2;
      auto hex = [&](int count, char32_t* cp) -> Status {
        uint32_t value = 0;
        for (int k = 0; k < count; ++k, ++i) {
          const char h = i < end ? src_[i] : 0;
          int v = -1;
          if (is_digit(h)) v = h - '0';
          if ((h | 0x20) >= 'a' && (h | 0x20) <= 'f') v = (h | 0x20) - 'a' + 10;
          if (v < 0) return error(i, std::string("truncated \\") + e + " escape");
          value = value * 16 + static_cast<uint32_t>(v);
        }
        if (value > utf8::kMaxCodePoint) return error(i, "illegal Unicode character");
        *cp = value;
        return Status::ok();
      };
      char32_t cp = 0;
      switch (e) {
        case '\n':
          break;
        case '\\':
        case '\'':
        case '"':
          out->push_back(e);
          break;
        case 'a':
          out->push_back('\a');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'v':
          out->push_back('\v');
          break;
        case 'x':
          AUTOGLM_RETURN_IF_ERROR(hex(2, &cp));
          utf8::append(*out, cp);
          break;
        case 'u':
          AUTOGLM_RETURN_IF_ERROR(hex(4, &cp));
          utf8::append(*out, cp);
          break;
        case 'U':
          AUTOGLM_RETURN_IF_ERROR(hex(8, &cp));
          utf8::append(*out, cp);
          break;
        case 'N':
          return error(i - 2, "\\N{...} escapes are not supported");
        default:
          if (e >= '0' && e <= '7') {
            cp = static_cast<char32_t>(e - '0');
            for (int k = 0; k < 2 && i < end && src_[i] >= '0' && src_[i] <= '7'; ++k, ++i) {
              cp = cp * 8 + static_cast<char32_t>(src_[i] - '0');
            }
            utf8::append(*out, cp);
          } else if (static_cast<unsigned char>(e) >= 0x80) {
            const utf8::Decoded d = utf8::decode(src_, i - 1);
            i = i - 1 + d.length;
            char buf[16];
            const uint32_t v = d.code_point;
            if (v <= 0xFF) {
              std::snprintf(buf, sizeof(buf), "\\x%02x", v);
            } else if (v <= 0xFFFF) {
              std::snprintf(buf, sizeof(buf), "\\u%04x", v);
            } else {
              std::snprintf(buf, sizeof(buf), "\\U%08x", v);
            }
            out->append(buf);
          } else {
            out->push_back('\\');
            out->push_back(e);
          }
      }
    }
    return Status::ok();
  }

  const Source& source_;
  const std::string& src_;
  size_t pos_ = 0;
  bool line_starting_ = true;
  std::vector<Token> tokens_;
};

}  // namespace

Expected<std::vector<Token>> tokenize(const Source& source) {
  return Lexer(source).run();
}

std::string describe_token(const Token& token) {
  switch (token.type) {
    case TokenType::kEof:
      return "end of template";
    case TokenType::kBlockEnd:
      return "end of statement block";
    case TokenType::kVariableEnd:
      return "end of print statement";
    case TokenType::kBlockBegin:
      return "begin of statement block";
    case TokenType::kVariableBegin:
      return "begin of print statement";
    case TokenType::kData:
      return "template data / text";
    case TokenType::kString:
      return "string";
    case TokenType::kInteger:
      return "integer";
    case TokenType::kFloat:
      return "float";
    case TokenType::kName:
    case TokenType::kAdd:
    case TokenType::kSub:
    case TokenType::kDiv:
    case TokenType::kFloorDiv:
    case TokenType::kMul:
    case TokenType::kMod:
    case TokenType::kPow:
    case TokenType::kTilde:
    case TokenType::kLBracket:
    case TokenType::kRBracket:
    case TokenType::kLParen:
    case TokenType::kRParen:
    case TokenType::kLBrace:
    case TokenType::kRBrace:
    case TokenType::kEq:
    case TokenType::kNe:
    case TokenType::kGt:
    case TokenType::kGtEq:
    case TokenType::kLt:
    case TokenType::kLtEq:
    case TokenType::kAssign:
    case TokenType::kDot:
    case TokenType::kColon:
    case TokenType::kPipe:
    case TokenType::kComma:
    case TokenType::kSemicolon:
      break;
  }
  return token.text;
}

}  // namespace autoglm::jinja
