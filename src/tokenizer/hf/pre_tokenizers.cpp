// Pre-tokenizers of HF `tokenizers` (tokenizers/src/pre_tokenizers/*.rs and NormalizedString::split).
#include "tokenizer/hf/pre_tokenizers.h"

#include <algorithm>
#include <functional>

#include "tokenizer/hf/byte_level.h"
#include "tokenizer/hf/regex.h"
#include "tokenizer/hf/unicode.h"
#include "tokenizer/utf8.h"

namespace autoglm::hf {
namespace {

constexpr int kMaxNesting = 32;

// GPT-2's pattern, which HF's ByteLevel pre-tokenizer applies when use_regex is set.
constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// HF's Whitespace runs \w+|[^\w\s]+ on the Rust regex crate, whose \w is Unicode's (UTS #18): Alphabetic,
// marks, decimal digits, connector punctuation, joiners. PCRE2's \w is narrower, hence the explicit class.
constexpr const char* kWhitespacePattern =
    R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\s]+)";

const Regex& gpt2_regex() {
  static const Regex regex = Regex::compile(kGpt2Pattern).value();
  return regex;
}

// Segments covering `text` from a list of matches.
void segments_from_matches(size_t size, const std::vector<MatchSpan>& matches, bool invert,
                           std::vector<Segment>& segments) {
  segments.clear();
  size_t prev = 0;
  for (const MatchSpan& m : matches) {
    if (m.start > prev) segments.push_back({prev, m.start, invert});
    segments.push_back({m.start, m.end, !invert});
    prev = m.end;
  }
  if (prev < size) segments.push_back({prev, size, invert});
}

// Segments where every character satisfying `pred` is a match of its own.
template <typename Pred>
void segments_from_chars(std::string_view text, Pred pred, std::vector<Segment>& segments) {
  segments.clear();
  size_t last = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    const utf8::Decoded d = utf8::decode(text, pos);
    if (pred(d.code_point)) {
      if (last < pos) segments.push_back({last, pos, false});
      segments.push_back({pos, pos + d.length, true});
      last = pos + d.length;
    }
    pos += d.length;
  }
  if (last < text.size()) segments.push_back({last, text.size(), false});
}

Expected<SplitBehavior> parse_behavior(const JsonField& spec, const char* key, SplitBehavior fallback) {
  auto field = spec.find(key);
  if (!field) return fallback;
  AUTOGLM_ASSIGN_OR_RETURN(std::string name, field->as_string());
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  return field->unsupported("split behavior \"" + name + "\" is not supported");
}

class SequencePreTokenizer final : public PreTokenizer {
 public:
  explicit SequencePreTokenizer(std::vector<std::unique_ptr<PreTokenizer>> steps)
      : steps_(std::move(steps)) {}
  void pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const override {
    for (const auto& step : steps_)
      step->pre_tokenize(pieces, arena);
  }
  ByteLevelPreTokenizer* trailing_byte_level() override {
    return steps_.empty() ? nullptr : steps_.back()->trailing_byte_level();
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> steps_;
};

// Split with a pattern: a regex or a literal string.
class SplitPreTokenizer final : public PreTokenizer {
 public:
  SplitPreTokenizer(Regex regex, std::string literal, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), literal_(std::move(literal)), behavior_(behavior), invert_(invert) {}

  void pre_tokenize(std::vector<Piece>& pieces, PieceArena&) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<MatchSpan> matches;
    std::vector<Segment> segments;
    for (const Piece& piece : pieces) {
      matches.clear();
      if (regex_.valid()) {
        regex_.find_all(piece.text, matches);
      } else {
        size_t pos = piece.text.find(literal_);
        while (pos != std::string_view::npos) {
          matches.push_back({pos, pos + literal_.size()});
          pos = piece.text.find(literal_, pos + literal_.size());
        }
      }
      segments_from_matches(piece.text.size(), matches, invert_, segments);
      split_by_segments(piece, segments, behavior_, out);
    }
    pieces.swap(out);
  }

 private:
  Regex regex_;
  std::string literal_;
  SplitBehavior behavior_;
  bool invert_;
};

// Splits where a character predicate holds.
class CharSplitPreTokenizer final : public PreTokenizer {
 public:
  CharSplitPreTokenizer(std::function<bool(char32_t)> pred, SplitBehavior behavior)
      : pred_(std::move(pred)), behavior_(behavior) {}
  void pre_tokenize(std::vector<Piece>& pieces, PieceArena&) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<Segment> segments;
    for (const Piece& piece : pieces) {
      segments_from_chars(piece.text, pred_, segments);
      split_by_segments(piece, segments, behavior_, out);
    }
    pieces.swap(out);
  }

 private:
  std::function<bool(char32_t)> pred_;
  SplitBehavior behavior_;
};

class BertPreTokenizer final : public PreTokenizer {
 public:
  void pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const override {
    whitespace_.pre_tokenize(pieces, arena);
    punctuation_.pre_tokenize(pieces, arena);
  }

 private:
  CharSplitPreTokenizer whitespace_{unicode::rust_is_whitespace, SplitBehavior::kRemoved};
  CharSplitPreTokenizer punctuation_{unicode::is_bert_punctuation, SplitBehavior::kIsolated};
};

enum class PrependScheme { kAlways, kFirst, kNever };

// Metaspace: spaces become the replacement character (usually U+2581), which is prepended as configured and
// then starts each piece.
class MetaspacePreTokenizer final : public PreTokenizer {
 public:
  MetaspacePreTokenizer(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {}

  void pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const override {
    std::vector<Piece> out;
    out.reserve(pieces.size() * 4);
    std::vector<MatchSpan> matches;
    std::vector<Segment> segments;
    for (const Piece& piece : pieces) {
      std::string text;
      text.reserve(piece.text.size() + replacement_.size());
      for (char ch : piece.text) {
        if (ch == ' ') {
          text += replacement_;
        } else {
          text.push_back(ch);
        }
      }
      const bool starts = text.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts &&
          (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && piece.at_start))) {
        text.insert(0, replacement_);
      }
      const Piece replaced{arena.keep(std::move(text)), piece.at_start};
      if (!split_) {
        if (!replaced.text.empty()) out.push_back(replaced);
        continue;
      }
      matches.clear();
      size_t pos = replaced.text.find(replacement_);
      while (pos != std::string_view::npos) {
        matches.push_back({pos, pos + replacement_.size()});
        pos = replaced.text.find(replacement_, pos + replacement_.size());
      }
      segments_from_matches(replaced.text.size(), matches, false, segments);
      split_by_segments(replaced, segments, SplitBehavior::kMergedWithNext, out);
    }
    pieces.swap(out);
  }

 private:
  std::string replacement_;
  PrependScheme scheme_;
  bool split_;
};

Expected<std::unique_ptr<PreTokenizer>> make_split(const JsonField& spec) {
  AUTOGLM_ASSIGN_OR_RETURN(JsonField pattern, spec.object_at("pattern"));
  AUTOGLM_ASSIGN_OR_RETURN(SplitBehavior behavior, parse_behavior(spec, "behavior", SplitBehavior::kRemoved));
  AUTOGLM_ASSIGN_OR_RETURN(bool invert, spec.bool_or("invert", false));
  if (auto s = pattern.find("String")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string literal, s->as_string());
    if (literal.empty()) return s->unsupported("an empty Split pattern is not supported");
    return std::unique_ptr<PreTokenizer>(
        new SplitPreTokenizer(Regex(), std::move(literal), behavior, invert));
  }
  if (auto r = pattern.find("Regex")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string source, r->as_string());
    auto regex = Regex::compile(source);
    if (!regex) return r->error(regex.status().message());
    return std::unique_ptr<PreTokenizer>(
        new SplitPreTokenizer(std::move(regex).value(), "", behavior, invert));
  }
  return pattern.error("expected {\"String\": ...} or {\"Regex\": ...}");
}

Expected<std::unique_ptr<PreTokenizer>> make_metaspace(const JsonField& spec) {
  AUTOGLM_ASSIGN_OR_RETURN(std::string replacement, spec.string_or("replacement", "\xE2\x96\x81"));
  if (utf8::count_code_points(replacement) != 1 || !utf8::is_valid(replacement)) {
    return spec.error("Metaspace replacement must be one character");
  }
  PrependScheme scheme = PrependScheme::kAlways;
  if (auto s = spec.find("prepend_scheme")) {
    AUTOGLM_ASSIGN_OR_RETURN(std::string name, s->as_string());
    if (name == "always") {
      scheme = PrependScheme::kAlways;
    } else if (name == "first") {
      scheme = PrependScheme::kFirst;
    } else if (name == "never") {
      scheme = PrependScheme::kNever;
    } else {
      return s->unsupported("Metaspace prepend_scheme \"" + name + "\" is not supported");
    }
  }
  // Legacy files: add_prefix_space false means "never".
  AUTOGLM_ASSIGN_OR_RETURN(bool add_prefix_space, spec.bool_or("add_prefix_space", true));
  if (!add_prefix_space) scheme = PrependScheme::kNever;
  AUTOGLM_ASSIGN_OR_RETURN(bool split, spec.bool_or("split", true));
  return std::unique_ptr<PreTokenizer>(new MetaspacePreTokenizer(std::move(replacement), scheme, split));
}

}  // namespace

void split_by_segments(const Piece& piece, const std::vector<Segment>& segments, SplitBehavior behavior,
                       std::vector<Piece>& out) {
  auto emit = [&](size_t start, size_t end) {
    if (end > start) out.push_back({piece.text.substr(start, end - start), piece.at_start && start == 0});
  };
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Segment& s : segments)
        emit(s.start, s.end);
      return;
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) emit(s.start, s.end);
      }
      return;
    case SplitBehavior::kContiguous:
    case SplitBehavior::kMergedWithPrevious: {
      size_t cur_start = 0;
      size_t cur_end = 0;
      bool have = false;
      bool previous_match = false;
      for (const Segment& s : segments) {
        const bool merge = behavior == SplitBehavior::kContiguous ? (s.is_match == previous_match)
                                                                  : (s.is_match && !previous_match);
        if (merge && have) {
          cur_end = s.end;
        } else {
          if (have) emit(cur_start, cur_end);
          cur_start = s.start;
          cur_end = s.end;
          have = true;
        }
        previous_match = s.is_match;
      }
      if (have) emit(cur_start, cur_end);
      return;
    }
    case SplitBehavior::kMergedWithNext: {
      // Right to left, a match is glued to the piece that follows it.
      std::vector<std::pair<size_t, size_t>> acc;
      bool previous_match = false;
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !acc.empty()) {
          acc.back().first = it->start;
        } else {
          acc.emplace_back(it->start, it->end);
        }
        previous_match = it->is_match;
      }
      for (auto it = acc.rbegin(); it != acc.rend(); ++it)
        emit(it->first, it->second);
      return;
    }
  }
}

ByteLevelPreTokenizer::ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
    : add_prefix_space_(add_prefix_space), use_regex_(use_regex) {}

void ByteLevelPreTokenizer::pre_tokenize(std::vector<Piece>& pieces, PieceArena& arena) const {
  std::vector<Piece> out;
  out.reserve(use_regex_ ? pieces.size() * 8 : pieces.size());
  std::vector<MatchSpan> matches;
  for (const Piece& original : pieces) {
    Piece piece = original;
    if (add_prefix_space_ && (piece.text.empty() || piece.text.front() != ' ')) {
      std::string text = " ";
      text.append(piece.text);
      piece.text = arena.keep(std::move(text));
    }
    if (!use_regex_) {
      if (!piece.text.empty()) out.push_back(piece);
      continue;
    }
    // Isolated: matches and the gaps between them are all pieces.
    matches.clear();
    gpt2_regex().find_all(piece.text, matches);
    size_t prev = 0;
    for (const MatchSpan& m : matches) {
      if (m.start > prev)
        out.push_back({piece.text.substr(prev, m.start - prev), piece.at_start && prev == 0});
      if (m.end > m.start)
        out.push_back({piece.text.substr(m.start, m.end - m.start), piece.at_start && m.start == 0});
      prev = m.end;
    }
    if (prev < piece.text.size()) out.push_back({piece.text.substr(prev), piece.at_start && prev == 0});
  }
  if (!emit_raw_bytes_) {
    for (Piece& p : out) {
      std::string mapped;
      mapped.reserve(p.text.size() * 2);
      byte_level::encode(p.text, mapped);
      p.text = arena.keep(std::move(mapped));
    }
  }
  pieces.swap(out);
}

Expected<std::unique_ptr<PreTokenizer>> make_regex_split(const std::string& pattern, SplitBehavior behavior,
                                                         bool invert) {
  AUTOGLM_ASSIGN_OR_RETURN(Regex regex, Regex::compile(pattern));
  return std::unique_ptr<PreTokenizer>(new SplitPreTokenizer(std::move(regex), "", behavior, invert));
}

std::unique_ptr<PreTokenizer> make_sequence(std::vector<std::unique_ptr<PreTokenizer>> steps) {
  return std::make_unique<SequencePreTokenizer>(std::move(steps));
}

Expected<std::unique_ptr<PreTokenizer>> make_pre_tokenizer(const JsonField& spec, int depth) {
  using Ptr = std::unique_ptr<PreTokenizer>;
  if (!spec.is_object())
    return spec.error(std::string("expected an object, got ") + JsonField::type_name(spec.value()));
  if (depth > kMaxNesting) return spec.error("pre-tokenizers nested too deeply");
  AUTOGLM_ASSIGN_OR_RETURN(std::string type, spec.string_at("type"));
  if (type == "Sequence") {
    AUTOGLM_ASSIGN_OR_RETURN(JsonField list, spec.array_at("pretokenizers"));
    std::vector<Ptr> steps;
    for (size_t i = 0; i < list.size(); ++i) {
      AUTOGLM_ASSIGN_OR_RETURN(Ptr step, make_pre_tokenizer(list.element(i), depth + 1));
      steps.push_back(std::move(step));
    }
    return Ptr(new SequencePreTokenizer(std::move(steps)));
  }
  if (type == "ByteLevel") {
    AUTOGLM_ASSIGN_OR_RETURN(bool add_prefix_space, spec.bool_or("add_prefix_space", true));
    AUTOGLM_ASSIGN_OR_RETURN(bool use_regex, spec.bool_or("use_regex", true));
    return Ptr(new ByteLevelPreTokenizer(add_prefix_space, use_regex));
  }
  if (type == "Split") return make_split(spec);
  if (type == "Metaspace") return make_metaspace(spec);
  if (type == "Whitespace") {
    // Keeps the matches of \w+|[^\w\s]+ and drops what lies between them.
    AUTOGLM_ASSIGN_OR_RETURN(Regex regex, Regex::compile(kWhitespacePattern));
    return Ptr(new SplitPreTokenizer(std::move(regex), "", SplitBehavior::kRemoved, /*invert=*/true));
  }
  if (type == "WhitespaceSplit")
    return Ptr(new CharSplitPreTokenizer(unicode::rust_is_whitespace, SplitBehavior::kRemoved));
  if (type == "BertPreTokenizer") return Ptr(new BertPreTokenizer());
  if (type == "Digits") {
    AUTOGLM_ASSIGN_OR_RETURN(bool individual, spec.bool_or("individual_digits", false));
    return Ptr(new CharSplitPreTokenizer(unicode::rust_is_numeric,
                                         individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous));
  }
  if (type == "Punctuation") {
    AUTOGLM_ASSIGN_OR_RETURN(SplitBehavior behavior,
                             parse_behavior(spec, "behavior", SplitBehavior::kIsolated));
    return Ptr(new CharSplitPreTokenizer(unicode::is_bert_punctuation, behavior));
  }
  if (type == "CharDelimiterSplit") {
    AUTOGLM_ASSIGN_OR_RETURN(std::string delimiter, spec.string_at("delimiter"));
    if (utf8::count_code_points(delimiter) != 1 || !utf8::is_valid(delimiter)) {
      return spec.error("CharDelimiterSplit delimiter must be one character");
    }
    const char32_t d = utf8::decode(delimiter, 0).code_point;
    return Ptr(new CharSplitPreTokenizer([d](char32_t c) { return c == d; }, SplitBehavior::kRemoved));
  }
  return spec.unsupported("pre-tokenizer type \"" + type + "\" is not supported");
}

}  // namespace autoglm::hf
