#include "ops/matmul.h"

#include <string>

#include "ops/add.h"
#include "ops/kernel_table.h"
#include "ops/op_checks.h"
#include "ops/swiglu.h"
#include "tensor/quant_blocks.h"

namespace autoglm {

namespace {

bool is_16bit(DType dtype) {
  return dtype == DType::kBF16 || dtype == DType::kF16;
}

// A 16-bit tensor widened (exactly) into an f32 host temporary: the CPU kernels read and write f32.
Tensor widened(const TensorView& v) {
  Tensor wide = Tensor::host(DType::kF32, v.shape);
  dequantize_row(v.dtype, v.data, wide.as<float>(), v.numel());
  return wide;
}

Status matmul_checks(Backend& backend, const MatmulArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "matmul";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "x", a.x, 2));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "w", a.w, 2));
  const bool x_16bit = is_16bit(a.w.dtype) && a.x.dtype == a.w.dtype;
  if (!x_16bit) AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  // A 16-bit out (graph/gate_up_output_pass.h) is the f32 result rounded to nearest-even, without bias.
  const bool out_16bit = is_16bit(a.w.dtype) && a.out.dtype == a.w.dtype && a.bias.data == nullptr;
  if (!out_16bit) AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out", a.out, DType::kF32));
  const int64_t m = a.x.shape[0], k = a.x.shape[1], n = a.w.shape[0];
  if (a.w.shape[1] != k) {
    return invalid_argument("matmul: w " + a.w.describe() + " does not match x " + a.x.describe());
  }
  // A row of block-quantized weights is a whole number of blocks.
  if (const int64_t block = dtype_block_elements(a.w.dtype); k % block != 0) {
    return invalid_argument("matmul: k = " + std::to_string(k) + " is not a multiple of the " +
                            std::to_string(block) + "-element blocks of " +
                            std::string(dtype_name(a.w.dtype)) + " weights " + a.w.describe());
  }
  if (a.w.dtype == DType::kQ4_Kx8 && n % 8 != 0) {
    return invalid_argument("matmul: q4_k_x8 weights " + a.w.describe() + " are not whole groups of 8 rows");
  }
  AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "out", a.out, Shape{m, n}));
  if (a.bias.data != nullptr) {
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "bias", a.bias, DType::kF32));
    AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "bias", a.bias, Shape{n}));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "bias", a.bias, backend));
  }
  for (const auto* t : {&a.x, &a.w, &a.out})
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "tensor", *t, backend));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "x", a.x));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "w", a.w));
  if (a.addend.data != nullptr) {
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "addend", a.addend, DType::kF32));
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "out (with an addend)", a.out, DType::kF32));
    AUTOGLM_RETURN_IF_ERROR(has_shape(kOp, "addend", a.addend, Shape{m, n}));
    AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "addend", a.addend, backend));
    AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "addend", a.addend));
  }
  return Status::ok();
}

// The CPU kernels write x . w^T (+ bias); the add op adds the addend after (one f32 rounding). GPU kernels
// fold it in themselves.
Status add_addend_on_cpu(Backend& backend, const TensorView& addend, const TensorView& out) {
  if (addend.data == nullptr) return Status::ok();
  return add(backend, {addend, out, out});
}

}  // namespace

Status matmul(Backend& backend, const MatmulArgs& a) {
  AUTOGLM_RETURN_IF_ERROR(matmul_checks(backend, a));
  AUTOGLM_ASSIGN_OR_RETURN(auto fn, find_kernel<MatmulArgs>("matmul", backend, a.w.dtype));
  if (backend.device().kind != DeviceKind::kCpu) {
    fn(backend, a);
    return Status::ok();
  }
  if (a.x.dtype == DType::kF32 && a.out.dtype == DType::kF32) {
    fn(backend, a);
    return add_addend_on_cpu(backend, a.addend, a.out);
  }
  // The CPU kernels read and write f32: 16-bit x widened, a 16-bit out rounded from an f32 temporary.
  MatmulArgs f32 = a;
  Tensor wide_x, f32_out;
  if (a.x.dtype != DType::kF32) {
    wide_x = widened(a.x);
    f32.x = wide_x.view();
  }
  if (a.out.dtype != DType::kF32) {
    f32_out = Tensor::host(DType::kF32, a.out.shape);
    f32.out = f32_out.view();
  }
  fn(backend, f32);
  if (f32_out.defined())
    return quantize_row(a.out.dtype, f32_out.as<const float>(), a.out.data, a.out.numel());
  return add_addend_on_cpu(backend, a.addend, a.out);
}

Status matmul_swiglu(Backend& backend, const MatmulSwigluArgs& a) {
  using namespace op_checks;
  constexpr const char* kOp = "matmul_swiglu";
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "x", a.x, 2));
  AUTOGLM_RETURN_IF_ERROR(has_rank(kOp, "w", a.w, 2));
  // x is f32, or of w's 16-bit type (graph/gate_up_output_pass.h).
  if (!(is_16bit(a.w.dtype) && a.x.dtype == a.w.dtype))
    AUTOGLM_RETURN_IF_ERROR(has_dtype(kOp, "x", a.x, DType::kF32));
  const int64_t m = a.x.shape[0], k = a.w.shape[1];
  if (a.x.shape[1] != 2 * k) {
    return invalid_argument("matmul_swiglu: x " + a.x.describe() + " must be [m, 2k] for w " +
                            a.w.describe());
  }
  AUTOGLM_RETURN_IF_ERROR(on_device(kOp, "x", a.x, backend));
  AUTOGLM_RETURN_IF_ERROR(disjoint(kOp, "out", a.out, "x", a.x));
  if (a.x.dtype != DType::kF32 && backend.device().kind == DeviceKind::kCpu) {
    const Tensor wide_x = widened(a.x);  // the CPU kernels read f32
    MatmulSwigluArgs f32 = a;
    f32.x = wide_x.view();
    return matmul_swiglu(backend, f32);
  }
  auto fn = KernelTable<MatmulSwigluArgs>::instance().find(backend.device().kind, a.w.dtype);
  if (fn != nullptr) {
    // The plain matmul's checks cover w, bias and out (shapes, dtypes, devices) with x's shape [m, k].
    TensorView x_as_activation = a.x;
    x_as_activation.shape = Shape{m, k};
    MatmulArgs as_matmul{x_as_activation, a.w, a.bias, a.out};
    as_matmul.addend = a.addend;
    AUTOGLM_RETURN_IF_ERROR(matmul_checks(backend, as_matmul));
    fn(backend, a);
    if (backend.device().kind == DeviceKind::kCpu) return add_addend_on_cpu(backend, a.addend, a.out);
    return Status::ok();
  }
  AUTOGLM_ASSIGN_OR_RETURN(Tensor activation, backend.allocate(DType::kF32, Shape{m, k}));
  AUTOGLM_RETURN_IF_ERROR(swiglu(backend, {a.x, activation.view()}));
  MatmulArgs plain{activation.view(), a.w, a.bias, a.out};
  plain.addend = a.addend;
  return matmul(backend, plain);
}

}  // namespace autoglm
