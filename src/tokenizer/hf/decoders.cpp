// Decoders of HF `tokenizers` (tokenizers/src/decoders/*.rs and the Decoder impls of ByteLevel, Metaspace,
// Replace).
#include "tokenizer/hf/decoders.h"

#include "tokenizer/hf/byte_level.h"
#include "tokenizer/hf/regex.h"
#include "tokenizer/utf8.h"

namespace autoglm::hf {
namespace {

constexpr int kMaxNesting = 32;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (from.empty()) return;
  size_t pos = s.find(from);
  if (pos == std::string::npos) return;
  std::string out;
  size_t prev = 0;
  while (pos != std::string::npos) {
    out.append(s, prev, pos - prev);
    out.append(to);
    prev = pos + from.size();
    pos = s.find(from, prev);
  }
  out.append(s, prev, std::string::npos);
  s.swap(out);
}

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> steps) : steps_(std::move(steps)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& step : steps_)
      step->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> steps_;
};

// All tokens joined, each character mapped back to its byte; a token with a character outside the byte
// alphabet (an added token such as "<|im_start|>" is inside it, but e.g. CJK added tokens are not) is taken
// as its own UTF-8 bytes.
class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens) {
      if (auto bytes = byte_level::decode(t)) {
        out += *bytes;
      } else {
        out += t;
      }
    }
    tokens.assign(1, std::move(out));
  }
};

// The replacement character becomes a space, except in the first token (when a prefix was prepended), where
// HF drops every occurrence.
class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool prepended)
      : replacement_(std::move(replacement)), prepended_(prepended) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      replace_all(tokens[i], replacement_, (i == 0 && prepended_) ? "" : " ");
  }

 private:
  std::string replacement_;
  bool prepended_;
};

// Runs of "<0xXX>" tokens become the bytes they stand for. HF emits one U+FFFD per byte when a run is not
// valid UTF-8; we keep the bytes (see decoders.h).
class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string bytes;
    bool in_run = false;
    for (std::string& t : tokens) {
      int value = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') value = parse_hex_byte(t[3], t[4]);
      if (value >= 0) {
        bytes.push_back(static_cast<char>(value));
        in_run = true;
        continue;
      }
      if (in_run) {
        out.push_back(std::move(bytes));
        bytes.clear();
        in_run = false;
      }
      out.push_back(std::move(t));
    }
    if (in_run) out.push_back(std::move(bytes));
    tokens.swap(out);
  }

 private:
  static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int parse_hex_byte(char hi, char lo) {
    const int h = hex_value(hi);
    const int l = hex_value(lo);
    return (h < 0 || l < 0) ? -1 : h * 16 + l;
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (const std::string& t : tokens)
      out += t;
    tokens.assign(1, std::move(out));
  }
};

// Removes up to `start` leading and `stop` trailing occurrences of one character from every token.
class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    const size_t w = content_.size();
    for (std::string& t : tokens) {
      size_t begin = 0;
      for (size_t i = 0; i < start_ && begin + w <= t.size() && t.compare(begin, w, content_) == 0; ++i)
        begin += w;
      size_t end = t.size();
      for (size_t i = 0; i < stop_ && end >= begin + w && t.compare(end - w, w, content_) == 0; ++i)
        end -= w;
      t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  size_t start_;
  size_t stop_;
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::string literal, Regex regex, std::string content)
      : literal_(std::move(literal)), regex_(std::move(regex)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      if (!regex_.valid()) {
        replace_all(t, literal_, content_);
        continue;
      }
      if (!utf8::is_valid(t))
        continue;  // the regex needs valid UTF-8; pieces are, bytes from fallback may not be
      std::vector<MatchSpan> matches;
      regex_.find_all(t, matches);
      std::string out;
      size_t prev = 0;
      for (const MatchSpan& m : matches) {
        out.append(t, prev, m.start - prev);
        out += content_;
        prev = m.end;
      }
      out.append(t, prev, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string literal_;
  Regex regex_;
  std::string content_;
};

class WordPieceDecoder final : public Decoder {
 public:
  WordPieceDecoder(std::string prefix, bool cleanup) : prefix_(std::move(prefix)), cleanup_(cleanup) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (i != 0) {
        if (!prefix_.empty() && t.compare(0, prefix_.size(), prefix_) == 0) {
          t.erase(0, prefix_.size());
        } else {
          t.insert(0, " ");
        }
      }
      if (cleanup_) cleanup(t);
    }
  }

 private:
  // BERT's clean_up_tokenization, in HF's order.
  static void cleanup(std::string& t) {
    replace_all(t, " .", ".");
    replace_all(t, " ?", "?");
    replace_all(t, " !", "!");
    replace_all(t, " ,", ",");
    replace_all(t, " ' ", "'");
    replace_all(t, " n't", "n't");
    replace_all(t, " 'm", "'m");
    replace_all(t, " do not", " don't");
    replace_all(t, " 's", "'s");
    replace_all(t, " 've", "'ve");
    replace_all(t, " 're", "'re");
  }

  std::string prefix_;
  bool cleanup_;
};

// BPEDecoder: the end-of-word suffix becomes a space, except on the last token.
class BpeSuffixDecoder final : public Decoder {
 public:
  explicit BpeSuffixDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      replace_all(tokens[i], suffix_, i + 1 == tokens.size() ? "" : " ");
  }

 private:
  std::string suffix_;
};

Expected<std::unique_ptr<Decoder>> make_replace(const JsonField& spec) {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField pattern, spec.object_at("pattern"));
  AUTOGLM_ASSIGN_OR_RETURN(std::string content, spec.string_at("content"));
  if (auto s = pattern.find("String")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string literal, s->as_string());
    if (literal.empty()) return s->unsupported("an empty Replace pattern is not supported");
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(literal), Regex(), std::move(content)));
  }
  if (auto r = pattern.find("Regex")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string source, r->as_string());
    auto regex = Regex::compile(source);
    if (!regex) return r->error(regex.status().message());
    return std::unique_ptr<Decoder>(new ReplaceDecoder("", std::move(regex).value(), std::move(content)));
  }
  return pattern.error("expected {\"String\": ...} or {\"Regex\": ...}");
}

Expected<std::unique_ptr<Decoder>> make_metaspace(const JsonField& spec) {
  AUTOGLM_ASSIGN_OR_RETURN(std::string replacement, spec.string_or("replacement", "\xE2\x96\x81"));
  if (replacement.empty()) return spec.error("Metaspace replacement must be one character");
  bool prepended = true;
  if (auto s = spec.find("prepend_scheme")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string name, s->as_string());
    if (name != "always" && name != "first" && name != "never") {
      return s->unsupported("Metaspace prepend_scheme \"" + name + "\" is not supported");
    }
    prepended = name != "never";
  }
  AUTOGLM_ASSIGN_OR_RETURN(bool add_prefix_space, spec.bool_or("add_prefix_space", true));
  if (!add_prefix_space) prepended = false;
  return std::unique_ptr<Decoder>(new MetaspaceDecoder(std::move(replacement), prepended));
}

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() {
  return std::make_unique<ByteLevelDecoder>();
}

Expected<std::unique_ptr<Decoder>> make_decoder(const JsonField& spec, int depth) {
  using Ptr = std::unique_ptr<Decoder>;
  if (!spec.is_object())
    return spec.error(std::string("expected an object, got ") + JsonField::type_name(spec.value()));
  if (depth > kMaxNesting) return spec.error("decoders nested too deeply");
  AUTOGLM_ASSIGN_OR_RETURN(std::string type, spec.string_at("type"));
  if (type == "Sequence") {
    AUTOGLM_ASSIGN_OR_RETURN(JsonField list, spec.array_at("decoders"));
    std::vector<Ptr> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      AUTOGLM_ASSIGN_OR_RETURN(Ptr step, make_decoder(list.element(i), depth + 1));
      steps.push_back(std::move(step));
    }
    return Ptr(new SequenceDecoder(std::move(steps)));
  }
  if (type == "ByteLevel") return Ptr(new ByteLevelDecoder());
  if (type == "Metaspace") return make_metaspace(spec);
  if (type == "ByteFallback") return Ptr(new ByteFallbackDecoder());
  if (type == "Fuse") return Ptr(new FuseDecoder());
  if (type == "Strip") {
    AUTOGLM_ASSIGN_OR_RETURN(std::string content, spec.string_at("content"));
    if (utf8::count_code_points(content) != 1) return spec.error("Strip content must be one character");
    AUTOGLM_ASSIGN_OR_RETURN(int64_t start, spec.int_or("start", 0));
    AUTOGLM_ASSIGN_OR_RETURN(int64_t stop, spec.int_or("stop", 0));
    if (start < 0 || stop < 0) return spec.error("Strip start/stop must not be negative");
    return Ptr(new StripDecoder(std::move(content), static_cast<size_t>(start), static_cast<size_t>(stop)));
  }
  if (type == "Replace") return make_replace(spec);
  if (type == "WordPiece") {
    AUTOGLM_ASSIGN_OR_RETURN(std::string prefix, spec.string_or("prefix", "##"));
    AUTOGLM_ASSIGN_OR_RETURN(bool cleanup, spec.bool_or("cleanup", true));
    return Ptr(new WordPieceDecoder(std::move(prefix), cleanup));
  }
  if (type == "BPEDecoder") {
    AUTOGLM_ASSIGN_OR_RETURN(std::string suffix, spec.string_or("suffix", "</w>"));
    return Ptr(new BpeSuffixDecoder(std::move(suffix)));
  }
  return spec.unsupported("decoder type \"" + type + "\" is not supported");
}

}  // namespace autoglm::hf
