// One forward step over several sequences whose KV lives in a paged cache (src/kv/ keeps the block tables).
//
// The paged cache is a KvCache whose rows are grouped in blocks: capacity = n_blocks * block_size rows per
// layer, and position j of a sequence lives in row blocks[j / block_size] * block_size + j % block_size.
// A step feeds each sequence a run of tokens at positions [start, start + tokens.size()): one token for a
// decode, a chunk of the prompt for a (chunked) prefill over an already cached prefix. All tokens of the
// step run as one batch through every matmul; attention reads each sequence's own blocks.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"
#include "tensor/tensor.h"

namespace autoglm {

struct SequenceSlice {
  std::span<const int32_t> tokens;  // fed this step, >= 1
  int32_t start = 0;                // position of tokens[0]; the KV of [0, start) is in the cache
  std::span<const int32_t> blocks;  // block table, covering at least start + tokens.size() positions
  bool want_logits = true;          // logits of the last token (a chunk of a longer prompt needs none)
};

// The two halves of a split step (model/nano_batch.h), each a paged step of its own over row views of the
// whole step's inputs; what a view cannot give (the second half's q_start and logit rows, which count rows
// from its own first token) is packed after the step's inputs.
struct StepSplit {
  int64_t seq = 0;         // first sequence of the second half; 0: not split
  int64_t row = 0;         // first token row of the second half
  int64_t logit_rows = 0;  // logit rows of the first half (the whole step's logit rows start with them)
  int64_t n_decode_seqs[2] = {};  // leading one-token sequences of each half
  int64_t max_q_len[2] = {};
  int64_t q_start = 0;            // offset of the second half's q_start [n_seqs - seq + 1], from 0
  int64_t logit_rows_second = 0;  // offset of the second half's logit rows, from its first row
};

// The i32 inputs of a step, packed in one host buffer so that a device backend uploads them in one copy.
// Offsets are in elements; the buffer layout is ids | positions | slots | q_start | seq_lens | block_tables |
// logit_rows.
struct BatchStepLayout {
  int64_t n_tokens = 0;
  int64_t n_seqs = 0;
  int64_t table_width = 0;  // blocks per row of block_tables
  int64_t n_logit_rows = 0;
  int64_t max_q_len = 0;
  int64_t n_decode_seqs = 0;  // leading sequences fed one token each
  int64_t ids = 0, positions = 0, slots = 0, q_start = 0, seq_lens = 0, block_tables = 0, logit_rows = 0;
  int64_t size = 0;
  // A step split in two halves (split_batch_step): sequences [0, split_seq) and [split_seq, n_seqs).
  StepSplit split;
};

// Checks the slices against the cache geometry and the vocabulary, and fills `packed` (resized) and the
// layout. table_width: 0 for the widest table of the batch, or a fixed width (>= it) so that steps of
// different lengths share a shape (recorded decode steps). n_pending_choices: a token id -1 - r with
// r < n_pending_choices is allowed and stands for row r of an earlier step's sampled ids on the device
// (fill_pending_tokens replaces it before the forward pass).
Status pack_batch_step(std::span<const SequenceSlice> slices, int64_t block_size, int64_t n_blocks,
                       int64_t vocab_size, int64_t table_width, std::vector<int32_t>* packed,
                       BatchStepLayout* layout, int64_t n_pending_choices = 0);

// Splits a packed step (pack_batch_step's buffer and layout) after sequence seq - 1 (0 < seq < n_seqs):
// appends the second half's own q_start and logit rows and fills layout->split.
Status split_batch_step(int64_t seq, std::vector<int32_t>* packed, BatchStepLayout* layout);

}  // namespace autoglm
