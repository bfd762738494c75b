// Tensors: the named, typed, row-major batches of values that inference protocols decode into and
// models read and write. One representation for every protocol keeps the batcher protocol-blind.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lathe::models {

// The Open Inference Protocol v2 datatypes.
enum class DataType : uint8_t {
  kBool,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kFp32,
  kFp64,
  kBytes,
};

// "BOOL", "INT8", ..., "FP64", "BYTES".
std::string_view DataTypeName(DataType type);
// The inverse of DataTypeName (exact, upper case); nullopt for anything else (including FP16/BF16,
// which Lathe does not serve).
std::optional<DataType> ParseDataType(std::string_view name);
bool IsInteger(DataType type);
bool IsFloat(DataType type);

// A tensor. Numbers of every numeric type are held as double: each OIP integer up to 2^53 and
// every float is exact there, and models compute in float or double anyway. BYTES are strings.
// A missing value is NaN in `numbers`, or a set flag in `nulls` (for strings; empty = no nulls).
struct Tensor {
  std::string name;
  DataType datatype = DataType::kFp64;
  std::vector<int64_t> shape;        // shape[0] is the batch (row) dimension
  std::vector<double> numbers;       // row-major; every datatype but BYTES
  std::vector<std::string> strings;  // row-major; BYTES
  std::vector<uint8_t> nulls;        // per element of `strings`, 1 = null; empty when none is null

  bool is_bytes() const { return datatype == DataType::kBytes; }
  int64_t rows() const { return shape.empty() ? 0 : shape[0]; }
  // Elements per row: the product of shape[1:] (1 for a shape of [N]).
  int64_t width() const {
    int64_t width = 1;
    for (size_t i = 1; i < shape.size(); ++i) width *= shape[i];
    return width;
  }
  size_t element_count() const { return is_bytes() ? strings.size() : numbers.size(); }
  bool is_null(size_t index) const { return !nulls.empty() && nulls[index] != 0; }
};

}  // namespace lathe::models
