// Tokens -> syntax tree, following jinja2's parser (operator precedence, tuples without parentheses, filter
// and test syntax, statement tags and their end tags) with the loopcontrols extension (break, continue) and
// HF's {% generation %} block. {% extends %}, {% include %}, {% import %} and {% from %} need a template
// loader, which chat templates do not have: they are rejected as unsupported.
#pragma once

#include <memory>
#include <string_view>

#include "core/status.h"
#include "tokenizer/chat/ast.h"
#include "tokenizer/chat/lexer.h"

namespace autoglm::jinja {

struct ParsedTemplate {
  explicit ParsedTemplate(std::string_view text) : source(text) {}
  Source source;
  Body body;
};

// kParseError with "line L, column C: message" for syntax errors (jinja2's messages where they exist, e.g.
// "Encountered unknown tag 'endfor'. ...", "No filter named 'x'."); kUnsupported for loader statements.
Expected<std::shared_ptr<const ParsedTemplate>> parse_template(std::string_view text);

}  // namespace autoglm::jinja
