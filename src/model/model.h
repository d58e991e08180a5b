// A loaded decoder-only model: config, spec and weights on a backend, and one-step forward.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "backend/backend.h"
#include "graph/executor.h"
#include "graph/pass.h"
#include "loader/generation_config.h"
#include "loader/model_config.h"
#include "loader/weight_source.h"
#include "model/architecture.h"
#include "model/batch_step.h"
#include "model/decoder_weights.h"
#include "model/kv_cache.h"
#include "model/nano_batch.h"
#include "parallel/communicator.h"
#include "parallel/shard_plan.h"

namespace autoglm {

struct StepInputs;  // model/decoder_graph.h

// One rank of a tensor-parallel group (parallel/): the model holds this rank's shard (ShardPlan) and its
// graphs run the group's collectives through `communicator`, which every rank's model shares the order of
// calls with. world 1: the whole model, no communicator needed.
struct ParallelOptions {
  TensorParallel group;
  Communicator* communicator = nullptr;  // not owned; must outlive the model
};

struct ModelLoadOptions {
  // dtype of the weight matrices; unset keeps the checkpoint's own.
  std::optional<DType> weight_dtype;
  ParallelOptions parallel;
};

class Model {
 public:
  // path: an HF model directory (config.json + safetensors).
  static Expected<std::unique_ptr<Model>> load(const std::string& path, Backend& backend,
                                               const ModelLoadOptions& options = {});
  // A model of the given config with random weights (speed measurements).
  // With `parallel`, each rank draws the whole model's values and keeps its shard (so a group's ranks hold
  // the parts of the same model).
  static Expected<std::unique_ptr<Model>> random(const ModelConfig& config, Backend& backend,
                                                 DType weight_dtype, uint64_t seed = 1,
                                                 const ParallelOptions& parallel = {});

  const ModelConfig& config() const { return config_; }
  // The model as this rank computes it: its query heads, KV heads and intermediate features (config()
  // without tensor parallelism). Size KV caches from it.
  const ModelConfig& local_config() const { return local_config_; }
  const ShardPlan& shard_plan() const { return plan_; }
  // The checkpoint's generation_config.json (all fields empty when it has none).
  const GenerationConfig& generation_config() const { return generation_config_; }
  // Ids that end generation: config.json's EOS ids and generation_config.json's, without repeats.
  std::vector<int32_t> eos_token_ids() const;
  const DecoderSpec& spec() const { return spec_; }
  const DecoderWeights& weights() const { return weights_; }
  Backend& backend() const { return backend_; }
  DType weight_dtype() const { return weight_dtype_; }
  // The KV cache dtype this model computes best with: bf16 on a GPU when the weights are not f32 (half the
  // cache bytes, and tensor-core attention), f32 otherwise (the exact path the f32 golden tests hold).
  DType kv_dtype() const;

  // The forward passes queue their uploads on the executor's backend, where their kernels run.
  // Runs tokens at positions [cache.n_filled, cache.n_filled + n) and appends their K/V to the cache.
  // Returns the logits [n or 1, vocab] f32 (last row only unless all_logits), valid until the next call
  // on the same executor.
  Expected<TensorView> forward(Executor& executor, KvCache& cache, std::span<const int32_t> tokens,
                               bool all_logits = false) const;

  // One step of several sequences over a paged cache (model/batch_step.h): `cache` holds n_blocks *
  // block_size rows per layer (KvCache::create with that capacity). Writes the K/V of every fed token and
  // returns the logits [r, vocab] f32 of the r sequences that want them, in slice order, valid until the next
  // call on the same executor. Each sequence's logits are those of running it alone (batch invariance:
  // every kernel computes a row the same way whatever the other rows are). pending_choices: an earlier
  // step's sampled ids [m] i32 on the model's device; a slice token -1 - r (r < m) is fed pending_choices[r]
  // (the engine queues a step before the tokens of the one before reach the host).
  Expected<TensorView> forward_batch(Executor& executor, KvCache& cache, int64_t block_size,
                                     std::span<const SequenceSlice> slices,
                                     const TensorView& pending_choices = {}) const;

  // forward_batch for a pure decode step (every slice feeds one token and wants its logits), replayed from
  // a recording on backends that record work: the batch is padded to its bucket (decode_batch_bucket) with
  // sequences that only read and write block `pad_block` (one the KV manager never hands out), block tables
  // are as wide as the next power of two of the longest sequence's blocks (at most `table_width`, enough for
  // the longest context), and each (bucket, width) is recorded on first use (and again when the executor's
  // or backend's memory moved). Same logits as forward_batch, first slices.size()
  // rows; falls back to it where nothing can be recorded.
  Expected<TensorView> forward_decode_batch_replayed(Executor& executor, KvCache& cache, int64_t block_size,
                                                     std::span<const SequenceSlice> slices, int32_t pad_block,
                                                     int64_t table_width,
                                                     const TensorView& pending_choices = {}) const;

  // Rewrite passes applied to every forward graph before it runs.
  PassManager& passes() { return passes_; }

  // On backends that record work (CUDA graphs), one-token steps are recorded once per sequence and replayed
  // (on by default; off to compare, or to debug kernels one launch at a time).
  void set_replay_decode(bool on) { replay_decode_ = on; }
  // Which steps of forward_batch run as two overlapping halves (model/nano_batch.h); none by default.
  void set_nano_batch(const NanoBatchOptions& options) { nano_batch_ = options; }
  const NanoBatchOptions& nano_batch() const { return nano_batch_; }
  // forward_batch steps that ran split so far.
  int64_t split_steps() const { return split_steps_.load(std::memory_order_relaxed); }

 private:
  Model(Backend& backend, ModelConfig config, DecoderSpec spec, DecoderWeights weights, DType weight_dtype,
        std::unique_ptr<WeightSource> source, const ShardPlan& plan, Communicator* communicator);

  Backend& backend_;
  ModelConfig config_;
  GenerationConfig generation_config_;
  DecoderSpec spec_;
  DecoderWeights weights_;
  DType weight_dtype_;
  ShardPlan plan_;
  ModelConfig local_config_;
  Communicator* communicator_ = nullptr;
  // The decoder graph of a step on this rank, with the executor bound to the group's communicator.
  ValueId build_graph(Graph& graph, Executor& executor, const KvCache& cache, const StepInputs& in) const;
  Expected<TensorView> forward_replayed(Executor& executor, KvCache& cache, int32_t token) const;
  // The graph of a batched step whose packed i32 inputs (layout l) are at `base` on the model's device.
  ValueId build_batch_graph(Graph& graph, Executor& executor, KvCache& cache, int64_t block_size,
                            const BatchStepLayout& l, const int32_t* base) const;
  // Replaces the pending ids of packed step inputs (layout l, at `base` on the model's device).
  Status fill_pending_ids(Backend& backend, const BatchStepLayout& l, int32_t* base,
                          const TensorView& pending_choices) const;

  std::unique_ptr<WeightSource> source_;  // kept for the lifetime of mmapped weights
  bool replay_decode_ = true;
  NanoBatchOptions nano_batch_;
  mutable std::atomic<int64_t> split_steps_{0};
  PassManager passes_;
};

}  // namespace autoglm
