#include "model/model.h"

#include <algorithm>

#include "graph/gate_up_output_pass.h"
#include "graph/matmul_input_pass.h"
#include "loader/gguf_source.h"
#include "loader/hf_config.h"
#include "model/cpu_weight_layout.h"
#include "model/decode_replay.h"
#include "model/decoder_graph.h"
#include "model/weight_provider.h"
#include "ops/fill_pending_tokens.h"

namespace autoglm {

Model::Model(Backend& backend, ModelConfig config, DecoderSpec spec, DecoderWeights weights,
             DType weight_dtype, std::unique_ptr<WeightSource> source, const ShardPlan& plan,
             Communicator* communicator)
    : backend_(backend),
      config_(std::move(config)),
      spec_(spec),
      weights_(std::move(weights)),
      weight_dtype_(weight_dtype),
      plan_(plan),
      local_config_(plan.local_config(config_)),
      communicator_(communicator),
      source_(std::move(source)) {
  // CUDA matmuls over 16-bit weights round x to that type anyway; the norms before them do it once. The
  // gate/up projection hands the down projection its output in 16 bits (as the 16-bit reference does).
  if (backend_.device().kind == DeviceKind::kCuda) {
    passes_.add(std::make_unique<SixteenBitMatmulInputs>());
    passes_.add(std::make_unique<SixteenBitGateUpOutput>());
  }
}

namespace {

// This rank's shard plan; a group of several ranks needs a communicator of that group.
Expected<ShardPlan> plan_for(const ModelConfig& config, const ParallelOptions& parallel) {
  const TensorParallel& tp = parallel.group;
  if (tp.world > 1) {
    const Communicator* comm = parallel.communicator;
    if (comm == nullptr)
      return invalid_argument("tensor parallel: a group of several ranks needs a communicator");
    if (comm->world() != tp.world || comm->rank() != tp.rank) {
      return invalid_argument("tensor parallel: rank " + std::to_string(tp.rank) + " of " +
                              std::to_string(tp.world) + " given the communicator of rank " +
                              std::to_string(comm->rank()) + " of " + std::to_string(comm->world()));
    }
  }
  return plan_shards(config, tp);
}

// The backend's own storage layouts of the loaded matrices (model/cpu_weight_layout.h on the CPU).
Status prepare_weights(Backend& backend, DecoderWeights& weights) {
  if (backend.device().kind != DeviceKind::kCpu) return Status::ok();
  return interleave_cpu_matrices(weights);
}

}  // namespace

Expected<std::unique_ptr<Model>> Model::load(const std::string& path, Backend& backend,
                                             const ModelLoadOptions& options) {
  const bool is_gguf = path.size() > 5 && path.compare(path.size() - 5, 5, ".gguf") == 0;
  ModelConfig config;
  GenerationConfig generation;
  std::unique_ptr<WeightSource> source;
  if (is_gguf) {
    AUTOGLM_ASSIGN_OR_RETURN(std::unique_ptr<GgufSource> gguf, GgufSource::open(path));
    config = gguf->config();
    AUTOGLM_RETURN_IF_ERROR(config.validate(path));
    source = std::move(gguf);
  } else {
    AUTOGLM_ASSIGN_OR_RETURN(config, load_hf_config(path));
    AUTOGLM_RETURN_IF_ERROR(config.validate(path + "/config.json"));
    AUTOGLM_ASSIGN_OR_RETURN(generation, load_generation_config(path));
    AUTOGLM_ASSIGN_OR_RETURN(source, open_weight_source(path));
  }
  AUTOGLM_ASSIGN_OR_RETURN(DecoderSpec spec, decoder_spec_for(config));
  AUTOGLM_ASSIGN_OR_RETURN(const ShardPlan plan, plan_for(config, options.parallel));
  auto provider = make_checkpoint_weights(*source, backend);
  AUTOGLM_ASSIGN_OR_RETURN(DecoderWeights weights, load_decoder_weights(config, spec, *provider, backend,
                                                                        options.weight_dtype, plan));
  const DType dtype = weights.layers.empty() ? weights.embed.dtype() : weights.layers[0].wq.dtype();
  AUTOGLM_RETURN_IF_ERROR(prepare_weights(backend, weights));
  auto model = std::unique_ptr<Model>(new Model(backend, std::move(config), spec, std::move(weights), dtype,
                                                std::move(source), plan, options.parallel.communicator));
  model->generation_config_ = std::move(generation);
  return model;
}

Expected<std::unique_ptr<Model>> Model::random(const ModelConfig& config, Backend& backend,
                                               DType weight_dtype, uint64_t seed,
                                               const ParallelOptions& parallel) {
  AUTOGLM_RETURN_IF_ERROR(config.validate(config.architecture));
  AUTOGLM_ASSIGN_OR_RETURN(DecoderSpec spec, decoder_spec_for(config));
  AUTOGLM_ASSIGN_OR_RETURN(const ShardPlan plan, plan_for(config, parallel));
  auto provider = make_random_weights(backend, weight_dtype, seed);
  AUTOGLM_ASSIGN_OR_RETURN(DecoderWeights weights,
                           load_decoder_weights(config, spec, *provider, backend, weight_dtype, plan));
  AUTOGLM_RETURN_IF_ERROR(prepare_weights(backend, weights));
  return std::unique_ptr<Model>(new Model(backend, config, spec, std::move(weights), weight_dtype, nullptr,
                                          plan, parallel.communicator));
}

DType Model::kv_dtype() const {
  return backend_.device().kind != DeviceKind::kCpu && weight_dtype_ != DType::kF32 ? DType::kBF16
                                                                                    : DType::kF32;
}

std::vector<int32_t> Model::eos_token_ids() const {
  std::vector<int32_t> ids;
  for (const auto* list : {&config_.eos_token_ids, &generation_config_.eos_token_ids}) {
    for (int64_t id : *list) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(static_cast<int32_t>(id));
    }
  }
  return ids;
}

Expected<TensorView> Model::forward(Executor& executor, KvCache& cache, std::span<const int32_t> tokens,
                                    bool all_logits) const {
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return invalid_argument("forward: no tokens");
  if (cache.n_filled + n > cache.capacity) {
    return out_of_range("forward: " + std::to_string(cache.n_filled + n) +
                        " positions exceed the context of " + std::to_string(cache.capacity));
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= config_.vocab_size) {
      return out_of_range("token id " + std::to_string(t) + " is outside the vocabulary [0, " +
                          std::to_string(config_.vocab_size) + ")");
    }
  }
  Backend& backend = executor.backend();
  if (n == 1 && !all_logits && replay_decode_ && backend.device().kind != DeviceKind::kCpu &&
      !executor.profiling()) {
    return forward_replayed(executor, cache, tokens[0]);
  }
  Tensor ids = Tensor::host(DType::kI32, Shape{n});
  Tensor positions = Tensor::host(DType::kI32, Shape{n});
  for (int64_t i = 0; i < n; ++i) {
    ids.as<int32_t>()[i] = tokens[i];
    positions.as<int32_t>()[i] = static_cast<int32_t>(cache.n_filled + i);
  }
  // Kernels read ids and positions where they run: small uploads on a device backend.
  if (backend.device().kind != DeviceKind::kCpu) {
    AUTOGLM_ASSIGN_OR_RETURN(Tensor device_ids, backend.allocate(DType::kI32, Shape{n}));
    AUTOGLM_ASSIGN_OR_RETURN(Tensor device_positions, backend.allocate(DType::kI32, Shape{n}));
    AUTOGLM_RETURN_IF_ERROR(backend.copy(device_ids.view(), ids.view()));
    AUTOGLM_RETURN_IF_ERROR(backend.copy(device_positions.view(), positions.view()));
    ids = std::move(device_ids);
    positions = std::move(device_positions);
  }
  Graph graph;
  StepInputs in{ids.view(), positions.view(), cache.n_filled, all_logits};
  const ValueId logits = build_graph(graph, executor, cache, in);
  AUTOGLM_RETURN_IF_ERROR(passes_.run(graph));
  AUTOGLM_RETURN_IF_ERROR(executor.run(graph));
  cache.n_filled += n;
  return executor.value(graph, logits);
}

Expected<TensorView> Model::forward_batch(Executor& executor, KvCache& cache, int64_t block_size,
                                          std::span<const SequenceSlice> slices,
                                          const TensorView& pending_choices) const {
  if (config_.rotary_dim() <= 0) return unsupported("paged KV needs a rotary model (rope_kv_store)");
  if (block_size <= 0 || cache.capacity % block_size != 0)
    return invalid_argument("forward_batch: the cache capacity is not a whole number of blocks");
  std::vector<int32_t> packed;
  BatchStepLayout l;
  AUTOGLM_RETURN_IF_ERROR(pack_batch_step(slices, block_size, cache.capacity / block_size, config_.vocab_size,
                                          0, &packed, &l,
                                          pending_choices.data != nullptr ? pending_choices.numel() : 0));
  // Split steps run on one rank only (decoder_graph.cpp builds a tensor-parallel step whole).
  const int64_t split = plan_.tp.world == 1 ? nano_batch_split(l, nano_batch_) : 0;
  if (split > 0) {
    AUTOGLM_RETURN_IF_ERROR(split_batch_step(split, &packed, &l));
    split_steps_.fetch_add(1, std::memory_order_relaxed);
  }
  // One upload of every i32 input on a device backend; the CPU reads the host buffer in place.
  Backend& backend = executor.backend();
  Tensor device_packed;
  int32_t* base = packed.data();
  if (backend.device().kind != DeviceKind::kCpu) {
    AUTOGLM_ASSIGN_OR_RETURN(device_packed, backend.allocate(DType::kI32, Shape{l.size}));
    AUTOGLM_RETURN_IF_ERROR(
        backend.copy(device_packed.view(), TensorView{packed.data(), DType::kI32, Shape{l.size}, Device{}}));
    base = device_packed.as<int32_t>();
  }
  AUTOGLM_RETURN_IF_ERROR(fill_pending_ids(backend, l, base, pending_choices));
  Graph graph;
  const ValueId logits = build_batch_graph(graph, executor, cache, block_size, l, base);
  AUTOGLM_RETURN_IF_ERROR(passes_.run(graph));
  AUTOGLM_RETURN_IF_ERROR(executor.run(graph));
  TensorView result = executor.value(graph, logits);
  if (l.n_logit_rows == 0) result.shape = Shape{0, config_.vocab_size};
  return result;
}

Status Model::fill_pending_ids(Backend& backend, const BatchStepLayout& l, int32_t* base,
                               const TensorView& pending_choices) const {
  if (pending_choices.data == nullptr) return Status::ok();  // nothing pending
  const TensorView ids{base + l.ids, DType::kI32, Shape{l.n_tokens}, backend.device()};
  return fill_pending_tokens(backend, {ids, pending_choices});
}

ValueId Model::build_graph(Graph& graph, Executor& executor, const KvCache& cache,
                           const StepInputs& in) const {
  executor.set_communicator(communicator_);
  // CUDA GEMMs read a residual addend in their epilogue (cuBLASLt's C): the projections' outputs need not
  // be written and read back by an add.
  DecoderGraphOptions options;
  options.residual_in_projections = backend_.device().kind == DeviceKind::kCuda;
  return build_decoder_graph(graph, local_config_, spec_, weights_, cache, in, &plan_, options);
}

ValueId Model::build_batch_graph(Graph& graph, Executor& executor, KvCache& cache, int64_t block_size,
                                 const BatchStepLayout& l, const int32_t* base) const {
  PagedStepInputs paged;
  StepInputs in;
  paged_step_inputs(l, base, executor.backend().device(), block_size, &paged, &in);
  paged.gemm_sms[0] = nano_batch_.decode_gemm_sms;
  paged.gemm_sms[1] = nano_batch_.prompt_gemm_sms;
  return build_graph(graph, executor, cache, in);
}

Expected<TensorView> Model::forward_replayed(Executor& executor, KvCache& cache, int32_t token) const {
  Backend& backend = executor.backend();
  if (!cache.decode_replay) {
    auto r = std::make_shared<DecodeReplay>();
    AUTOGLM_ASSIGN_OR_RETURN(r->ids, backend.allocate(DType::kI32, Shape{1}));
    AUTOGLM_ASSIGN_OR_RETURN(r->positions, backend.allocate(DType::kI32, Shape{1}));
    cache.decode_replay = std::move(r);
  }
  DecodeReplay& r = *cache.decode_replay;
  const int32_t position = static_cast<int32_t>(cache.n_filled);
  AUTOGLM_RETURN_IF_ERROR(
      backend.copy(r.ids.view(), TensorView{const_cast<int32_t*>(&token), DType::kI32, Shape{1}, Device{}}));
  AUTOGLM_RETURN_IF_ERROR(backend.copy(
      r.positions.view(), TensorView{const_cast<int32_t*>(&position), DType::kI32, Shape{1}, Device{}}));
  if (r.recording.valid_for(executor, backend)) {
    AUTOGLM_RETURN_IF_ERROR(r.recording.work->replay());
    cache.n_filled += 1;
    return r.recording.logits;
  }
  Graph graph;
  StepInputs in{r.ids.view(), r.positions.view(), cache.n_filled, false};
  const ValueId logits = build_graph(graph, executor, cache, in);
  AUTOGLM_RETURN_IF_ERROR(passes_.run(graph));
  AUTOGLM_ASSIGN_OR_RETURN(const TensorView result,
                           run_and_record(executor, backend, graph, logits, &r.recording));
  cache.n_filled += 1;
  return result;
}

}  // namespace autoglm
