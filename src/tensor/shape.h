// Shape of a row-major, contiguous tensor: up to kMaxDims dims, outermost first ([rows, cols]).
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <string>

namespace autoglm {

class Shape {
 public:
  static constexpr int kMaxDims = 4;

  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return dims_[i]; }
  int64_t& operator[](int i) { return dims_[i]; }
  int64_t back() const { return dims_[rank_ - 1]; }
  int64_t numel() const;
  // Product of all dims but the last: how many rows a row-wise op visits.
  int64_t rows() const { return rank_ == 0 ? 1 : numel() / back(); }
  bool operator==(const Shape& other) const;
  bool operator!=(const Shape& other) const { return !(*this == other); }
  std::string to_string() const;  // "[3, 64]"

  // Builds a shape from a dims array of any length; returns false when it has more than kMaxDims dims.
  static bool from_dims(const int64_t* dims, int rank, Shape* out);

 private:
  std::array<int64_t, kMaxDims> dims_{};
  int rank_ = 0;
};

}  // namespace autoglm
