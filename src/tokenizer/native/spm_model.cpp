#include "tokenizer/native/spm_model.h"

#include <cfloat>
#include <unordered_map>

#include "tokenizer/native/bpe_merge.h"

namespace autoglm::native {
namespace {

constexpr float kUnkPenalty = 10.0f;  // unigram_model.h

size_t utf8_length(std::string_view s, size_t pos) {
  const auto lead = static_cast<uint8_t>(s[pos]);
  const size_t len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
  return std::min(len, s.size() - pos);
}

// "<0x4A>" -> 0x4A, or -1.
int parse_byte_piece(std::string_view piece) {
  if (piece.size() != 6 || piece.substr(0, 3) != "<0x" || piece[5] != '>') return -1;
  int value = 0;
  for (int i = 3; i < 5; ++i) {
    const char c = piece[i];
    const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
    if (digit < 0) return -1;
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

Status SpmModel::init(const SpmModelProto& proto) {
  pieces_ = proto.pieces;
  model_type_ = proto.model_type;
  byte_fallback_ = proto.byte_fallback;
  std::fill(std::begin(byte_ids_), std::end(byte_ids_), -1);
  normal_.reserve(pieces_.size());
  min_score_ = FLT_MAX;
  max_score_ = FLT_MIN;  // as unigram_model.cc initialises it (the smallest positive float, not the lowest)
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const SpmPiece& p = pieces_[i];
    const auto id = static_cast<int32_t>(i);
    if (p.piece.empty()) return parse_error("piece " + std::to_string(i) + " is empty");
    const bool normal = p.type == SpmPieceType::kNormal || p.type == SpmPieceType::kUserDefined ||
                        p.type == SpmPieceType::kUnused;
    // sentencepiece keeps the two maps separate but rejects a piece present in either already.
    if ((normal ? normal_ : reserved_).find(p.piece) >= 0 ||
        (normal ? reserved_ : normal_).find(p.piece) >= 0)
      return parse_error("duplicate piece '" + p.piece + "' (id " + std::to_string(i) + ")");
    (normal ? normal_ : reserved_).insert(p.piece, id);
    if (normal) trie_.insert(p.piece, id);
    switch (p.type) {
      case SpmPieceType::kNormal:
        min_score_ = std::min(min_score_, p.score);
        max_score_ = std::max(max_score_, p.score);
        break;
      case SpmPieceType::kUserDefined:
        user_defined_.insert(p.piece, id);
        has_user_defined_ = true;
        break;
      case SpmPieceType::kUnused:
        has_unused_ = true;
        break;
      case SpmPieceType::kUnknown:
        if (unk_id_ >= 0)
          return parse_error("more than one UNKNOWN piece (ids " + std::to_string(unk_id_) + ", " +
                             std::to_string(i) + ")");
        unk_id_ = id;
        break;
      case SpmPieceType::kByte: {
        if (!byte_fallback_)
          return parse_error("byte piece '" + p.piece + "' although byte_fallback is false");
        const int b = parse_byte_piece(p.piece);
        if (b < 0) return parse_error("invalid byte piece '" + p.piece + "'");
        byte_ids_[b] = id;
        break;
      }
      case SpmPieceType::kControl:
        break;
    }
  }
  if (unk_id_ < 0) return parse_error("no UNKNOWN piece (unk is not defined)");
  if (model_type_ == SpmModelType::kBpe) {
    SpaceCutFinder finder;
    for (const SpmPiece& p : pieces_) {
      if (p.type == SpmPieceType::kNormal || p.type == SpmPieceType::kUserDefined ||
          p.type == SpmPieceType::kUnused)
        finder.observe(p.piece);
    }
    const int32_t space = normal_.find(kSpaceMark);
    cut_ = finder.result(space >= 0 && pieces_[space].type != SpmPieceType::kUnused);
  }
  return Status::ok();
}

int32_t SpmModel::piece_id(std::string_view piece) const {
  const int32_t id = normal_.find(piece);
  return id >= 0 ? id : reserved_.find(piece);
}

void SpmModel::encode(std::string_view normalized, std::vector<int32_t>& out) const {
  if (cut_ == SpaceCut::kNone) {
    encode_text(normalized, out);
    return;
  }
  for_each_space_word(normalized, cut_, [&](std::string_view word) {
    if (cache_.lookup(word, out)) return;
    const size_t first = out.size();
    encode_text(word, out);
    cache_.store(word, out.data() + first, out.size() - first);
  });
}

void SpmModel::encode_text(std::string_view normalized, std::vector<int32_t>& out) const {
  if (normalized.empty()) return;
  std::vector<Segment> segments;
  switch (model_type_) {
    case SpmModelType::kBpe:
      encode_bpe(normalized, segments);
      break;
    case SpmModelType::kUnigram:
      encode_unigram(normalized, segments);
      break;
    case SpmModelType::kWord:
    case SpmModelType::kChar:
      encode_by_whitespace(normalized, segments);
      break;
  }
  // A run of unknown pieces becomes one unknown piece (one <unk> id), as SentencePiece merges them.
  size_t kept = 0;
  for (size_t i = 0; i < segments.size(); ++i) {
    if (kept > 0 && segments[i].id == unk_id_ && segments[kept - 1].id == unk_id_) {
      segments[kept - 1].length += segments[i].length;
    } else {
      segments[kept++] = segments[i];
    }
  }
  segments.resize(kept);
  for (const Segment& s : segments) {
    if (s.id == unk_id_ && byte_fallback_) {
      for (size_t i = 0; i < s.length; ++i) {
        const int32_t b = byte_ids_[static_cast<uint8_t>(normalized[s.start + i])];
        out.push_back(b >= 0 ? b : unk_id_);
      }
    } else {
      out.push_back(s.id);
    }
  }
}

void SpmModel::encode_bpe(std::string_view text, std::vector<Segment>& out) const {
  thread_local BpeScratch<float> scratch;
  auto& symbols = scratch.symbols;
  symbols.clear();
  for (size_t pos = 0; pos < text.size();) {
    size_t len = 0;
    bool frozen = false;
    if (has_user_defined_) {
      len = user_defined_.longest_prefix(text, pos).first;
      frozen = len > 0;
    }
    if (len == 0) len = utf8_length(text, pos);
    BpeSymbol s;
    s.start = static_cast<uint32_t>(pos);
    s.length = static_cast<uint32_t>(len);
    s.prev = static_cast<int32_t>(symbols.size()) - 1;
    s.next = pos + len < text.size() ? static_cast<int32_t>(symbols.size()) + 1 : -1;
    s.frozen = frozen;
    symbols.push_back(s);
    pos += len;
  }
  // Reverse merges of UNUSED pieces: merged text -> byte length of its left part (the last one queued wins).
  std::unordered_map<std::string_view, uint32_t> rev_merge;
  bpe_merge(
      scratch,
      [&](const BpeSymbol& l, const BpeSymbol& r, float& priority, int32_t& merged) {
        const std::string_view piece = text.substr(l.start, l.length + r.length);
        const int32_t id = normal_.find(piece);
        if (id < 0) return false;
        priority = -pieces_[id].score;
        merged = id;
        if (has_unused_ && pieces_[id].type == SpmPieceType::kUnused) rev_merge[piece] = l.length;
        return true;
      },
      [](int32_t, uint32_t) {});
  // Resegments UNUSED pieces into the pieces that formed them.
  auto emit = [&](auto&& self, uint32_t start, uint32_t length) -> void {
    const std::string_view w = text.substr(start, length);
    int32_t id = piece_id(w);
    if (id < 0) id = unk_id_;
    if (pieces_[id].type == SpmPieceType::kUnused) {
      const auto it = rev_merge.find(w);
      if (it != rev_merge.end()) {
        self(self, start, it->second);
        self(self, start + it->second, length - it->second);
        return;
      }
    }
    out.push_back({start, length, id});
  };
  for (int32_t i = symbols.empty() ? -1 : 0; i >= 0; i = symbols[i].next)
    emit(emit, symbols[i].start, symbols[i].length);
}

void SpmModel::encode_unigram(std::string_view text, std::vector<Segment>& out) const {
  struct BestPathNode {
    int32_t id = -1;
    float best_path_score = 0.0f;
    int32_t starts_at = -1;
  };
  const size_t size = text.size();
  const float unk_score = min_score_ - kUnkPenalty;
  std::vector<BestPathNode> best(size + 1);
  size_t starts_at = 0;
  while (starts_at < size) {
    const float till_here = best[starts_at].best_path_score;
    bool has_single_node = false;
    const size_t mblen = utf8_length(text, starts_at);
    trie_.for_each_prefix(text, starts_at, [&](size_t length, int32_t id) {
      const SpmPiece& p = pieces_[id];
      if (p.type == SpmPieceType::kUnused) return;
      BestPathNode& target = best[starts_at + length];
      // unigram_model.cc sums in float; user-defined pieces get length * max_score_ - 0.1 (always chosen).
      const float score =
          p.type == SpmPieceType::kUserDefined ? static_cast<float>(length) * max_score_ - 0.1f : p.score;
      const float candidate = score + till_here;
      const bool better = target.starts_at == -1 || candidate > target.best_path_score;
      if (better) {
        target.best_path_score = candidate;
        target.starts_at = static_cast<int32_t>(starts_at);
        target.id = id;
      }
      if (!has_single_node && length == mblen) has_single_node = true;
    });
    if (!has_single_node) {
      BestPathNode& target = best[starts_at + mblen];
      const float candidate = unk_score + till_here;
      if (target.starts_at == -1 || candidate > target.best_path_score) {
        target.best_path_score = candidate;
        target.starts_at = static_cast<int32_t>(starts_at);
        target.id = unk_id_;
      }
    }
    starts_at += mblen;
  }
  const size_t first = out.size();
  for (size_t ends_at = size; ends_at > 0;) {
    const BestPathNode& node = best[ends_at];
    out.push_back(
        {static_cast<uint32_t>(node.starts_at), static_cast<uint32_t>(ends_at - node.starts_at), node.id});
    ends_at = static_cast<size_t>(node.starts_at);
  }
  std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first), out.end());
}

void SpmModel::encode_by_whitespace(std::string_view text, std::vector<Segment>& out) const {
  // CHAR: one piece per character. WORD: util.cc SplitIntoWords, a word starting at every U+2581.
  std::vector<std::pair<size_t, size_t>> words;
  for (size_t pos = 0; pos < text.size();) {
    const size_t len = utf8_length(text, pos);
    const bool is_ws = text.substr(pos, len) == "\xE2\x96\x81";
    if (model_type_ == SpmModelType::kChar || words.empty() || is_ws) {
      words.emplace_back(pos, 0);
    }
    words.back().second += len;
    pos += len;
  }
  for (const auto& [start, length] : words) {
    int32_t id = piece_id(text.substr(start, length));
    if (id < 0) id = unk_id_;
    out.push_back({static_cast<uint32_t>(start), static_cast<uint32_t>(length), id});
  }
}

}  // namespace autoglm::native
