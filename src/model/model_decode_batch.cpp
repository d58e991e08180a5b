// Model::forward_decode_batch_replayed: pure decode steps of the batched engine as recorded work (CUDA
// graphs) per batch-size bucket. See model.h and decode_replay.h.
#include <algorithm>
#include <vector>

#include "model/decode_replay.h"
#include "model/model.h"

namespace autoglm {

Expected<TensorView> Model::forward_decode_batch_replayed(Executor& executor, KvCache& cache,
                                                          int64_t block_size,
                                                          std::span<const SequenceSlice> slices,
                                                          int32_t pad_block, int64_t table_width,
                                                          const TensorView& pending_choices) const {
  const int64_t n = static_cast<int64_t>(slices.size());
  const int64_t bucket = decode_batch_bucket(n);
  Backend& backend = executor.backend();
  bool pure_decode = bucket > 0 && backend.device().kind != DeviceKind::kCpu && !executor.profiling();
  for (const SequenceSlice& s : slices)
    pure_decode = pure_decode && s.tokens.size() == 1 && s.want_logits;
  if (!pure_decode || block_size <= 0 || cache.capacity % block_size != 0)
    return forward_batch(executor, cache, block_size, slices, pending_choices);

  // Padding sequences: one token at position 0 of the pad block, a step of their own that no real sequence
  // sees (every kernel computes a row from that row's inputs alone).
  const int32_t pad_token = 0;
  const int32_t pad_table[1] = {pad_block};
  std::vector<SequenceSlice> padded(slices.begin(), slices.end());
  padded.resize(static_cast<size_t>(bucket), SequenceSlice{std::span<const int32_t>(&pad_token, 1), 0,
                                                           std::span<const int32_t>(pad_table), true});
  // Block tables as wide as the next power of two of the longest sequence's blocks, not the longest context:
  // the decode attention splits the table's key range, and a range mostly past every sequence's end would
  // leave most splits idle. Recordings are kept per (batch bucket, width).
  int64_t needed = 1;
  for (const SequenceSlice& s : slices)
    needed = std::max<int64_t>(needed, (s.start + 1 + block_size - 1) / block_size);
  int64_t width = 1;
  while (width < needed)
    width *= 2;
  width = std::max(std::min(width, table_width), needed);
  std::vector<int32_t> packed;
  BatchStepLayout l;
  AUTOGLM_RETURN_IF_ERROR(pack_batch_step(padded, block_size, cache.capacity / block_size, config_.vocab_size,
                                          width, &packed, &l,
                                          pending_choices.data != nullptr ? pending_choices.numel() : 0));

  if (!cache.batch_replays) cache.batch_replays = std::make_shared<BatchDecodeReplays>();
  BatchDecodeReplay& r = cache.batch_replays->by_shape[{bucket, width}];
  if (!r.packed.defined() || r.layout_size != l.size) {
    r = BatchDecodeReplay{};
    AUTOGLM_ASSIGN_OR_RETURN(r.packed, backend.allocate(DType::kI32, Shape{l.size}));
    r.layout_size = l.size;
  }
  AUTOGLM_RETURN_IF_ERROR(
      backend.copy(r.packed.view(), TensorView{packed.data(), DType::kI32, Shape{l.size}, Device{}}));
  // Before the replay or the recording: the recorded work reads the ids, it does not fill them.
  AUTOGLM_RETURN_IF_ERROR(fill_pending_ids(backend, l, r.packed.as<int32_t>(), pending_choices));
  if (r.recording.valid_for(executor, backend)) {
    AUTOGLM_RETURN_IF_ERROR(r.recording.work->replay());
    return r.recording.logits.rows(0, n);
  }
  Graph graph;
  const ValueId logits =
      build_batch_graph(graph, executor, cache, block_size, l, r.packed.as<const int32_t>());
  AUTOGLM_RETURN_IF_ERROR(passes_.run(graph));
  AUTOGLM_ASSIGN_OR_RETURN(const TensorView result,
                           run_and_record(executor, backend, graph, logits, &r.recording));
  return result.rows(0, n);
}

}  // namespace autoglm
