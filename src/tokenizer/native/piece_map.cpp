#include "tokenizer/native/piece_map.h"

namespace autoglm::native {
namespace {

size_t table_size_for(size_t n) {
  size_t size = 16;
  while (size < 2 * n + 2)
    size <<= 1;
  return size;
}

}  // namespace

void PieceMap::reserve(size_t n) {
  if (slots_.size() >= table_size_for(n)) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(table_size_for(n), Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.value < 0) continue;
    size_t i = hash_bytes(key_of(s)) & mask_;
    while (slots_[i].value >= 0)
      i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void PieceMap::grow() {
  reserve(size_ * 2 + 8);
}

bool PieceMap::insert(std::string_view key, int32_t value) {
  if (2 * (size_ + 1) + 2 > slots_.size()) grow();
  const uint64_t h = hash_bytes(key);
  const uint32_t tag = static_cast<uint32_t>(h >> 32);
  size_t i = h & mask_;
  while (slots_[i].value >= 0) {
    const Slot& s = slots_[i];
    if (s.tag == tag && key_of(s) == key) return false;
    i = (i + 1) & mask_;
  }
  Slot& s = slots_[i];
  s.tag = tag;
  s.value = value < 0 ? 0 : value;
  s.length = static_cast<uint32_t>(key.size());
  if (key.size() <= kInlineBytes) {
    s.word = inline_word(key);
  } else {
    s.word = arena_.size();
    arena_.append(key);
  }
  ++size_;
  return true;
}

void MergeMap::reserve(size_t n) {
  if (slots_.size() >= table_size_for(n)) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(table_size_for(n), Slot{});
  mask_ = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.merge.rank < 0) continue;
    size_t i = hash_u64(s.key) & mask_;
    while (slots_[i].merge.rank >= 0)
      i = (i + 1) & mask_;
    slots_[i] = s;
  }
}

void MergeMap::grow() {
  reserve(size_ * 2 + 8);
}

bool MergeMap::insert(int32_t left, int32_t right, Merge merge) {
  if (2 * (size_ + 1) + 2 > slots_.size()) grow();
  const uint64_t key = pack(left, right);
  size_t i = hash_u64(key) & mask_;
  while (slots_[i].merge.rank >= 0) {
    if (slots_[i].key == key) return false;
    i = (i + 1) & mask_;
  }
  slots_[i].key = key;
  slots_[i].merge = merge;
  ++size_;
  return true;
}

}  // namespace autoglm::native
