// Holds N SMs of the current device with a block that sleeps until released: kernels launched meanwhile run
// on the other SMs only. A block takes the whole opt-in shared memory, so no other block fits beside it and
// the N blocks sit on N distinct SMs. For asking what an op draws, and how fast it runs, on fewer SMs.
#pragma once

namespace autoglm::bench {

class SmHolder {
 public:
  // Returns once the holding blocks run. Holds min(sms, SM count - 1) SMs (0 holds nothing): the blocks must
  // all be resident at once, and the op needs an SM left.
  explicit SmHolder(int sms);
  ~SmHolder();
  SmHolder(const SmHolder&) = delete;
  SmHolder& operator=(const SmHolder&) = delete;
  int held() const { return sms_; }

 private:
  int sms_ = 0;
  int* flags_ = nullptr;  // mapped host memory: [0] release, [1] blocks started
  void* stream_ = nullptr;
};

}  // namespace autoglm::bench
