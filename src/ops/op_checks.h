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

}  // namespace autoglm::op_checks
