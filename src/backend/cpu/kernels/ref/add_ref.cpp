#include "backend/cpu/kernels/ref/add_ref.h"

namespace autoglm {

void add_ref(const AddArgs& args) {
  const float* a = args.a.as<const float>();
  const float* b = args.b.as<const float>();
  float* out = args.out.as<float>();
  for (int64_t i = 0; i < args.a.numel(); ++i)
    out[i] = static_cast<float>(static_cast<double>(a[i]) + b[i]);
}

}  // namespace autoglm
