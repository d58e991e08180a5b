// Causal multi-head attention with grouped KV heads for a batch of sequences whose KV lives in fixed-size
// blocks of a shared pool (paged KV; src/kv/ keeps the block tables).
//
// Packing: the query rows of all sequences are concatenated; sequence s owns rows [q_start[s], q_start[s+1])
// (q_len_s of them, >= 1) and, once this step's K/V are stored, holds seq_lens[s] positions, the last q_len_s
// of which are its query rows: row q_start[s] + i sits at position p = seq_lens[s] - q_len_s + i. The K/V of
// position j of sequence s is cache row block_tables[s, j / block_size] * block_size + j % block_size.
// Row p attends positions j with j <= p and (window == 0 or p - j < window) (HF sliding-window semantics),
// exactly as attention() does for one sequence over a contiguous cache: the result for a sequence does not
// depend on the other sequences of the batch, nor on how its blocks are scattered (batch invariance).
// Query head h reads KV head h / (q_heads / kv_heads). scores = scale * q.k, optionally soft-capped as
// softcap * tanh(scores / softcap); softmax in f32; out = probabilities . v.
//
// Caches: [n_blocks * block_size, kv_heads, head_dim], f32 (the exact path), bf16, f16 or f8_e4m3 (half the
// bytes of bf16 to read per decode token; values as rope_kv_store stored them, no scale); both of one dtype,
// which is the dispatch key. q is f32; out is f32, or bf16 over 16-byte aligned bf16 or f8_e4m3 caches with
// head_dim a multiple of 16 up to 256 (what the CUDA tensor-core kernels take): the f32 result rounded to
// nearest-even (for a bf16 o projection, which rounds its input so anyway).
//
// Metadata tensors (block_tables, q_start, seq_lens) live on the backend and are read by the kernels, so a
// step's launches depend only on the shapes and on the host hints below: a decode batch (every q_len 1) can
// be recorded once per batch size and replayed with new metadata. Launch geometry is sized by the block-table
// width (max_blocks_per_seq * block_size positions), never by the current lengths.
// Floor (decode): bytes of the K and V rows read, once per KV head per sequence.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct PagedAttentionArgs {
  TensorView q;             // [t, q_heads, head_dim] f32, rows of all sequences packed
  TensorView k_cache;       // [n_blocks * block_size, kv_heads, head_dim]; its dtype is the dispatch key
  TensorView v_cache;       // k_cache's shape and dtype
  TensorView block_tables;  // [n_seqs, max_blocks_per_seq] i32; entries past a sequence's length are ignored
  TensorView q_start;       // [n_seqs + 1] i32, q_start[0] == 0, q_start[n_seqs] == t, non-decreasing
  TensorView seq_lens;      // [n_seqs] i32, q_len_s <= seq_lens[s] <= max_blocks_per_seq * block_size
  int64_t block_size = 16;
  // Host hint: the largest q_len_s of the batch (1 for a pure decode batch). Kernels pick decode or prefill
  // code from it; it must bound every q_len_s.
  int64_t max_q_len = 1;
  // Host hint: the first n_decode_seqs sequences have exactly one query row each (rows [0, n_decode_seqs)),
  // as a scheduler that puts decodes first produces. A mixed batch then runs its decode rows through the
  // decode kernels and only the rest through the prefill kernels. 0 is always correct.
  int64_t n_decode_seqs = 0;
  float scale = 1.0f;
  int64_t window = 0;    // 0: full causal attention
  float softcap = 0.0f;  // 0: none
  TensorView out;        // [t, q_heads, head_dim] f32 (or bf16, above); must not alias q or the caches
};

// Whether caches of `cache_dtype` and `head_dim` can give bf16 rows (the CUDA tensor-core kernels' shapes;
// the caches' rows must also start 16-byte aligned): the graph pass that retypes the output asks this too.
bool paged_attention_takes_bf16_rows(DType cache_dtype, int64_t head_dim);

// Checks shapes, dtypes and devices (the metadata values are the caller's promise: they are on the device and
// are not read here), then dispatches on the cache dtype.
Status paged_attention(Backend& backend, const PagedAttentionArgs& args);

}  // namespace autoglm
