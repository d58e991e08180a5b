// Byte trie for prefix searches: SentencePiece's user-defined symbol matcher (longest prefix) and the Unigram
// lattice (every piece starting at a position). Children are sorted (byte, node) arrays, the root a 256-way
// table.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace autoglm::native {

class PrefixTrie {
 public:
  PrefixTrie() { root_.fill(-1); }

  // Values must be >= 0; a repeated key keeps its first value.
  void insert(std::string_view key, int32_t value) {
    if (key.empty() || value < 0) return;
    int32_t node = root_[static_cast<uint8_t>(key[0])];
    if (node < 0) {
      node = new_node();
      root_[static_cast<uint8_t>(key[0])] = node;
    }
    for (size_t i = 1; i < key.size(); ++i) {
      const auto byte = static_cast<uint8_t>(key[i]);
      int32_t next = child(node, byte);
      if (next < 0) {
        next = new_node();
        auto& children = nodes_[node].children;
        children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1})),
                        {byte, next});
      }
      node = next;
    }
    if (nodes_[node].value < 0) nodes_[node].value = value;
  }

  // Calls visit(length, value) for every key that is a prefix of text[pos..], shortest first.
  template <typename Visit>
  void for_each_prefix(std::string_view text, size_t pos, Visit&& visit) const {
    if (pos >= text.size()) return;
    int32_t node = root_[static_cast<uint8_t>(text[pos])];
    for (size_t i = pos + 1; node >= 0; ++i) {
      if (nodes_[node].value >= 0) visit(i - pos, nodes_[node].value);
      if (i >= text.size()) break;
      node = child(node, static_cast<uint8_t>(text[i]));
    }
  }

  // Length of the longest key that is a prefix of text[pos..] (0 if none) and its value.
  std::pair<size_t, int32_t> longest_prefix(std::string_view text, size_t pos) const {
    std::pair<size_t, int32_t> best{0, -1};
    for_each_prefix(text, pos, [&](size_t len, int32_t value) { best = {len, value}; });
    return best;
  }

  bool empty() const { return nodes_.empty(); }

 private:
  struct Node {
    std::vector<std::pair<uint8_t, int32_t>> children;
    int32_t value = -1;
  };
  int32_t new_node() {
    nodes_.emplace_back();
    return static_cast<int32_t>(nodes_.size()) - 1;
  }
  int32_t child(int32_t node, uint8_t byte) const {
    const auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
    return it != children.end() && it->first == byte ? it->second : -1;
  }

  std::array<int32_t, 256> root_;
  std::vector<Node> nodes_;
};

}  // namespace autoglm::native
