#include "model/nano_batch.h"

namespace autoglm {

int64_t nano_batch_split(const BatchStepLayout& l, const NanoBatchOptions& o) {
  if (!o.enabled) return 0;
  const int64_t decodes = l.n_decode_seqs;
  if (decodes < o.min_decode_seqs || decodes <= 0 || decodes >= l.n_seqs) return 0;
  if (l.n_tokens - decodes < o.min_prompt_rows) return 0;
  return decodes;
}

}  // namespace autoglm
