// The repetition, presence and frequency penalties applied where the logits are, in place, so a request with
// penalties is still decided on the device (ops/argmax.h, ops/sample_rows.h) instead of sending its row to
// the host sampler.
//
// Row r's penalties are params[r] = [repetition, presence, frequency]; the ids they touch are the row's
// entries, entries[offsets[r] .. offsets[r + 1]), each (id, count, in_prompt): count the id's occurrences
// among the generated ids, in_prompt 1 if the prompt holds it. For each entry's logit v:
//   repetition != 1 and (count > 0 or in_prompt): v = v < 0 ? v * repetition : v / repetition;
//   (presence != 0 or frequency != 0) and count > 0: v -= frequency * count; then v -= presence;
// the float operations of sampling/logits_processors.h's apply_repetition_penalty (over prompt and generated
// ids) and apply_presence_frequency_penalties in the same order, so the result equals the host sampler's bit
// for bit. Logits without an entry are untouched. NaN logits stay NaN (the host, which replaces NaN by -inf
// first, gets -inf: never chosen either way).
//
// Ids must be distinct within a row (each is penalised once, as the host does): the CPU kernel would penalise
// a repeated id once per entry, the CUDA kernel in no defined order. Entries with an id outside [0, c) are
// skipped, as the host skips such ids. Offsets are clamped to [0, n] and made non-decreasing, so a bad offset
// drops entries rather than reading past the list.
#pragma once

#include "backend/backend.h"

namespace autoglm {

// Columns of ApplyPenaltiesArgs::params and of ApplyPenaltiesArgs::entries.
inline constexpr int64_t kPenaltyParams = 3;
inline constexpr int64_t kPenaltyEntryFields = 3;

struct ApplyPenaltiesArgs {
  TensorView logits;   // [rows, c] f32 (dispatch key), modified in place
  TensorView params;   // [rows, 3] f32: repetition (> 0), presence, frequency penalty
  TensorView offsets;  // [rows + 1] i32: row r's entries are [offsets[r], offsets[r + 1])
  TensorView entries;  // [n, 3] i32: token id, count among the generated ids, in the prompt (0 or 1); n >= 0
};

Status apply_penalties(Backend& backend, const ApplyPenaltiesArgs& args);

}  // namespace autoglm
