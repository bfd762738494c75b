// Model signatures: MLflow's input/output schema from MLmodel, and the binding that checks a
// request's tensors against it (missing columns, wrong types, wrong widths) before a predict.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "models/tensor.h"

namespace lathe::models {

enum class InputMode {
  kTensor,   // one input tensor of shape [N, F]
  kColumns,  // one tensor per column, of shape [N] or [N, 1], named after the column
};
std::string_view InputModeName(InputMode mode);  // "tensor" or "columns"

// One declared input or output. For a column, shape is [-1]; for a tensor, MLflow's shape with -1
// for free dimensions. `source_type` is the type as MLflow spells it ("double", "float32", ...),
// kept for error messages and metadata.
struct TensorSpec {
  std::string name;
  DataType datatype = DataType::kFp64;
  std::vector<int64_t> shape;
  std::string source_type;
  bool required = true;  // MLflow columns may be optional
};

struct Signature {
  bool has_inputs = false;  // false: MLmodel had no signature; the model's own shape rules apply
  InputMode input_mode = InputMode::kColumns;
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// Parses MLmodel's `signature` entries, each a JSON string: a list of columns
// `{"type": "double", "name": "x", "required": true}` or of tensors
// `{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 4]}}`. Either may be empty.
Result<Signature> ParseMlflowSignature(std::string_view inputs_json, std::string_view outputs_json);

// Checks `request` (decoded from any protocol) against `inputs` and returns exactly one tensor per
// spec, in spec order, with the spec's datatype. Accepted forms:
//  - kColumns: one tensor per column by name (shape [N] or [N, 1]), or a single unnamed/any-named
//    [N, C] tensor whose C values per row are the columns in order.
//  - kTensor: one [N, F] tensor, or F named [N] tensors, stacked in request order.
// Rows must agree across tensors and be >= 1. Values must fit the spec's type: numbers for
// numeric specs (integers for integer specs), strings for BYTES; NaN/inf only for float specs.
// Errors are kInvalidParameterValue naming the column or tensor.
// With `pack_numeric_columns`, columns that are all numeric come back as ONE FP64 tensor named
// kPackedColumns of shape [N, C], columns in spec order: what a model over a dense matrix
// wants, without a tensor per column.
inline constexpr std::string_view kPackedColumns = "__columns__";
Result<std::vector<Tensor>> BindInputs(InputMode mode, const std::vector<TensorSpec>& inputs,
                                       std::vector<Tensor> request, bool pack_numeric_columns = false);

}  // namespace lathe::models
