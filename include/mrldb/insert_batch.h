// InsertBatch: rows to write in one atomic call. It only collects; Database::Insert validates
// against the collection (dimension, NaN/Inf, id and attribute types) and names the row at fault.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "mrldb/types.h"

namespace mrldb {

class InsertBatch {
 public:
  InsertBatch() = default;

  // Appends a row. `vector` is copied; `attributes` are in the collection's column order (an
  // empty list means all NULL).
  void Add(Key id, std::span<const float> vector, std::vector<Value> attributes = {});
  // Appends a row given as IEEE 754 binary16 values, widened to float32.
  void AddHalf(Key id, std::span<const uint16_t> vector, std::vector<Value> attributes = {});

  size_t size() const { return ids_.size(); }
  bool empty() const { return ids_.empty(); }
  void Clear();

  const Key& id(size_t row) const { return ids_[row]; }
  std::span<const float> vector(size_t row) const {
    return {values_.data() + offsets_[row], offsets_[row + 1] - offsets_[row]};
  }
  const std::vector<Value>& attributes(size_t row) const { return attributes_[row]; }
  // All vector values, row after row (row-major n x dim when every row has `dim` values).
  const float* values() const { return values_.data(); }
  // Reserves room for `rows` rows of `dim` values.
  void Reserve(size_t rows, size_t dim);

 private:
  std::vector<Key> ids_;
  std::vector<float> values_;
  std::vector<size_t> offsets_{0};
  std::vector<std::vector<Value>> attributes_;
};

// IEEE 754 binary16 -> float32 (exact; NaN and Inf preserved).
float HalfToFloat(uint16_t h);

}  // namespace mrldb
