#include "tokenizer/native/special_tokens.h"

#include <algorithm>

namespace autoglm::native {
namespace {

bool is_ascii_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

}  // namespace

int32_t SpecialTokenMatcher::child(int32_t node, uint8_t byte) const {
  const auto& children = nodes_[node].children;
  auto it = std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1}));
  return it != children.end() && it->first == byte ? it->second : -1;
}

void SpecialTokenMatcher::add(Token token) {
  if (token.text.empty()) return;
  int32_t node = 0;
  for (char c : token.text) {
    const auto byte = static_cast<uint8_t>(c);
    int32_t next = child(node, byte);
    if (next < 0) {
      next = static_cast<int32_t>(nodes_.size());
      nodes_.push_back(Node{});
      auto& children = nodes_[node].children;
      children.insert(std::lower_bound(children.begin(), children.end(), std::make_pair(byte, int32_t{-1})),
                      {byte, next});
    }
    node = next;
  }
  if (nodes_[node].token >= 0) return;
  first_byte_[static_cast<uint8_t>(token.text[0])] = true;
  nodes_[node].token = static_cast<int32_t>(tokens_.size());
  tokens_.push_back(std::move(token));
}

void SpecialTokenMatcher::split_leftmost_longest(std::string_view text, std::vector<TextSegment>& out) const {
  uint32_t raw_begin = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) {
      ++pos;
      continue;
    }
    int32_t node = 0;
    int32_t best = -1;
    size_t best_end = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      if (nodes_[node].token >= 0) {
        best = nodes_[node].token;
        best_end = i + 1;
      }
    }
    if (best < 0) {
      ++pos;
      continue;
    }
    if (pos > raw_begin) out.push_back({raw_begin, static_cast<uint32_t>(pos), -1});
    out.push_back({static_cast<uint32_t>(pos), static_cast<uint32_t>(best_end), tokens_[best].id});
    pos = best_end;
    raw_begin = static_cast<uint32_t>(pos);
  }
  if (text.size() > raw_begin) out.push_back({raw_begin, static_cast<uint32_t>(text.size()), -1});
}

void SpecialTokenMatcher::occurring_tokens(std::string_view text, std::vector<int32_t>& out) const {
  std::vector<bool> seen(tokens_.size(), false);
  for (size_t pos = 0; pos < text.size(); ++pos) {
    if (!first_byte_[static_cast<uint8_t>(text[pos])]) continue;
    int32_t node = 0;
    for (size_t i = pos; i < text.size(); ++i) {
      node = child(node, static_cast<uint8_t>(text[i]));
      if (node < 0) break;
      const int32_t token = nodes_[node].token;
      if (token >= 0 && !seen[token]) {
        seen[token] = true;
        out.push_back(token);
      }
    }
  }
}

void SpecialTokenMatcher::partition(std::string_view text, std::vector<int32_t>& token_indices,
                                    std::vector<TextSegment>& out) const {
  std::sort(token_indices.begin(), token_indices.end(), [&](int32_t a, int32_t b) {
    if (tokens_[a].text.size() != tokens_[b].text.size())
      return tokens_[a].text.size() > tokens_[b].text.size();
    return tokens_[a].id < tokens_[b].id;
  });
  std::vector<TextSegment> fragments;
  if (!text.empty()) fragments.push_back({0, static_cast<uint32_t>(text.size()), -1});
  std::vector<TextSegment> next;
  for (int32_t index : token_indices) {
    const Token& token = tokens_[index];
    const size_t n = token.text.size();
    next.clear();
    for (const TextSegment& fragment : fragments) {
      if (fragment.id >= 0) {
        next.push_back(fragment);
        continue;
      }
      size_t base = fragment.begin;
      size_t end = fragment.end;
      while (base < end) {
        const size_t match = text.find(token.text, base);
        if (match == std::string_view::npos || match + n > end) {
          next.push_back({static_cast<uint32_t>(base), static_cast<uint32_t>(end), -1});
          break;
        }
        size_t left_end = match;
        if (token.lstrip) {
          while (left_end > base && is_ascii_space(text[left_end - 1]))
            --left_end;
        }
        if (left_end > base)
          next.push_back({static_cast<uint32_t>(base), static_cast<uint32_t>(left_end), -1});
        next.push_back({static_cast<uint32_t>(match), static_cast<uint32_t>(match + n), token.id});
        base = match + n;
        if (token.rstrip) {
          while (base < end && is_ascii_space(text[base]))
            ++base;
        }
      }
    }
    fragments.swap(next);
  }
  out.insert(out.end(), fragments.begin(), fragments.end());
}

}  // namespace autoglm::native
