// The BPE merge loop shared by every native tokenizer: tiktoken (lowest rank of the concatenated bytes),
// SentencePiece BPE and llama.cpp's SPM vocabularies (highest score of the concatenated piece), and GGUF
// byte-level BPE (lowest rank in the merges list).
//
// The word is a doubly linked list of symbols (byte ranges of the word) and a binary heap of candidate merges
// of adjacent symbols, ordered by priority, then by the position of the left symbol: this is "merge the best
// pair, the leftmost among equals" of tiktoken's _byte_pair_merge, SentencePiece's bpe_model.cc agenda and
// llama.cpp's llm_tokenizer_{spm,bpe}_session, in O(n log n) instead of tiktoken's O(n^2). A candidate whose
// symbols changed since it was queued is recognised by its byte length and dropped when popped.
#pragma once

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

namespace autoglm::native {

struct BpeSymbol {
  uint32_t start = 0;   // byte offset in the word
  uint32_t length = 0;  // 0 once merged into its left neighbour
  int32_t prev = -1;
  int32_t next = -1;
  int32_t id = -1;      // token id of the symbol's bytes; -1 if they are not a token
  bool frozen = false;  // never merged (SentencePiece user-defined symbols)
};

template <typename Priority>
struct BpeCandidate {
  Priority priority;  // lower merges first
  int32_t left = 0;
  int32_t right = 0;
  uint32_t length = 0;  // bytes of the merged symbol when queued
  int32_t merged_id = -1;
};

// Scratch buffers reused across words by one caller (not shared between threads).
template <typename Priority>
struct BpeScratch {
  std::vector<BpeSymbol> symbols;
  std::vector<BpeCandidate<Priority>> heap;
};

// Symbols for each byte of a word, or each UTF-8 character when `by_character` (SentencePiece, llama.cpp).
// `id_of(start, length)` gives the token id of the initial symbol or -1.
template <typename IdOf>
void bpe_init_symbols(std::string_view word, bool by_character, IdOf&& id_of,
                      std::vector<BpeSymbol>& symbols) {
  symbols.clear();
  size_t pos = 0;
  while (pos < word.size()) {
    size_t len = 1;
    if (by_character) {
      const auto lead = static_cast<uint8_t>(word[pos]);
      len = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
      len = std::min(len, word.size() - pos);
    }
    BpeSymbol s;
    s.start = static_cast<uint32_t>(pos);
    s.length = static_cast<uint32_t>(len);
    s.prev = static_cast<int32_t>(symbols.size()) - 1;
    s.next = pos + len < word.size() ? static_cast<int32_t>(symbols.size()) + 1 : -1;
    s.id = id_of(pos, len);
    symbols.push_back(s);
    pos += len;
  }
}

// Runs the merges. `lookup(const BpeSymbol& left, const BpeSymbol& right, Priority& priority, int32_t&
// merged_id)` returns whether the pair can merge. `on_merge(left_symbol_index, left_length)` is told of every
// merge before it happens (for SentencePiece's resegmentation of unused pieces); pass a no-op otherwise.
// Afterwards the surviving symbols are reached from symbols[0] through `next`.
template <typename Priority, typename Lookup, typename OnMerge>
void bpe_merge(BpeScratch<Priority>& scratch, Lookup&& lookup, OnMerge&& on_merge);

// Words of at most this many symbols (nearly all of them) merge by a linear scan over cached pair priorities,
// as tiktoken does: for short words that beats the heap's bookkeeping. Both pick the same pair every time.
inline constexpr size_t kBpeLinearMaxSymbols = 24;

template <typename Priority, typename Lookup, typename OnMerge>
void bpe_merge_linear(BpeScratch<Priority>& scratch, Lookup&& lookup, OnMerge&& on_merge) {
  auto& symbols = scratch.symbols;
  auto& pairs = scratch.heap;  // pairs[i]: the merge of symbol i with its successor; length 0 when none
  pairs.assign(symbols.size(), BpeCandidate<Priority>{});
  const auto compute = [&](int32_t i) {
    BpeCandidate<Priority>& c = pairs[i];
    c.length = 0;
    const int32_t j = symbols[i].next;
    if (j < 0 || symbols[i].frozen || symbols[j].frozen) return;
    if (lookup(symbols[i], symbols[j], c.priority, c.merged_id))
      c.length = symbols[i].length + symbols[j].length;
  };
  for (int32_t i = 0; i >= 0; i = symbols[i].next)
    compute(i);
  while (true) {
    int32_t best = -1;
    for (int32_t i = 0; i >= 0; i = symbols[i].next) {
      if (pairs[i].length != 0 && (best < 0 || pairs[i].priority < pairs[best].priority)) best = i;
    }
    if (best < 0) return;
    BpeSymbol& l = symbols[best];
    BpeSymbol& r = symbols[l.next];
    on_merge(best, l.length);
    l.length += r.length;
    l.id = pairs[best].merged_id;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = best;
    r.length = 0;
    compute(best);
    if (l.prev >= 0) compute(l.prev);
  }
}

template <typename Priority, typename Lookup, typename OnMerge>
void bpe_merge(BpeScratch<Priority>& scratch, Lookup&& lookup, OnMerge&& on_merge) {
  auto& symbols = scratch.symbols;
  if (symbols.empty()) return;
  if (symbols.size() <= kBpeLinearMaxSymbols) {
    bpe_merge_linear(scratch, lookup, on_merge);
    return;
  }
  auto& heap = scratch.heap;
  heap.clear();
  const auto worse = [](const BpeCandidate<Priority>& a, const BpeCandidate<Priority>& b) {
    if (a.priority != b.priority) return b.priority < a.priority;
    return a.left > b.left;
  };
  const auto try_add = [&](int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const BpeSymbol& l = symbols[left];
    const BpeSymbol& r = symbols[right];
    if (l.frozen || r.frozen) return;
    BpeCandidate<Priority> c;
    if (!lookup(l, r, c.priority, c.merged_id)) return;
    c.left = left;
    c.right = right;
    c.length = l.length + r.length;
    heap.push_back(c);
    std::push_heap(heap.begin(), heap.end(), worse);
  };
  for (size_t i = 1; i < symbols.size(); ++i)
    try_add(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), worse);
    const BpeCandidate<Priority> c = heap.back();
    heap.pop_back();
    BpeSymbol& l = symbols[c.left];
    BpeSymbol& r = symbols[c.right];
    if (l.length == 0 || r.length == 0 || l.length + r.length != c.length || l.next != c.right) continue;
    on_merge(c.left, l.length);
    l.length += r.length;
    l.id = c.merged_id;
    l.next = r.next;
    if (r.next >= 0) symbols[r.next].prev = c.left;
    r.length = 0;
    try_add(l.prev, c.left);
    try_add(c.left, l.next);
  }
}

}  // namespace autoglm::native
