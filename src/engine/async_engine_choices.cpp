// AsyncEngine: the choices of a step's sampling rows where the logits are (penalties by apply_penalties,
// then greedy rows by argmax; on a device backend also temperature / top_k / top_p / min_p draws from the
// request's own seeded uniforms), else every logits row for the host samplers (logprobs; on the CPU, any
// draw). A row whose request ended while its step ran (row_request null) is chosen greedily and dropped.
#include <algorithm>

#include "engine/async_engine_impl.h"
#include "ops/apply_penalties.h"
#include "ops/argmax.h"
#include "ops/sample_rows.h"

namespace autoglm {

bool AsyncEngine::Impl::choices_on_device(const StepPlan& plan) const {
  // The CPU keeps its exact host sampler for draws (HF's nucleus rule, seeded results equal to
  // Engine::generate's); its greedy choices, penalised or not, equal the host sampler's bit for bit anyway.
  const bool device_draws = backend->device().kind != DeviceKind::kCpu;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    const LiveRequest* r = row_request(s.id);
    if (r == nullptr) continue;
    if (r->request.logprobs >= 0) return false;
    if (r->request.sampling.temperature > 0 && !device_draws) return false;
  }
  return true;
}

bool AsyncEngine::Impl::any_penalized(const StepPlan& plan) const {
  for (const ScheduledSeq& s : plan.seqs) {
    const LiveRequest* r = s.samples ? row_request(s.id) : nullptr;
    if (r != nullptr && r->sampler.has_penalties()) return true;
  }
  return false;
}

Expected<TensorView> AsyncEngine::Impl::choose_on_device(const StepPlan& plan, const TensorView& logits) {
  const int64_t n = logits.shape[0];
  Tensor& buffer = choice_ids[next_choice_buffer];
  next_choice_buffer ^= 1;
  if (!buffer.defined() || buffer.numel() < n) {
    AUTOGLM_ASSIGN_OR_RETURN(buffer, backend->allocate(DType::kI32, Shape{std::max<int64_t>(n, 256)}));
  }
  const TensorView ids = buffer.view().rows(0, n);
  // In place: the rows are read by nothing else once the choices are made.
  if (any_penalized(plan)) AUTOGLM_RETURN_IF_ERROR(penalize_on_device(plan, logits));
  bool any_drawn = false;
  for (const ScheduledSeq& s : plan.seqs) {
    const LiveRequest* r = s.samples ? row_request(s.id) : nullptr;
    any_drawn = any_drawn || (r != nullptr && r->request.sampling.temperature > 0);
  }
  if (!any_drawn) {
    AUTOGLM_RETURN_IF_ERROR(argmax(*backend, {logits, ids}));
    return ids;
  }
  std::vector<float> params;
  params.reserve(static_cast<size_t>(n * kSampleRowsParams));
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    LiveRequest* r = row_request(s.id);
    if (r == nullptr || !(r->request.sampling.temperature > 0)) {
      params.insert(params.end(), {0.0f, 1.0f, 0.0f, 0.0f, 0.0f});
      continue;
    }
    const SamplingParams& p = r->request.sampling;
    const float uniform = std::min(static_cast<float>(r->sampler.next_uniform()), 0.99999994f);
    params.insert(params.end(), {p.temperature, p.top_p, p.min_p, uniform, static_cast<float>(p.top_k)});
  }
  if (!choice_params.defined() || choice_params.shape()[0] < n) {
    AUTOGLM_ASSIGN_OR_RETURN(
        choice_params, backend->allocate(DType::kF32, Shape{std::max<int64_t>(n, 256), kSampleRowsParams}));
  }
  const TensorView device_params = choice_params.view().rows(0, n);
  AUTOGLM_RETURN_IF_ERROR(backend->copy(
      device_params, TensorView{params.data(), DType::kF32, Shape{n, kSampleRowsParams}, Device{}}));
  AUTOGLM_RETURN_IF_ERROR(sample_rows(*backend, {logits, device_params, ids}));
  return ids;
}

Status AsyncEngine::Impl::fetch_choices(const StepPlan& plan, const TensorView& logits,
                                        std::vector<float>* rows, std::vector<int32_t>* device_ids) {
  if (!choices_on_device(plan)) {
    rows->resize(static_cast<size_t>(logits.numel()));
    return backend->copy(TensorView{rows->data(), DType::kF32, logits.shape, Device{}}, logits);
  }
  AUTOGLM_ASSIGN_OR_RETURN(const TensorView ids, choose_on_device(plan, logits));
  device_ids->resize(static_cast<size_t>(ids.numel()));
  return backend->copy(TensorView{device_ids->data(), DType::kI32, ids.shape, Device{}}, ids);
}

// The step's penalties in two uploads: each row's [repetition, presence, frequency], and one i32 list of the
// row offsets followed by every penalised row's entries, which each sampler keeps up to date as its output
// grows (Sampler::penalty_entries), so a step costs a copy of the entries, not a recount of the histories.
Status AsyncEngine::Impl::penalize_on_device(const StepPlan& plan, const TensorView& logits) {
  const int64_t n = logits.shape[0];
  std::vector<float> params;
  params.reserve(static_cast<size_t>(n * kPenaltyParams));
  std::vector<int32_t> lists(static_cast<size_t>(n + 1), 0);  // offsets, then the entries
  int64_t row = 0;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    LiveRequest* r = row_request(s.id);
    if (r == nullptr) {
      params.insert(params.end(), {1.0f, 0.0f, 0.0f});
    } else {
      const SamplingParams& p = r->request.sampling;
      params.insert(params.end(), {p.repetition_penalty, p.presence_penalty, p.frequency_penalty});
      const std::span<const int32_t> entries = r->sampler.penalty_entries(r->request.prompt, r->output);
      lists.insert(lists.end(), entries.begin(), entries.end());
    }
    lists[static_cast<size_t>(++row)] = static_cast<int32_t>((lists.size() - (n + 1)) / kPenaltyEntryFields);
  }
  const auto size = static_cast<int64_t>(lists.size());
  if (!penalty_params.defined() || penalty_params.shape()[0] < n) {
    AUTOGLM_ASSIGN_OR_RETURN(
        penalty_params, backend->allocate(DType::kF32, Shape{std::max<int64_t>(n, 256), kPenaltyParams}));
  }
  if (!penalty_lists.defined() || penalty_lists.numel() < size) {
    AUTOGLM_ASSIGN_OR_RETURN(penalty_lists,
                             backend->allocate(DType::kI32, Shape{std::max<int64_t>(size * 2, 4096)}));
  }
  const TensorView device_params = penalty_params.view().rows(0, n);
  const TensorView device_lists = penalty_lists.view().rows(0, size);
  AUTOGLM_RETURN_IF_ERROR(backend->copy(
      device_params, TensorView{params.data(), DType::kF32, Shape{n, kPenaltyParams}, Device{}}));
  AUTOGLM_RETURN_IF_ERROR(
      backend->copy(device_lists, TensorView{lists.data(), DType::kI32, Shape{size}, Device{}}));
  const int64_t n_entries = (size - (n + 1)) / kPenaltyEntryFields;
  return apply_penalties(*backend,
                         {logits, device_params, device_lists.rows(0, n + 1),
                          device_lists.rows(n + 1, size).reshaped(Shape{n_entries, kPenaltyEntryFields})});
}

}  // namespace autoglm
