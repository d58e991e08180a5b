// Split steps ("nano-batches"): a step with many decodes and a long prompt chunk runs as two halves whose
// kernels overlap, the decodes' attention (bound by the KV cache's HBM reads) on one stream beside the
// prompt rows' projections and MLP (bound by the tensor cores) on the other, and the prompt rows' attention
// beside the decodes' GEMMs (model/decoder_graph.h, graph/lane_schedule.h).
//
// Why these halves: a half of a few hundred rows or fewer streams the weights at their HBM rate whatever its
// rows, so two halves of decodes would read the weights twice for nothing; the decodes alone cost about what
// they cost inside the whole step's GEMMs (~300-500 rows sit near the H100's ridge point), and the prompt
// rows keep their GEMMs compute-bound. On the H100 a decode attention beside a 1,024-row GEMM planned for 100
// of the 132 SMs finished the pair 1.18-1.23x sooner than one after the other (docs/BENCHMARKS.md, "Decode
// attention beside a GEMM on a second stream").
//
// Each half computes every row as the whole step would (batch-invariant matmuls, attention per sequence),
// so a split step gives the same logits as the whole one.
#pragma once

#include <cstdint>

#include "model/batch_step.h"

namespace autoglm {

struct NanoBatchOptions {
  bool enabled = false;
  int64_t min_decode_seqs = 64;   // a step splits only with at least this many decodes
  int64_t min_prompt_rows = 512;  // and this many prompt rows after them
  // SMs each half's GEMMs are planned for (0: all): the prompt half's run beside the decodes' attention,
  // which takes the SMs they leave; the decodes' beside the prompt rows' attention.
  int prompt_gemm_sms = 0;
  int decode_gemm_sms = 0;
};

// The sequence a packed step splits at (its first prompt sequence: the decodes are the first half), or 0 to
// run it whole.
int64_t nano_batch_split(const BatchStepLayout& layout, const NanoBatchOptions& options);

}  // namespace autoglm
