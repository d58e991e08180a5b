#include "tokenizer/tiktoken_tokenizer.h"

#include <algorithm>
#include <array>
#include <climits>
#include <fstream>
#include <sstream>
#include <vector>

#include "tokenizer/native/bpe_merge.h"
#include "tokenizer/native/byte_level.h"
#include "tokenizer/native/piece_map.h"
#include "tokenizer/native/special_tokens.h"
#include "tokenizer/native/split_regex.h"
#include "tokenizer/native/word_cache.h"
#include "tokenizer/utf8.h"

namespace autoglm {
namespace {

// Meta's llama/tokenizer.py (Llama 3).
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// tiktoken_ext/openai_public.py, cl100k_base (`\s++$` is the end of the text, as Rust regex means `$`).
constexpr std::string_view kCl100kPattern =
    R"('(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|\s++$|\s*[\r\n]|\s+(?!\S)|\s)";

constexpr int32_t kLlama3Ranks = 128000;
constexpr int32_t kCl100kRanks = 100256;

TiktokenSpec llama3_spec() {
  TiktokenSpec spec{"llama3", std::string(kLlama3Pattern), {}, kLlama3Ranks, kLlama3Ranks + 1, true};
  const char* named[] = {"<|begin_of_text|>",
                         "<|end_of_text|>",
                         "<|reserved_special_token_0|>",
                         "<|reserved_special_token_1|>",
                         "<|reserved_special_token_2|>",
                         "<|reserved_special_token_3|>",
                         "<|start_header_id|>",
                         "<|end_header_id|>",
                         "<|reserved_special_token_4|>",
                         "<|eot_id|>"};
  int32_t id = kLlama3Ranks;
  for (const char* s : named)
    spec.special_tokens.emplace_back(s, id++);
  for (int i = 5; i < 256 - 5; ++i) {
    spec.special_tokens.emplace_back("<|reserved_special_token_" + std::to_string(i) + "|>", id++);
  }
  return spec;
}

TiktokenSpec cl100k_spec() {
  return TiktokenSpec{"cl100k_base",
                      std::string(kCl100kPattern),
                      {{"<|endoftext|>", 100257},
                       {"<|fim_prefix|>", 100258},
                       {"<|fim_middle|>", 100259},
                       {"<|fim_suffix|>", 100260},
                       {"<|endofprompt|>", 100276}},
                      std::nullopt,
                      100257,
                      false};
}

// Strict standard base64 (RFC 4648 alphabet, '=' padding); false on anything else.
bool decode_base64(std::string_view in, std::string& out) {
  out.clear();
  if (in.empty() || in.size() % 4 != 0) return false;
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  for (size_t i = 0; i < in.size(); i += 4) {
    const bool last = i + 4 == in.size();
    const int pad = last ? (in[i + 3] == '=') + (in[i + 2] == '=' && in[i + 3] == '=') : 0;
    int v[4];
    for (int k = 0; k < 4 - pad; ++k) {
      v[k] = value(in[i + k]);
      if (v[k] < 0) return false;
    }
    const uint32_t n = (v[0] << 18) | (v[1] << 12) | ((pad < 2 ? v[2] : 0) << 6) | (pad < 1 ? v[3] : 0);
    out.push_back(static_cast<char>(n >> 16));
    if (pad < 2) out.push_back(static_cast<char>((n >> 8) & 0xFF));
    if (pad < 1) out.push_back(static_cast<char>(n & 0xFF));
  }
  return true;
}

// The ranks of a file: token bytes by rank, and bytes -> rank.
struct RankFile {
  std::vector<std::string> token_bytes;
  native::PieceMap ranks;
};

Expected<RankFile> parse_ranks(std::string_view bytes, const std::string& origin) {
  auto fail = [&](const std::string& what) { return parse_error(origin + ": " + what); };
  RankFile file;
  file.ranks.reserve(bytes.size() / 12);
  std::vector<bool> rank_seen;
  std::string decoded;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < bytes.size()) {
    size_t eol = bytes.find('\n', pos);
    if (eol == std::string_view::npos) eol = bytes.size();
    std::string_view line = bytes.substr(pos, eol - pos);
    pos = eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) continue;
    const std::string where = "line " + std::to_string(line_no);
    const size_t space = line.find(' ');
    if (space == std::string_view::npos || line.find(' ', space + 1) != std::string_view::npos)
      return fail(where + ": expected '<base64 token> <rank>'");
    if (!decode_base64(line.substr(0, space), decoded)) return fail(where + ": invalid base64 token");
    const std::string_view rank_text = line.substr(space + 1);
    int64_t rank = 0;
    const bool digits =
        !rank_text.empty() && rank_text.size() <= 9 &&
        std::all_of(rank_text.begin(), rank_text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (!digits) return fail(where + ": invalid rank '" + std::string(rank_text.substr(0, 20)) + "'");
    for (char c : rank_text)
      rank = rank * 10 + (c - '0');
    // Every rank below this one needs a line of at least 4 bytes: a larger rank cannot be complete.
    if (rank >= static_cast<int64_t>(bytes.size() / 4) + 1)
      return fail(where + ": rank " + std::to_string(rank) + " out of range for a file of this size");
    if (rank >= static_cast<int64_t>(file.token_bytes.size())) {
      file.token_bytes.resize(rank + 1);
      rank_seen.resize(rank + 1, false);
    }
    if (rank_seen[rank]) return fail(where + ": duplicate rank " + std::to_string(rank));
    if (!file.ranks.insert(decoded, static_cast<int32_t>(rank))) return fail(where + ": duplicate token");
    rank_seen[rank] = true;
    file.token_bytes[rank] = decoded;
  }
  if (file.token_bytes.empty()) return fail("no ranks (not a tiktoken file?)");
  for (size_t r = 0; r < rank_seen.size(); ++r) {
    if (!rank_seen[r]) return fail("rank " + std::to_string(r) + " is missing (ranks must be 0..n-1)");
  }
  for (int b = 0; b < 256; ++b) {
    if (file.ranks.find(std::string(1, static_cast<char>(b))) < 0)
      return fail("byte " + std::to_string(b) + " has no rank (every single byte must be a token)");
  }
  return file;
}

class TiktokenTokenizer final : public Tokenizer {
 public:
  TiktokenTokenizer(RankFile file, TiktokenSpec spec, native::SplitRegex split)
      : token_bytes_(std::move(file.token_bytes)),
        ranks_(std::move(file.ranks)),
        spec_(std::move(spec)),
        split_(std::move(split)) {
    n_ranks_ = static_cast<int32_t>(token_bytes_.size());
    vocab_size_ = n_ranks_;
    for (const auto& [text, id] : spec_.special_tokens) {
      vocab_size_ = std::max(vocab_size_, id + 1);
      special_ids_.insert(text, id);
      matcher_.add({text, id});
      specials_by_id_.emplace_back(id, text);
    }
    std::sort(specials_by_id_.begin(), specials_by_id_.end());
    // Direct tables for the first merge level (every word starts as single bytes): no hashing there.
    byte_pair_rank_.assign(256 * 256, -1);
    char pair[2];
    for (int a = 0; a < 256; ++a) {
      pair[0] = static_cast<char>(a);
      byte_rank_[a] = ranks_.find(std::string_view(pair, 1));
      for (int b = 0; b < 256; ++b) {
        pair[1] = static_cast<char>(b);
        byte_pair_rank_[a * 256 + b] = ranks_.find(std::string_view(pair, 2));
      }
    }
  }

  std::vector<int32_t> encode(std::string_view input, const EncodeOptions& options) const override {
    std::string sanitized;
    std::string_view text = input;
    if (!utf8::is_valid(input)) {
      sanitized = utf8::sanitize(input);
      text = sanitized;
    }
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 2);
    if (options.add_special_tokens && spec_.add_bos && spec_.bos) out.push_back(*spec_.bos);
    std::vector<native::TextSegment> segments;
    if (options.parse_special) {
      matcher_.split_leftmost_longest(text, segments);
    } else if (!text.empty()) {
      segments.push_back({0, static_cast<uint32_t>(text.size()), -1});
    }
    std::vector<native::TextRange> pieces;
    for (const native::TextSegment& segment : segments) {
      if (segment.id >= 0) {
        out.push_back(segment.id);
        continue;
      }
      pieces.clear();
      split_.find_all(text, {segment.begin, segment.end}, pieces);
      for (const native::TextRange& piece : pieces)
        encode_piece(text.substr(piece.begin, piece.end - piece.begin), out);
    }
    return out;
  }

  std::string decode(std::span<const int32_t> ids, const DecodeOptions& options) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id >= 0 && id < n_ranks_) {
        out += token_bytes_[id];
      } else if (const std::string* s = special_text(id); s && !options.skip_special_tokens) {
        out += *s;
      }
    }
    return out;
  }

  int32_t vocab_size() const override { return vocab_size_; }

  std::string id_to_piece(int32_t id) const override {
    if (id >= 0 && id < n_ranks_) return native::to_byte_level(token_bytes_[id]);
    const std::string* s = special_text(id);
    return s ? *s : std::string();
  }

  std::optional<int32_t> piece_to_id(std::string_view piece) const override {
    if (const int32_t id = special_ids_.find(piece); id >= 0) return id;
    std::string bytes;
    if (!native::from_byte_level(piece, bytes)) return std::nullopt;
    const int32_t id = ranks_.find(bytes);
    return id >= 0 ? std::optional<int32_t>(id) : std::nullopt;
  }

  bool is_special(int32_t id) const override { return special_text(id) != nullptr; }
  std::optional<int32_t> bos_id() const override { return spec_.bos; }
  std::optional<int32_t> eos_id() const override { return spec_.eos; }
  std::string describe() const override {
    return "tiktoken byte-level bpe (" + spec_.name + ", " + std::to_string(n_ranks_) + " ranks, " +
           std::to_string(specials_by_id_.size()) + " special)";
  }

 private:
  // The text of a special token id, or null (ordinary ids, gaps between specials, out of range).
  const std::string* special_text(int32_t id) const {
    if (id < n_ranks_) return nullptr;
    const auto it =
        std::lower_bound(specials_by_id_.begin(), specials_by_id_.end(), id,
                         [](const std::pair<int32_t, std::string>& e, int32_t v) { return e.first < v; });
    return it != specials_by_id_.end() && it->first == id ? &it->second : nullptr;
  }

  void encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    if (const int32_t id = ranks_.find(piece); id >= 0) {
      out.push_back(id);
      return;
    }
    if (cache_.lookup(piece, out)) return;
    thread_local native::BpeScratch<int32_t> scratch;
    native::bpe_init_symbols(
        piece, false, [&](size_t pos, size_t) { return byte_rank_[static_cast<uint8_t>(piece[pos])]; },
        scratch.symbols);
    native::bpe_merge(
        scratch,
        [&](const native::BpeSymbol& l, const native::BpeSymbol& r, int32_t& priority, int32_t& merged) {
          const int32_t rank = l.length == 1 && r.length == 1
                                   ? byte_pair_rank_[static_cast<uint8_t>(piece[l.start]) * 256 +
                                                     static_cast<uint8_t>(piece[r.start])]
                                   : ranks_.find(piece.substr(l.start, l.length + r.length));
          if (rank < 0) return false;
          priority = rank;
          merged = rank;
          return true;
        },
        [](int32_t, uint32_t) {});
    const size_t first = out.size();
    for (int32_t i = 0; i >= 0; i = scratch.symbols[i].next)
      out.push_back(scratch.symbols[i].id);
    cache_.store(piece, out.data() + first, out.size() - first);
  }

  std::vector<std::string> token_bytes_;
  native::PieceMap ranks_;
  TiktokenSpec spec_;
  native::SplitRegex split_;
  native::SpecialTokenMatcher matcher_;
  native::PieceMap special_ids_;
  std::vector<std::pair<int32_t, std::string>> specials_by_id_;  // sorted by id
  int32_t n_ranks_ = 0;
  int32_t vocab_size_ = 0;
  std::array<int32_t, 256> byte_rank_{};
  std::vector<int32_t>
      byte_pair_rank_;  // [a * 256 + b]: the rank of the two bytes, -1 if they are not a token
  native::WordCache cache_;
};

Expected<std::unique_ptr<Tokenizer>> build(RankFile file, const std::string& origin, TiktokenSpec spec) {
  auto fail = [&](const std::string& what) { return parse_error(origin + ": " + what); };
  const auto n_ranks = static_cast<int64_t>(file.token_bytes.size());
  native::PieceMap texts;
  std::vector<int32_t> ids;
  for (const auto& [text, id] : spec.special_tokens) {
    if (text.empty()) return fail("special token " + std::to_string(id) + " has no text");
    if (id < n_ranks)
      return fail("special token '" + text + "' has id " + std::to_string(id) + ", a rank of the file");
    if (id == INT32_MAX)
      return fail("special token '" + text + "' has id " + std::to_string(id) + ", out of range");
    if (!texts.insert(text, id)) return fail("special token '" + text + "' is listed twice");
    ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) return fail("two special tokens share an id");
  for (const std::optional<int32_t>& id : {spec.bos, spec.eos}) {
    if (id && (*id < 0 || (*id >= n_ranks && !std::binary_search(ids.begin(), ids.end(), *id))))
      return fail("BOS/EOS id " + std::to_string(*id) + " is neither a rank nor a special token");
  }
  auto split = native::SplitRegex::compile(spec.pattern);
  if (!split.has_value()) return split.status().with_context(origin);
  return std::unique_ptr<Tokenizer>(
      new TiktokenTokenizer(std::move(file), std::move(spec), std::move(split).value()));
}

}  // namespace

std::optional<TiktokenSpec> known_tiktoken_spec(size_t n_ranks) {
  if (n_ranks == kLlama3Ranks) return llama3_spec();
  if (n_ranks == kCl100kRanks) return cl100k_spec();
  return std::nullopt;
}

Expected<std::unique_ptr<Tokenizer>> parse_tiktoken(std::string_view bytes, const std::string& origin) {
  AUTOGLM_ASSIGN_OR_RETURN(RankFile file, parse_ranks(bytes, origin));
  const size_t n = file.token_bytes.size();
  std::optional<TiktokenSpec> spec = known_tiktoken_spec(n);
  if (!spec) {
    return Status(StatusCode::kUnsupported,
                  origin + ": unrecognised tiktoken file (" + std::to_string(n) +
                      " ranks; known: Llama 3 with 128000, cl100k_base with 100256; "
                      "others need a TiktokenSpec)");
  }
  return build(std::move(file), origin, std::move(*spec));
}

Expected<std::unique_ptr<Tokenizer>> parse_tiktoken(std::string_view bytes, const std::string& origin,
                                                    const TiktokenSpec& spec) {
  AUTOGLM_ASSIGN_OR_RETURN(RankFile file, parse_ranks(bytes, origin));
  return build(std::move(file), origin, spec);
}

Expected<std::unique_ptr<Tokenizer>> load_tiktoken(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return not_found(path + ": cannot open tiktoken file");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) return io_error(path + ": read failed");
  return parse_tiktoken(buffer.str(), path);
}

}  // namespace autoglm
