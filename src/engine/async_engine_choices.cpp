// AsyncEngine: the choices of a step's sampling rows where the logits are (penalties by apply_penalties,
// then greedy rows by argmax; on a device backend also temperature / top_k / top_p / min_p draws from the
// request's own seeded uniforms), else every logits row for the host samplers (logprobs; on the CPU, any
// draw). A row whose request ended while its step ran (row_request null) is chosen greedily and dropped.
//
// With tensor parallelism every rank holds the same logits (gathered by columns), so every rank makes the
// same choices from the same host inputs (prepare_device_choices, once per step): the next step's pending
// inputs are then on every rank's device without another collective.
#include <algorithm>

#include "engine/async_engine_impl.h"
#include "ops/apply_penalties.h"
#include "ops/argmax.h"
#include "ops/sample_rows.h"

namespace autoglm {
namespace {

// A device buffer of at least `rows` rows of `shape`'s other dimensions, grown when too small.
Status ensure_rows(Backend& backend, Tensor& t, DType dtype, int64_t rows, int64_t cols) {
  if (t.defined() && t.shape()[0] >= rows) return Status::ok();
  const Shape shape =
      cols > 0 ? Shape{std::max<int64_t>(rows, 256), cols} : Shape{std::max<int64_t>(rows, 256)};
  AUTOGLM_ASSIGN_OR_RETURN(t, backend.allocate(dtype, shape));
  return Status::ok();
}

}  // namespace

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

// The host side of a step's device choices: each row's draw parameters (consuming the requests' uniforms)
// and penalties. The penalty lists are one i32 list of the row offsets followed by every penalised row's
// entries, which each sampler keeps up to date as its output grows (Sampler::penalty_entries), so a step
// costs a copy of the entries, not a recount of the histories.
DeviceChoices AsyncEngine::Impl::prepare_device_choices(const StepPlan& plan) {
  DeviceChoices c;
  for (const ScheduledSeq& s : plan.seqs) {
    if (!s.samples) continue;
    ++c.n_rows;
    const LiveRequest* r = row_request(s.id);
    c.any_drawn = c.any_drawn || (r != nullptr && r->request.sampling.temperature > 0);
  }
  c.penalized = any_penalized(plan);
  const int64_t n = c.n_rows;
  if (c.any_drawn) {
    c.sample_params.reserve(static_cast<size_t>(n * kSampleRowsParams));
    for (const ScheduledSeq& s : plan.seqs) {
      if (!s.samples) continue;
      LiveRequest* r = row_request(s.id);
      if (r == nullptr || !(r->request.sampling.temperature > 0)) {
        c.sample_params.insert(c.sample_params.end(), {0.0f, 1.0f, 0.0f, 0.0f, 0.0f});
        continue;
      }
      const SamplingParams& p = r->request.sampling;
      const float uniform = std::min(static_cast<float>(r->sampler.next_uniform()), 0.99999994f);
      c.sample_params.insert(c.sample_params.end(),
                             {p.temperature, p.top_p, p.min_p, uniform, static_cast<float>(p.top_k)});
    }
  }
  if (c.penalized) {
    c.penalty_params.reserve(static_cast<size_t>(n * kPenaltyParams));
    c.penalty_lists.assign(static_cast<size_t>(n + 1), 0);  // offsets, then the entries
    int64_t row = 0;
    for (const ScheduledSeq& s : plan.seqs) {
      if (!s.samples) continue;
      LiveRequest* r = row_request(s.id);
      if (r == nullptr) {
        c.penalty_params.insert(c.penalty_params.end(), {1.0f, 0.0f, 0.0f});
      } else {
        const SamplingParams& p = r->request.sampling;
        c.penalty_params.insert(c.penalty_params.end(),
                                {p.repetition_penalty, p.presence_penalty, p.frequency_penalty});
        const std::span<const int32_t> entries = r->sampler.penalty_entries(r->request.prompt, r->output);
        c.penalty_lists.insert(c.penalty_lists.end(), entries.begin(), entries.end());
      }
      c.penalty_lists[static_cast<size_t>(++row)] =
          static_cast<int32_t>((c.penalty_lists.size() - (n + 1)) / kPenaltyEntryFields);
    }
  }
  return c;
}

Expected<TensorView> AsyncEngine::Impl::choose_on_rank(int rank, int buffer, const DeviceChoices& c,
                                                       const TensorView& logits) {
  Backend& b = group->backend(rank);
  RankState& rs = ranks[static_cast<size_t>(rank)];
  const int64_t n = logits.shape[0];
  AUTOGLM_RETURN_IF_ERROR(ensure_rows(b, rs.choice_ids[buffer], DType::kI32, n, 0));
  const TensorView ids = rs.choice_ids[buffer].view().rows(0, n);
  if (c.penalized) {
    // In place: the rows are read by nothing else once the choices are made.
    const auto size = static_cast<int64_t>(c.penalty_lists.size());
    AUTOGLM_RETURN_IF_ERROR(ensure_rows(b, rs.penalty_params, DType::kF32, n, kPenaltyParams));
    AUTOGLM_RETURN_IF_ERROR(
        ensure_rows(b, rs.penalty_lists, DType::kI32, std::max<int64_t>(size * 2, 4096), 0));
    const TensorView device_params = rs.penalty_params.view().rows(0, n);
    const TensorView device_lists = rs.penalty_lists.view().rows(0, size);
    AUTOGLM_RETURN_IF_ERROR(
        b.copy(device_params, TensorView{const_cast<float*>(c.penalty_params.data()), DType::kF32,
                                         Shape{n, kPenaltyParams}, Device{}}));
    AUTOGLM_RETURN_IF_ERROR(b.copy(device_lists, TensorView{const_cast<int32_t*>(c.penalty_lists.data()),
                                                            DType::kI32, Shape{size}, Device{}}));
    const int64_t n_entries = (size - (n + 1)) / kPenaltyEntryFields;
    AUTOGLM_RETURN_IF_ERROR(
        apply_penalties(b, {logits, device_params, device_lists.rows(0, n + 1),
                            device_lists.rows(n + 1, size).reshaped(Shape{n_entries, kPenaltyEntryFields})}));
  }
  if (!c.any_drawn) {
    AUTOGLM_RETURN_IF_ERROR(argmax(b, {logits, ids}));
    return ids;
  }
  AUTOGLM_RETURN_IF_ERROR(ensure_rows(b, rs.choice_params, DType::kF32, n, kSampleRowsParams));
  const TensorView device_params = rs.choice_params.view().rows(0, n);
  AUTOGLM_RETURN_IF_ERROR(
      b.copy(device_params, TensorView{const_cast<float*>(c.sample_params.data()), DType::kF32,
                                       Shape{n, kSampleRowsParams}, Device{}}));
  AUTOGLM_RETURN_IF_ERROR(sample_rows(b, {logits, device_params, ids}));
  return ids;
}

Status AsyncEngine::Impl::fetch_choices(const StepPlan& plan, const TensorView& logits,
                                        std::vector<float>* rows, std::vector<int32_t>* device_ids) {
  if (!choices_on_device(plan)) {
    rows->resize(static_cast<size_t>(logits.numel()));
    return backend->copy(TensorView{rows->data(), DType::kF32, logits.shape, Device{}}, logits);
  }
  // Step by step, only rank 0's choices are read: the next step's inputs come from the host.
  const int buffer = next_choice_buffer;
  next_choice_buffer ^= 1;
  AUTOGLM_ASSIGN_OR_RETURN(const TensorView ids,
                           choose_on_rank(0, buffer, prepare_device_choices(plan), logits));
  device_ids->resize(static_cast<size_t>(ids.numel()));
  return backend->copy(TensorView{device_ids->data(), DType::kI32, ids.shape, Device{}}, ids);
}

}  // namespace autoglm
