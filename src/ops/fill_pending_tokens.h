// Step inputs that an earlier step sampled on the device: every ids[i] < 0 becomes choices[-1 - ids[i]], in
// place (an index past the end of choices gives 0). The serving engine queues step N + 1 before step N's
// sampled tokens reach the host; a sequence's next input is then the row of step N's device output that
// holds its token.
#pragma once

#include "backend/backend.h"

namespace autoglm {

struct FillPendingTokensArgs {
  TensorView ids;      // [n] i32 (dispatch key): token ids, or -1 - (row of choices); written in place
  TensorView choices;  // [m] i32: the earlier step's sampled ids
};

Status fill_pending_tokens(Backend& backend, const FillPendingTokensArgs& args);

}  // namespace autoglm
