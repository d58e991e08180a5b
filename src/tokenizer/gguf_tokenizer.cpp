#include "tokenizer/gguf_tokenizer.h"

#include <algorithm>

#include "tokenizer/native/bpe_merge.h"
#include "tokenizer/native/byte_level.h"
#include "tokenizer/native/gguf_vocab.h"
#include "tokenizer/native/piece_map.h"
#include "tokenizer/native/space_words.h"
#include "tokenizer/native/special_tokens.h"
#include "tokenizer/native/split_regex.h"
#include "tokenizer/native/word_cache.h"
#include "tokenizer/native/wordpiece.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

using native::GgufTokenType;
using native::GgufVocabType;

constexpr std::string_view kSpace = native::kSpaceMark;

class GgufTokenizer final : public Tokenizer {
 public:
  Status init(native::GgufVocab vocab, const std::string& path) {
    vocab_ = std::move(vocab);
    const auto n = static_cast<int32_t>(vocab_.tokens.size());
    ids_.reserve(n);
    for (int32_t i = 0; i < n; ++i) {
      ids_.insert(vocab_.tokens[i], i);
      max_token_bytes_ = std::max(max_token_bytes_, vocab_.tokens[i].size());
      const GgufTokenType t = vocab_.types[i];
      if (t == GgufTokenType::kControl || t == GgufTokenType::kUserDefined || t == GgufTokenType::kUnknown)
        matcher_.add({vocab_.tokens[i], i, false, vocab_.rstrip[i] != 0});
    }
    std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
    std::fill(std::begin(single_byte_ids_), std::end(single_byte_ids_), -1);
    for (int b = 0; b < 256; ++b) {
      char hex[8];
      std::snprintf(hex, sizeof(hex), "<0x%02X>", b);
      int32_t id = ids_.find(hex);
      if (id < 0 && vocab_.type == GgufVocabType::kSpm) id = ids_.find(std::string(1, static_cast<char>(b)));
      byte_ids_[b] = id;
      if (vocab_.type == GgufVocabType::kBpe)
        single_byte_ids_[b] = ids_.find(std::string(1, static_cast<char>(b)));
    }
    if (vocab_.type == GgufVocabType::kSpm) {
      native::SpaceCutFinder finder;
      for (const std::string& token : vocab_.tokens)
        finder.observe(token);
      spm_cut_ = finder.result(ids_.find(kSpace) >= 0);
    }
    if (vocab_.type == GgufVocabType::kBpe) {
      merges_.reserve(vocab_.merges.size());
      for (size_t r = 0; r < vocab_.merges.size(); ++r) {
        const auto [l, rr] = vocab_.merges[r];
        const int32_t merged = ids_.find(vocab_.tokens[l] + vocab_.tokens[rr]);
        merges_.insert(l, rr, {static_cast<int32_t>(r), merged});
      }
      for (std::string_view pattern : vocab_.pre_tokenizer.patterns) {
        auto regex = native::SplitRegex::compile(pattern);
        if (!regex.has_value()) return regex.status().with_context(path);
        regexes_.push_back(std::move(regex).value());
      }
    }
    return Status::ok();
  }

  std::vector<int32_t> encode(std::string_view input, const EncodeOptions& options) const override {
    std::string sanitized;
    std::string_view text = input;
    if (!utf8::is_valid(input)) {
      sanitized = utf8::sanitize(input);
      text = sanitized;
    }
    std::vector<native::TextSegment> segments;
    matcher_.split_longest_first(text, segments, [&](int32_t id) {
      return options.parse_special || vocab_.types[id] == GgufTokenType::kUserDefined;
    });
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    const bool add_bos = options.add_special_tokens && vocab_.add_bos && vocab_.bos;
    if (add_bos) out.push_back(*vocab_.bos);
    bool is_prev_special = true;  // SPM: a space prefix at the start and after special tokens
    std::string piece;
    for (const native::TextSegment& segment : segments) {
      if (segment.id >= 0) {
        out.push_back(segment.id);
        is_prev_special = true;
        continue;
      }
      const std::string_view raw = text.substr(segment.begin, segment.end - segment.begin);
      switch (vocab_.type) {
        case GgufVocabType::kSpm:
          piece.clear();
          if (vocab_.add_space_prefix && is_prev_special) piece += kSpace;
          for (char c : raw) {
            if (c == ' ') {
              piece += kSpace;
            } else {
              piece += c;
            }
          }
          encode_spm(piece, out);
          break;
        case GgufVocabType::kBpe:
          encode_bpe(raw, out);
          break;
        case GgufVocabType::kWpm:
          for (const std::string& word :
               native::wordpiece_words(raw, {vocab_.lowercase, vocab_.strip_accents}))
            native::wordpiece_encode_word(word, ids_, max_token_bytes_, vocab_.unk.value_or(-1), out);
          break;
      }
      is_prev_special = false;
    }
    if (options.add_special_tokens && vocab_.add_eos && vocab_.eos) out.push_back(*vocab_.eos);
    if (options.add_special_tokens && vocab_.type == GgufVocabType::kWpm && vocab_.add_sep && vocab_.sep)
      out.push_back(*vocab_.sep);
    return out;
  }

  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options) const override {
    std::string out;
    // The space the encoder put before the first piece (SPM prefix, WordPiece's ▁ word marker) is dropped.
    bool at_start =
        vocab_.type != GgufVocabType::kBpe && (vocab_.add_space_prefix || vocab_.type == GgufVocabType::kWpm);
    for (int32_t id : ids) {
      if (id < 0 || id >= vocab_size()) continue;
      const std::string& text = vocab_.tokens[id];
      switch (vocab_.types[id]) {
        case GgufTokenType::kControl:
        case GgufTokenType::kUnknown:
          if (options.skip_special_tokens) break;
          out += text;
          at_start = at_start && text.empty();
          break;
        case GgufTokenType::kUserDefined:
          out += text;
          at_start = false;
          break;
        case GgufTokenType::kByte:
          if (text.size() == 6)
            out.push_back(static_cast<char>(std::strtol(text.substr(3, 2).c_str(), nullptr, 16)));
          at_start = false;
          break;
        case GgufTokenType::kNormal: {
          const size_t before = out.size();
          if (vocab_.type == GgufVocabType::kBpe) {
            if (!native::from_byte_level(text, out)) {
              out.resize(before);
              out += text;  // a piece outside the byte-level alphabet: its text as it is
            }
          } else {
            append_unescaped(text, out);
            if (at_start && out.size() > before && out[before] == ' ') out.erase(before, 1);
          }
          at_start = false;
          break;
        }
        case GgufTokenType::kUnused:
        case GgufTokenType::kUndefined:
          break;
      }
    }
    return out;
  }

  int32_t vocab_size() const override { return static_cast<int32_t>(vocab_.tokens.size()); }
  std::string id_to_piece(int32_t id) const override {
    return id >= 0 && id < vocab_size() ? vocab_.tokens[id] : std::string();
  }
  std::optional<int32_t> piece_to_id(std::string_view piece) const override {
    const int32_t id = ids_.find(piece);
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }
  bool is_special(int32_t id) const override {
    if (id < 0 || id >= vocab_size()) return false;
    return vocab_.types[id] == GgufTokenType::kControl || vocab_.types[id] == GgufTokenType::kUnknown;
  }
  std::optional<int32_t> bos_id() const override { return vocab_.bos; }
  std::optional<int32_t> eos_id() const override { return vocab_.eos; }
  std::string describe() const override {
    const char* kind = vocab_.type == GgufVocabType::kSpm ? "sentencepiece-style bpe by scores, byte fallback"
                       : vocab_.type == GgufVocabType::kBpe ? "byte-level bpe by merges"
                                                            : "wordpiece";
    std::string s = std::string("gguf ") + vocab_.model + " (" + kind;
    if (vocab_.type == GgufVocabType::kBpe) s += ", pre-tokenizer " + vocab_.pre;
    return s + "), " + std::to_string(vocab_.tokens.size()) + " tokens";
  }

 private:
  static void append_unescaped(std::string_view piece, std::string& out) {
    size_t pos = 0;
    while (pos < piece.size()) {
      const size_t hit = piece.find(kSpace, pos);
      if (hit == std::string_view::npos) {
        out.append(piece.substr(pos));
        return;
      }
      out.append(piece.substr(pos, hit - pos));
      out.push_back(' ');
      pos = hit + kSpace.size();
    }
  }

  // llm_tokenizer_spm_session, word by word where the vocabulary allows it (native/space_words.h).
  void encode_spm(std::string_view text, std::vector<int32_t>& out) const {
    native::for_each_space_word(text, spm_cut_, [&](std::string_view word) {
      if (spm_cut_ != native::SpaceCut::kNone && cache_.lookup(word, out)) return;
      const size_t first = out.size();
      encode_spm_word(word, out);
      if (spm_cut_ != native::SpaceCut::kNone) cache_.store(word, out.data() + first, out.size() - first);
    });
  }

  // Merge by the score of the concatenation, byte fallback for what is left.
  void encode_spm_word(std::string_view text, std::vector<int32_t>& out) const {
    thread_local native::BpeScratch<float> scratch;
    native::bpe_init_symbols(
        text, true, [&](size_t pos, size_t len) { return ids_.find(text.substr(pos, len)); },
        scratch.symbols);
    native::bpe_merge(
        scratch,
        [&](const native::BpeSymbol& l, const native::BpeSymbol& r, float& priority, int32_t& merged) {
          const int32_t id = ids_.find(text.substr(l.start, l.length + r.length));
          if (id < 0) return false;
          priority = -vocab_.scores[id];
          merged = id;
          return true;
        },
        [](int32_t, uint32_t) {});
    for (int32_t i = scratch.symbols.empty() ? -1 : 0; i >= 0; i = scratch.symbols[i].next) {
      const native::BpeSymbol& s = scratch.symbols[i];
      if (s.id >= 0) {
        out.push_back(s.id);
        continue;
      }
      for (uint32_t k = 0; k < s.length; ++k) {
        const int32_t b = byte_ids_[static_cast<uint8_t>(text[s.start + k])];
        if (b >= 0) {
          out.push_back(b);
        } else if (vocab_.unk) {
          out.push_back(*vocab_.unk);
        }
      }
    }
  }

  // llm_tokenizer_bpe_session: the pre-tokenizer's pieces, each mapped to the byte-level alphabet and merged.
  void encode_bpe(std::string_view raw, std::vector<int32_t>& out) const {
    std::vector<native::TextRange> pieces;
    native::split_sequence(regexes_, raw, {0, static_cast<uint32_t>(raw.size())}, pieces);
    std::string word;
    for (const native::TextRange& p : pieces) {
      word.clear();
      native::append_byte_level(word, raw.substr(p.begin, p.end - p.begin));
      encode_bpe_word(word, out);
    }
  }

  void encode_bpe_word(std::string_view word, std::vector<int32_t>& out) const {
    if (vocab_.pre_tokenizer.ignore_merges) {
      if (const int32_t id = ids_.find(word); id >= 0) {
        out.push_back(id);
        return;
      }
    }
    if (cache_.lookup(word, out)) return;
    const size_t first = out.size();
    thread_local native::BpeScratch<int32_t> scratch;
    native::bpe_init_symbols(
        word, true, [&](size_t pos, size_t len) { return ids_.find(word.substr(pos, len)); },
        scratch.symbols);
    native::bpe_merge(
        scratch,
        [&](const native::BpeSymbol& l, const native::BpeSymbol& r, int32_t& priority, int32_t& merged) {
          if (l.id < 0 || r.id < 0) return false;
          const native::MergeMap::Merge m = merges_.find(l.id, r.id);
          if (m.rank < 0) return false;
          priority = m.rank;
          merged = m.merged;
          return true;
        },
        [](int32_t, uint32_t) {});
    for (int32_t i = scratch.symbols.empty() ? -1 : 0; i >= 0; i = scratch.symbols[i].next) {
      const native::BpeSymbol& s = scratch.symbols[i];
      if (s.id >= 0) {
        out.push_back(s.id);
        continue;
      }
      // llama.cpp: a symbol that is not a token becomes the tokens of its single bytes, where they exist.
      for (uint32_t k = 0; k < s.length; ++k) {
        const int32_t b = single_byte_ids_[static_cast<uint8_t>(word[s.start + k])];
        if (b >= 0) out.push_back(b);
      }
    }
    cache_.store(word, out.data() + first, out.size() - first);
  }

  native::GgufVocab vocab_;
  native::PieceMap ids_;
  native::SpecialTokenMatcher matcher_;
  native::MergeMap merges_;
  std::vector<native::SplitRegex> regexes_;
  int32_t byte_ids_[256];
  int32_t single_byte_ids_[256];
  size_t max_token_bytes_ = 0;
  native::SpaceCut spm_cut_ = native::SpaceCut::kNone;
  native::WordCache cache_;
};

}  // namespace

Expected<std::unique_ptr<Tokenizer>> load_gguf_tokenizer(const GgufFile& file) {
  AUTOGLM_ASSIGN_OR_RETURN(native::GgufVocab vocab, native::load_gguf_vocab(file));
  auto tokenizer = std::make_unique<GgufTokenizer>();
  AUTOGLM_RETURN_IF_ERROR(tokenizer->init(std::move(vocab), file.path()));
  return std::unique_ptr<Tokenizer>(std::move(tokenizer));
}

}  // namespace autoglm
