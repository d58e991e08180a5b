#include "tokenizer/hf/added_vocabulary.h"

#include <algorithm>
#include <map>

#include "tokenizer/hf/regex.h"
#include "tokenizer/hf/unicode.h"
#include "tokenizer/utf8.h"

namespace autoglm::hf {
namespace {

// The character before `end` / at `start`, for the word and whitespace tests.
char32_t char_before(std::string_view s, size_t end) {
  size_t start = end - 1;
  while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
    --start;
  return utf8::decode(s, start).code_point;
}

// HF tests \w (Rust regex, UTS #18) against the character next to the token.
bool is_word_char(char32_t c) {
  static const Regex word = Regex::compile(R"([\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}])").value();
  const std::string s = utf8::encode(c);
  std::vector<MatchSpan> matches;
  word.find_all(s, matches);
  return !matches.empty();
}

// Start of the run of White_Space that ends `s` (s.size() if none).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t start = end - 1;
    while (start > 0 && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80)
      --start;
    if (!unicode::rust_is_whitespace(utf8::decode(s, start).code_point)) break;
    end = start;
  }
  return end;
}

// Length of the run of White_Space that starts `s`.
size_t leading_space_length(std::string_view s) {
  size_t pos = 0;
  while (pos < s.size()) {
    const utf8::Decoded d = utf8::decode(s, pos);
    if (!unicode::rust_is_whitespace(d.code_point)) break;
    pos += d.length;
  }
  return pos;
}

}  // namespace

void AddedVocabulary::Matcher::finish() {
  for (auto& list : by_first_byte)
    list.clear();
  for (size_t i = 0; i < patterns.size(); ++i) {
    if (patterns[i].empty()) continue;
    by_first_byte[static_cast<uint8_t>(patterns[i][0])].push_back(static_cast<int32_t>(i));
  }
  for (auto& list : by_first_byte) {
    std::stable_sort(list.begin(), list.end(),
                     [&](int32_t a, int32_t b) { return patterns[a].size() > patterns[b].size(); });
  }
}

void AddedVocabulary::build(std::vector<AddedToken> tokens, const Normalizer* normalizer) {
  tokens_.clear();
  by_id_.clear();
  by_content_.clear();
  special_contents_.clear();
  normalized_forms_.clear();
  raw_ = Matcher();
  normalized_ = Matcher();
  // Insertion as HF does it: a content seen again moves to its new id, the last flags win.
  std::map<int32_t, AddedToken> by_id;
  for (AddedToken& t : tokens) {
    if (t.content.empty()) continue;  // HF ignores empty tokens
    auto old = by_content_.find(t.content);
    if (old != by_content_.end() && old->second != t.id) by_id.erase(old->second);
    by_content_[t.content] = t.id;
    if (t.special) {
      special_contents_[t.content] = true;
    } else {
      special_contents_.erase(t.content);
    }
    by_id[t.id] = std::move(t);
  }
  for (auto& [id, t] : by_id) {
    by_id_[id] = tokens_.size();
    tokens_.push_back(std::move(t));
  }
  // Patterns in id order; a normalized token is searched (and decoded, as HF does) in its normalized form.
  for (size_t i = 0; i < tokens_.size(); ++i) {
    const AddedToken& t = tokens_[i];
    Matcher& m = t.normalized ? normalized_ : raw_;
    std::string pattern = t.content;
    if (t.normalized && normalizer != nullptr) {
      normalizer->normalize(pattern);
      if (pattern != t.content) normalized_forms_[t.id] = pattern;
    }
    m.patterns.push_back(std::move(pattern));
    m.token_index.push_back(static_cast<int32_t>(i));
  }
  raw_.finish();
  normalized_.finish();
}

const std::string* AddedVocabulary::decode_piece(int32_t id) const {
  auto it = normalized_forms_.find(id);
  if (it != normalized_forms_.end()) return &it->second;
  const AddedToken* t = find_by_id(id);
  return t != nullptr ? &t->content : nullptr;
}

const AddedToken* AddedVocabulary::find_by_id(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &tokens_[it->second];
}

std::optional<int32_t> AddedVocabulary::find_by_content(std::string_view content) const {
  auto it = by_content_.find(content);
  if (it == by_content_.end()) return std::nullopt;
  return it->second;
}

bool AddedVocabulary::is_special_content(std::string_view content) const {
  return special_contents_.find(content) != special_contents_.end();
}

void AddedVocabulary::find_matches(std::string_view sentence, const Matcher& matcher, bool parse_special,
                                   bool at_start, std::vector<Split>& out) const {
  auto emit_text = [&](size_t start, size_t end) {
    if (end > start) out.push_back({sentence.substr(start, end - start), -1, at_start && start == 0});
  };
  if (matcher.empty()) {
    emit_text(0, sentence.size());
    return;
  }
  size_t start_offset = 0;
  size_t pos = 0;
  const size_t n = sentence.size();
  while (pos < n) {
    const auto& candidates = matcher.by_first_byte[static_cast<uint8_t>(sentence[pos])];
    int32_t hit = -1;
    for (int32_t p : candidates) {
      const std::string& pat = matcher.patterns[p];
      if (sentence.compare(pos, pat.size(), pat) == 0) {
        hit = p;
        break;
      }
    }
    if (hit < 0) {
      ++pos;
      continue;
    }
    size_t start = pos;
    size_t stop = pos + matcher.patterns[hit].size();
    pos = stop;  // the search goes on after the raw match, whether it is kept, stripped or not
    const AddedToken& token = tokens_[matcher.token_index[hit]];
    if (!parse_special && is_special_content(token.content)) continue;
    if (token.single_word) {
      const bool start_ok = start == 0 || !is_word_char(char_before(sentence, start));
      const bool stop_ok = stop == n || !is_word_char(utf8::decode(sentence, stop).code_point);
      if (!start_ok || !stop_ok) continue;
    }
    if (token.lstrip) start = std::max(trailing_space_start(sentence.substr(0, start)), start_offset);
    if (token.rstrip) stop += leading_space_length(sentence.substr(stop));
    if (start_offset < start) emit_text(start_offset, start);
    out.push_back({sentence.substr(start, stop - start), token.id, false});
    start_offset = stop;
  }
  emit_text(start_offset, n);
}

void AddedVocabulary::extract_and_normalize(std::string_view text, const Normalizer* normalizer,
                                            bool parse_special, PieceArena& arena,
                                            std::vector<Split>& out) const {
  thread_local std::vector<Split> raw_splits;
  raw_splits.clear();
  find_matches(text, raw_, parse_special, /*at_start=*/true, raw_splits);
  for (const Split& split : raw_splits) {
    if (split.id >= 0) {
      out.push_back(split);
      continue;
    }
    std::string_view normalized = split.text;
    if (normalizer != nullptr) {
      std::string s(split.text);
      normalizer->normalize(s);
      normalized = arena.keep(std::move(s));
    }
    find_matches(normalized, normalized_, parse_special, split.at_start, out);
  }
}

}  // namespace autoglm::hf
