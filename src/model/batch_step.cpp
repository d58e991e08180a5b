#include "model/batch_step.h"

#include <algorithm>
#include <string>

namespace autoglm {

Status pack_batch_step(std::span<const SequenceSlice> slices, int64_t block_size, int64_t n_blocks,
                       int64_t vocab_size, int64_t table_width, std::vector<int32_t>* packed,
                       BatchStepLayout* layout, int64_t n_pending_choices) {
  if (slices.empty()) return invalid_argument("batch step: no sequences");
  if (block_size <= 0) return invalid_argument("batch step: block_size must be positive");
  BatchStepLayout l;
  l.n_seqs = static_cast<int64_t>(slices.size());
  int64_t widest = 0;
  for (size_t s = 0; s < slices.size(); ++s) {
    const SequenceSlice& slice = slices[s];
    const int64_t n = static_cast<int64_t>(slice.tokens.size());
    if (n == 0) return invalid_argument("batch step: sequence " + std::to_string(s) + " feeds no tokens");
    if (slice.start < 0) return invalid_argument("batch step: negative start");
    const int64_t end = slice.start + n;
    const int64_t needed_blocks = (end + block_size - 1) / block_size;
    if (static_cast<int64_t>(slice.blocks.size()) < needed_blocks) {
      return invalid_argument("batch step: sequence " + std::to_string(s) + " has " +
                              std::to_string(slice.blocks.size()) + " blocks for " + std::to_string(end) +
                              " positions of " + std::to_string(block_size));
    }
    for (int64_t b = 0; b < needed_blocks; ++b) {
      const int32_t id = slice.blocks[static_cast<size_t>(b)];
      if (id < 0 || id >= n_blocks) {
        return out_of_range("batch step: block " + std::to_string(id) + " outside the pool of " +
                            std::to_string(n_blocks));
      }
    }
    for (int32_t t : slice.tokens) {
      if (t < -n_pending_choices || t >= vocab_size) {
        return out_of_range("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                            std::to_string(vocab_size) + ")");
      }
    }
    if (n == 1 && l.n_decode_seqs == static_cast<int64_t>(s)) ++l.n_decode_seqs;
    l.n_tokens += n;
    l.max_q_len = std::max(l.max_q_len, n);
    widest = std::max(widest, needed_blocks);
    if (slice.want_logits) ++l.n_logit_rows;
  }
  if (table_width == 0) table_width = widest;
  if (table_width < widest)
    return invalid_argument("batch step: block table width below the widest sequence");
  l.table_width = table_width;
  l.ids = 0;
  l.positions = l.ids + l.n_tokens;
  l.slots = l.positions + l.n_tokens;
  l.q_start = l.slots + l.n_tokens;
  l.seq_lens = l.q_start + l.n_seqs + 1;
  l.block_tables = l.seq_lens + l.n_seqs;
  l.logit_rows = l.block_tables + l.n_seqs * l.table_width;
  l.size = l.logit_rows + l.n_logit_rows;

  packed->assign(static_cast<size_t>(l.size), 0);
  int32_t* p = packed->data();
  int64_t row = 0, logit = 0;
  for (int64_t s = 0; s < l.n_seqs; ++s) {
    const SequenceSlice& slice = slices[static_cast<size_t>(s)];
    const int64_t n = static_cast<int64_t>(slice.tokens.size());
    p[l.q_start + s] = static_cast<int32_t>(row);
    p[l.seq_lens + s] = static_cast<int32_t>(slice.start + n);
    for (int64_t i = 0; i < n; ++i, ++row) {
      const int64_t position = slice.start + i;
      p[l.ids + row] = slice.tokens[static_cast<size_t>(i)];
      p[l.positions + row] = static_cast<int32_t>(position);
      p[l.slots + row] = static_cast<int32_t>(
          slice.blocks[static_cast<size_t>(position / block_size)] * block_size + position % block_size);
    }
    const size_t width = std::min(slice.blocks.size(), static_cast<size_t>(l.table_width));
    std::copy_n(slice.blocks.begin(), width, p + l.block_tables + s * l.table_width);
    if (slice.want_logits) p[l.logit_rows + logit++] = static_cast<int32_t>(row - 1);
  }
  p[l.q_start + l.n_seqs] = static_cast<int32_t>(row);
  *layout = l;
  return Status::ok();
}

Status split_batch_step(int64_t seq, std::vector<int32_t>* packed, BatchStepLayout* layout) {
  BatchStepLayout& l = *layout;
  if (seq <= 0 || seq >= l.n_seqs) {
    return invalid_argument("batch step: split at sequence " + std::to_string(seq) + " of " +
                            std::to_string(l.n_seqs));
  }
  if (l.split.seq != 0) return invalid_argument("batch step: already split");
  std::vector<int32_t>& p = *packed;
  StepSplit sp;
  sp.seq = seq;
  sp.row = p[static_cast<size_t>(l.q_start + seq)];
  for (int64_t s = 0; s < l.n_seqs; ++s) {
    const int64_t half = s < seq ? 0 : 1;
    const int64_t rows = p[static_cast<size_t>(l.q_start + s + 1)] - p[static_cast<size_t>(l.q_start + s)];
    sp.max_q_len[half] = std::max(sp.max_q_len[half], rows);
  }
  sp.n_decode_seqs[0] = std::min(l.n_decode_seqs, seq);
  sp.n_decode_seqs[1] = std::max<int64_t>(0, l.n_decode_seqs - seq);
  for (int64_t r = 0; r < l.n_logit_rows; ++r) {
    if (p[static_cast<size_t>(l.logit_rows + r)] < sp.row) ++sp.logit_rows;
  }
  sp.q_start = l.size;
  sp.logit_rows_second = sp.q_start + (l.n_seqs - seq + 1);
  const int64_t size = sp.logit_rows_second + (l.n_logit_rows - sp.logit_rows);
  p.resize(static_cast<size_t>(size));
  for (int64_t s = seq; s <= l.n_seqs; ++s)
    p[static_cast<size_t>(sp.q_start + s - seq)] =
        p[static_cast<size_t>(l.q_start + s)] - static_cast<int32_t>(sp.row);
  for (int64_t r = sp.logit_rows; r < l.n_logit_rows; ++r) {
    p[static_cast<size_t>(sp.logit_rows_second + r - sp.logit_rows)] =
        p[static_cast<size_t>(l.logit_rows + r)] - static_cast<int32_t>(sp.row);
  }
  l.size = size;
  l.split = sp;
  return Status::ok();
}

}  // namespace autoglm
