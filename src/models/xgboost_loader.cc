// XGBoost models through the C API: loading any saved format, the version check, and the C API
// predictor that serves what the native evaluator does not cover.
#include <xgboost/c_api.h>

#include <charconv>
#include <cmath>
#include <mutex>
#include <optional>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "models/dense_predictor.h"
#include "models/gbtree_evaluator.h"

namespace lathe::models {
namespace {

struct Version {
  int major = 0;
  int minor = 0;
  int patch = 0;
  bool operator>(const Version& other) const {
    return std::tie(major, minor, patch) > std::tie(other.major, other.minor, other.patch);
  }
  std::string text() const { return fmt::format("{}.{}.{}", major, minor, patch); }
};

Version LibraryVersion() {
  Version version;
  XGBoostVersion(&version.major, &version.minor, &version.patch);
  return version;
}

// "1.7.4", "2.1.0rc1" -> {1, 7, 4}, {2, 1, 0}; nullopt when it does not start with a number.
std::optional<Version> ParseVersion(std::string_view text) {
  Version version;
  int* parts[] = {&version.major, &version.minor, &version.patch};
  const char* cursor = text.data();
  const char* end = text.data() + text.size();
  for (int i = 0; i < 3 && cursor < end; ++i) {
    auto [next, error] = std::from_chars(cursor, end, *parts[i]);
    if (error != std::errc()) return i == 0 ? std::nullopt : std::optional<Version>(version);
    cursor = next;
    if (cursor < end && *cursor == '.') ++cursor;
  }
  return version;
}

std::string LastError() { return XGBGetLastError(); }

constexpr const char* kInplacePredictConfig =
    R"({"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "strict_shape": false, "missing": NaN, "cache_id": 0})";

// numpy's __array_interface__ for a row-major float32 matrix, as XGBoost's in-place predict takes.
std::string DenseArrayInterface(const float* data, size_t rows, size_t columns) {
  return fmt::format(R"({{"data": [{}, true], "shape": [{}, {}], "typestr": "<f4", "version": 3}})",
                     reinterpret_cast<uintptr_t>(data), rows, columns);
}

class BoosterHandleOwner {
 public:
  BoosterHandleOwner() = default;
  ~BoosterHandleOwner() {
    if (handle_ != nullptr) XGBoosterFree(handle_);
  }
  BoosterHandleOwner(const BoosterHandleOwner&) = delete;
  BoosterHandleOwner& operator=(const BoosterHandleOwner&) = delete;
  BoosterHandle* out() { return &handle_; }
  BoosterHandle get() const { return handle_; }

 private:
  BoosterHandle handle_ = nullptr;
};

// The C API's in-place dense predict. One call at a time: the booster hands back a buffer it
// owns until the next call.
class XgboostCApiPredictor final : public DensePredictor {
 public:
  XgboostCApiPredictor(std::unique_ptr<BoosterHandleOwner> booster, size_t features, size_t outputs, uint64_t bytes)
      : booster_(std::move(booster)), features_(features), outputs_(outputs), bytes_(bytes) {}

  size_t num_features() const override { return features_; }
  size_t num_outputs() const override { return outputs_; }
  std::string_view evaluator() const override { return "xgboost-c-api"; }
  uint64_t memory_bytes() const override { return bytes_; }

  Status Predict(const double* features, size_t rows, double* out) const override {
    thread_local std::vector<float> values;
    values.assign(features, features + rows * features_);
    const std::string array = DenseArrayInterface(values.data(), rows, features_);
    std::lock_guard lock(mutex_);
    const bst_ulong* shape = nullptr;
    bst_ulong dimensions = 0;
    const float* result = nullptr;
    if (XGBoosterPredictFromDense(booster_->get(), array.c_str(), kInplacePredictConfig, nullptr, &shape, &dimensions, &result) != 0) {
      return Status::Internal(fmt::format("XGBoost predict failed: {}", LastError()));
    }
    size_t total = 1;
    for (bst_ulong i = 0; i < dimensions; ++i) total *= shape[i];
    if (total != rows * outputs_) {
      return Status::Internal(fmt::format("XGBoost returned {} values for {} rows × {} outputs", total, rows, outputs_));
    }
    for (size_t i = 0; i < total; ++i) out[i] = result[i];
    return Status::Ok();
  }

 private:
  std::unique_ptr<BoosterHandleOwner> booster_;
  const size_t features_;
  const size_t outputs_;
  const uint64_t bytes_;
  mutable std::mutex mutex_;
};

Status CheckVersion(const std::filesystem::path& file, std::string_view declared) {
  const Version library = LibraryVersion();
  if (declared.empty()) return Status::Ok();
  auto version = ParseVersion(declared);
  if (!version) {
    return Status::InvalidParameter(fmt::format("{}: xgb_version '{}' is not a version number", file.string(), declared));
  }
  // Models saved by a newer XGBoost may use features or formats (UBJSON model.xgb from 2.1 on,
  // new objectives, multi-target trees) that this library would misread: refuse them.
  if (Version{version->major, version->minor, 0} > Version{library.major, library.minor, 0}) {
    return Status::InvalidParameter(fmt::format(
        "{} was saved by XGBoost {}, newer than the XGBoost {} this server uses; Lathe serves models from XGBoost {} "
        "(retrain or save it with XGBoost <= {}.{})",
        file.string(), declared, library.text(), SupportedXgboostVersions(), library.major, library.minor));
  }
  return Status::Ok();
}

}  // namespace

std::string_view SupportedXgboostVersions() {
  static const std::string range = [] {
    const Version library = LibraryVersion();
    return fmt::format("1.0 to {}.{}.x", library.major, library.minor);
  }();
  return range;
}

Result<std::unique_ptr<DensePredictor>> LoadXgboostPredictor(const std::filesystem::path& file,
                                                             std::string_view declared_xgb_version, bool force_c_api) {
  std::error_code error;
  if (!std::filesystem::is_regular_file(file, error)) {
    return Status::InvalidParameter(fmt::format("{}: the XGBoost model file is missing", file.string()));
  }
  LATHE_RETURN_IF_ERROR(CheckVersion(file, declared_xgb_version));
  auto booster = std::make_unique<BoosterHandleOwner>();
  if (XGBoosterCreate(nullptr, 0, booster->out()) != 0) {
    return Status::Internal(fmt::format("XGBoost: {}", LastError()));
  }
  if (XGBoosterLoadModel(booster->get(), file.c_str()) != 0) {
    return Status::InvalidParameter(fmt::format("{}: XGBoost cannot load it: {}", file.string(), LastError()));
  }
  // One thread per predict call: the server runs many requests at once, and OpenMP fan-out on a
  // single row costs more than it saves.
  XGBoosterSetParam(booster->get(), "nthread", "1");
  bst_ulong length = 0;
  const char* json = nullptr;
  if (XGBoosterSaveModelToBuffer(booster->get(), R"({"format": "json"})", &length, &json) != 0) {
    return Status::InvalidParameter(fmt::format("{}: XGBoost cannot export it as JSON: {}", file.string(), LastError()));
  }
  std::string model_json(json, length);
  bst_ulong features = 0;
  if (XGBoosterGetNumFeature(booster->get(), &features) != 0) {
    return Status::InvalidParameter(fmt::format("{}: {}", file.string(), LastError()));
  }
  auto native = force_c_api ? Result<std::unique_ptr<GbtreeEvaluator>>(Status::InvalidState("the C API was asked for"))
                            : GbtreeEvaluator::FromXgboostJson(model_json);
  if (native.ok()) {
    if ((*native)->num_features() != features) {
      return Status::InvalidParameter(fmt::format("{}: inconsistent feature count", file.string()));
    }
    return std::unique_ptr<DensePredictor>(std::move(*native));
  }
  if (native.status().code() != ErrorCode::kInvalidState) {
    return Status::InvalidParameter(fmt::format("{}: {}", file.string(), native.status().message()));
  }
  spdlog::info("{}: {} is not covered by the native evaluator; predicting through the XGBoost C API", file.string(),
               native.status().message());
  // The output width (1, or the number of classes): one row of NaNs through the C API itself.
  std::vector<float> probe(features, std::nanf(""));
  const bst_ulong* shape = nullptr;
  bst_ulong dimensions = 0;
  const float* result = nullptr;
  if (XGBoosterPredictFromDense(booster->get(), DenseArrayInterface(probe.data(), 1, features).c_str(),
                                kInplacePredictConfig, nullptr, &shape, &dimensions, &result) != 0) {
    return Status::InvalidParameter(fmt::format("{}: XGBoost cannot predict with it: {}", file.string(), LastError()));
  }
  size_t outputs = 1;
  for (bst_ulong i = 1; i < dimensions; ++i) outputs *= shape[i];
  return std::unique_ptr<DensePredictor>(
      new XgboostCApiPredictor(std::move(booster), features, outputs, model_json.size() * 2));
}

}  // namespace lathe::models
