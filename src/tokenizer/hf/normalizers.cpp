// Normalizers of HF `tokenizers` (tokenizers/src/normalizers/*.rs), reproduced on plain UTF-8 strings.
#include "tokenizer/hf/normalizers.h"

#include <vector>

#include "tokenizer/hf/regex.h"
#include "tokenizer/hf/unicode.h"
#include "tokenizer/utf8.h"

namespace autoglm::hf {
namespace {

constexpr int kMaxNesting = 32;

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> steps) : steps_(std::move(steps)) {}
  void normalize(std::string& text) const override {
    for (const auto& step : steps_)
      step->normalize(text);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> steps_;
};

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalizationForm form) : form_(form) {}
  void normalize(std::string& text) const override { text = unicode::normalize(text, form_); }

 private:
  unicode::NormalizationForm form_;
};

class LowercaseNormalizer final : public Normalizer {
 public:
  void normalize(std::string& text) const override { text = unicode::lowercase(text); }
};

// Removes White_Space characters at either end.
class StripNormalizer final : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t begin = 0;
    size_t end = text.size();
    if (left_) {
      while (begin < end) {
        const utf8::Decoded d = utf8::decode(text, begin);
        if (!unicode::rust_is_whitespace(d.code_point)) break;
        begin += d.length;
      }
    }
    if (right_) {
      while (end > begin) {
        size_t start = end - 1;
        while (start > begin && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80)
          --start;
        if (!unicode::rust_is_whitespace(utf8::decode(text, start).code_point)) break;
        end = start;
      }
    }
    text = text.substr(begin, end - begin);
  }

 private:
  bool left_;
  bool right_;
};

template <typename Pred>
void remove_marks(std::string& text, Pred is_removed) {
  std::string out;
  out.reserve(text.size());
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Decoded d = utf8::decode(text, pos);
    if (!is_removed(d.code_point)) out.append(text, pos, d.length);
    pos += d.length;
  }
  text.swap(out);
}

// HF's StripAccents only filters the marks (Mn, Mc, Me); it is meant to follow an NFD normalizer.
class StripAccentsNormalizer final : public Normalizer {
 public:
  void normalize(std::string& text) const override { remove_marks(text, unicode::is_mark); }
};

class ReplaceNormalizer final : public Normalizer {
 public:
  // Literal pattern (the common case): a plain search, no regex engine.
  ReplaceNormalizer(std::string literal, std::string content)
      : literal_(std::move(literal)), content_(std::move(content)) {}
  ReplaceNormalizer(Regex regex, std::string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}

  void normalize(std::string& text) const override {
    if (regex_.valid()) {
      std::vector<MatchSpan> matches;
      regex_.find_all(text, matches);
      if (matches.empty()) return;
      std::string out;
      size_t prev = 0;
      for (const MatchSpan& m : matches) {
        out.append(text, prev, m.start - prev);
        out += content_;
        prev = m.end;
      }
      out.append(text, prev, std::string::npos);
      text.swap(out);
      return;
    }
    size_t pos = text.find(literal_);
    if (pos == std::string::npos) return;
    std::string out;
    out.reserve(text.size() + text.size() / 4);
    size_t prev = 0;
    while (pos != std::string::npos) {
      out.append(text, prev, pos - prev);
      out += content_;
      prev = pos + literal_.size();
      pos = text.find(literal_, prev);
    }
    out.append(text, prev, std::string::npos);
    text.swap(out);
  }

 private:
  std::string literal_;
  Regex regex_;
  std::string content_;
};

class PrependNormalizer final : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

// BertNormalizer (tokenizers/src/normalizers/bert.rs): clean_text, then spaces around CJK ideographs, then
// strip accents (NFD and drop Mn), then lowercase.
class BertNormalizer final : public Normalizer {
 public:
  BertNormalizer(bool clean_text, bool handle_chinese_chars, bool strip_accents, bool lowercase)
      : clean_text_(clean_text),
        handle_chinese_chars_(handle_chinese_chars),
        strip_accents_(strip_accents),
        lowercase_(lowercase) {}

  void normalize(std::string& text) const override {
    if (clean_text_ || handle_chinese_chars_) {
      std::string out;
      out.reserve(text.size() + 8);
      size_t pos = 0;
      while (pos < text.size()) {
        const utf8::Decoded d = utf8::decode(text, pos);
        const char32_t c = d.code_point;
        const std::string_view raw(text.data() + pos, d.length);
        pos += d.length;
        if (clean_text_) {
          const bool tab_or_newline = c == '\t' || c == '\n' || c == '\r';
          if (c == 0 || c == utf8::kReplacementChar || (!tab_or_newline && unicode::is_other(c))) continue;
          if (tab_or_newline || unicode::rust_is_whitespace(c)) {
            out.push_back(' ');
            continue;
          }
        }
        if (handle_chinese_chars_ && unicode::is_chinese_char(c)) {
          out.push_back(' ');
          out.append(raw);
          out.push_back(' ');
          continue;
        }
        out.append(raw);
      }
      text.swap(out);
    }
    if (strip_accents_) {
      text = unicode::normalize(text, unicode::NormalizationForm::kNfd);
      remove_marks(text, unicode::is_mark_nonspacing);
    }
    if (lowercase_) text = unicode::lowercase(text);
  }

 private:
  bool clean_text_;
  bool handle_chinese_chars_;
  bool strip_accents_;
  bool lowercase_;
};

Expected<std::unique_ptr<Normalizer>> make_replace(const JsonField& spec) {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField pattern, spec.object_at("pattern"));
  AUTOGLM_ASSIGN_OR_RETURN(std::string content, spec.string_at("content"));
  if (auto s = pattern.find("String")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string literal, s->as_string());
    if (literal.empty()) return s->unsupported("an empty Replace pattern is not supported");
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(literal), std::move(content)));
  }
  if (auto r = pattern.find("Regex")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string source, r->as_string());
    auto regex = Regex::compile(source);
    if (!regex) return r->error(regex.status().message());
    return std::unique_ptr<Normalizer>(new ReplaceNormalizer(std::move(regex).value(), std::move(content)));
  }
  return pattern.error("expected {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace

std::unique_ptr<Normalizer> make_nfc_normalizer() {
  return std::make_unique<UnicodeNormalizer>(unicode::NormalizationForm::kNfc);
}

Expected<std::unique_ptr<Normalizer>> make_normalizer(const JsonField& spec, int depth) {
  if (!spec.is_object())
    return spec.error(std::string("expected an object, got ") + JsonField::type_name(spec.value()));
  if (depth > kMaxNesting) return spec.error("normalizers nested too deeply");
  AUTOGLM_ASSIGN_OR_RETURN(std::string type, spec.string_at("type"));
  using Ptr = std::unique_ptr<Normalizer>;
  if (type == "Sequence") {
    AUTOGLM_ASSIGN_OR_RETURN(JsonField list, spec.array_at("normalizers"));
    std::vector<Ptr> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      AUTOGLM_ASSIGN_OR_RETURN(Ptr step, make_normalizer(list.element(i), depth + 1));
      steps.push_back(std::move(step));
    }
    return Ptr(new SequenceNormalizer(std::move(steps)));
  }
  if (type == "NFC") return Ptr(new UnicodeNormalizer(unicode::NormalizationForm::kNfc));
  if (type == "NFD") return Ptr(new UnicodeNormalizer(unicode::NormalizationForm::kNfd));
  if (type == "NFKC") return Ptr(new UnicodeNormalizer(unicode::NormalizationForm::kNfkc));
  if (type == "NFKD") return Ptr(new UnicodeNormalizer(unicode::NormalizationForm::kNfkd));
  if (type == "Lowercase") return Ptr(new LowercaseNormalizer());
  if (type == "StripAccents") return Ptr(new StripAccentsNormalizer());
  if (type == "Strip") {
    AUTOGLM_ASSIGN_OR_RETURN(bool left, spec.bool_or("strip_left", true));
    AUTOGLM_ASSIGN_OR_RETURN(bool right, spec.bool_or("strip_right", true));
    return Ptr(new StripNormalizer(left, right));
  }
  if (type == "Replace") return make_replace(spec);
  if (type == "Prepend") {
    AUTOGLM_ASSIGN_OR_RETURN(std::string prefix, spec.string_at("prepend"));
    return Ptr(new PrependNormalizer(std::move(prefix)));
  }
  if (type == "BertNormalizer") {
    AUTOGLM_ASSIGN_OR_RETURN(bool clean_text, spec.bool_or("clean_text", true));
    AUTOGLM_ASSIGN_OR_RETURN(bool chinese, spec.bool_or("handle_chinese_chars", true));
    AUTOGLM_ASSIGN_OR_RETURN(bool lowercase, spec.bool_or("lowercase", true));
    // strip_accents: null means "as lowercase" (BERT's convention).
    AUTOGLM_ASSIGN_OR_RETURN(bool strip_accents, spec.bool_or("strip_accents", lowercase));
    return Ptr(new BertNormalizer(clean_text, chinese, strip_accents, lowercase));
  }
  return spec.unsupported("normalizer type \"" + type + "\" is not supported");
}

}  // namespace autoglm::hf
