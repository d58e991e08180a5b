// Shared argument checks of the op functions: each returns a Status naming the op and the offending tensor.
#pragma once

#include <string>

#include "backend/backend.h"
#include "core/status.h"
#include "tensor/tensor.h"

namespace autoglm::op_checks {

Status on_device(const char* op, const char* what, const TensorView& t, const Backend& backend);
Status has_dtype(const char* op, const char* what, const TensorView& t, DType dtype);
Status has_shape(const char* op, const char* what, const TensorView& t, const Shape& shape);
Status has_rank(const char* op, const char* what, const TensorView& t, int rank);
Status not_null(const char* op, const char* what, const TensorView& t);
// Row-wise ops need a last dim to run over: rank >= 1.
Status has_min_rank(const char* op, const char* what, const TensorView& t, int rank);

// True when the byte ranges of a and b intersect (empty tensors overlap nothing).
bool overlaps(const TensorView& a, const TensorView& b);
// For outputs that must not share any byte with an input ("must not alias").
Status disjoint(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                const TensorView& b);
// For outputs that "may alias" an input: exact aliasing (same data, same size) is fine because the kernels
// read each element before they write it; a shifted overlap would read values already overwritten.
Status disjoint_or_same(const char* op, const char* a_name, const TensorView& a, const char* b_name,
                        const TensorView& b);

}  // namespace autoglm::op_checks
