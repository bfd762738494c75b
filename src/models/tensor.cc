// Names of the Open Inference Protocol datatypes.
#include "models/tensor.h"

#include <array>

namespace lathe::models {
namespace {

constexpr std::array<std::string_view, 12> kDataTypeNames = {
    "BOOL", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64", "FP32", "FP64", "BYTES"};

}  // namespace

std::string_view DataTypeName(DataType type) { return kDataTypeNames[static_cast<size_t>(type)]; }

std::optional<DataType> ParseDataType(std::string_view name) {
  for (size_t i = 0; i < kDataTypeNames.size(); ++i) {
    if (kDataTypeNames[i] == name) return static_cast<DataType>(i);
  }
  return std::nullopt;
}

bool IsInteger(DataType type) { return type >= DataType::kInt8 && type <= DataType::kUint64; }
bool IsFloat(DataType type) { return type == DataType::kFp32 || type == DataType::kFp64; }

}  // namespace lathe::models
