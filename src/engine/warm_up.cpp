#include "engine/warm_up.h"

#include <algorithm>
#include <numeric>

namespace autoglm {
namespace {

int64_t blocks_for(int64_t length, int64_t block_size) {
  return (length + block_size - 1) / block_size;
}

}  // namespace

std::vector<int64_t> warm_up_lengths(int64_t rows, const WarmUpLimits& limits) {
  if (rows <= 0 || limits.max_seqs <= 0 || limits.max_context <= 0 || limits.block_size <= 0) return {};
  const int64_t for_context = (rows + limits.max_context - 1) / limits.max_context;
  const int64_t n_seqs = std::min(rows, std::max(limits.max_seqs, for_context));
  std::vector<int64_t> lengths(static_cast<size_t>(n_seqs), rows / n_seqs);
  for (int64_t i = 0; i < rows % n_seqs; ++i)
    ++lengths[static_cast<size_t>(i)];
  int64_t blocks = 0;
  for (const int64_t length : lengths)
    blocks += blocks_for(length, limits.block_size);
  if (blocks > limits.n_blocks) return {};
  return lengths;
}

Expected<int64_t> warm_up_step_sizes(Model& model, Executor& executor, KvCache& cache, Backend& backend,
                                     std::span<const int64_t> rows, const WarmUpLimits& limits) {
  int64_t ran = 0;
  std::vector<int32_t> blocks(static_cast<size_t>(std::max<int64_t>(limits.n_blocks, 0)));
  std::iota(blocks.begin(), blocks.end(), 0);  // each pass takes them from the first
  for (const int64_t n_rows : rows) {
    const std::vector<int64_t> lengths = warm_up_lengths(n_rows, limits);
    if (lengths.empty()) break;  // larger sizes need even more blocks
    const std::vector<int32_t> tokens(static_cast<size_t>(n_rows), 0);
    std::vector<SequenceSlice> slices;
    slices.reserve(lengths.size());
    size_t token = 0, block = 0;
    for (const int64_t length : lengths) {
      const auto n_blocks = static_cast<size_t>(blocks_for(length, limits.block_size));
      SequenceSlice slice;
      slice.tokens = std::span<const int32_t>(tokens).subspan(token, static_cast<size_t>(length));
      slice.blocks = std::span<const int32_t>(blocks).subspan(block, n_blocks);
      slices.push_back(slice);
      token += static_cast<size_t>(length);
      block += n_blocks;
    }
    AUTOGLM_RETURN_IF_ERROR(model.forward_batch(executor, cache, limits.block_size, slices).status());
    ++ran;
  }
  AUTOGLM_RETURN_IF_ERROR(backend.synchronize());
  return ran;
}

}  // namespace autoglm
