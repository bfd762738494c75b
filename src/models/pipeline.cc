// The `lathe` flavor: pipeline.json compiled into column-wise steps over a per-batch workspace,
// one dense estimator (linear or XGBoost) and postprocessing of its scores.
#include "models/pipeline.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <unordered_map>

#include "models/dense_predictor.h"
#include "models/flavors.h"
#include "models/linear_predictor.h"

namespace lathe::models {
namespace {

using nlohmann::json;

// Thrown while reading a pipeline document and turned into a Status at this file's boundary: the
// checks nest deeply, and each of them ends the load.
struct SpecError {
  std::string message;
};

[[noreturn]] void Fail(std::string_view where, std::string_view what) {
  throw SpecError{fmt::format("{}: {}", where, what)};
}

// One JSON object of the document, read field by field. Unknown fields are refused so that a
// misspelt option is an error rather than a silent default.
class Fields {
 public:
  Fields(const json& object, std::string where, std::initializer_list<std::string_view> known)
      : object_(object), where_(std::move(where)) {
    if (!object.is_object()) Fail(where_, "expected a JSON object");
    for (const auto& item : object.items()) {
      if (std::find(known.begin(), known.end(), item.key()) == known.end()) {
        Fail(where_, fmt::format("unknown field '{}' (known: {})", item.key(), fmt::join(known, ", ")));
      }
    }
  }

  const std::string& where() const { return where_; }
  bool has(const std::string& key) const { return object_.contains(key); }

  const json& Required(const std::string& key) const {
    if (!has(key)) Fail(where_, fmt::format("missing field '{}'", key));
    return object_[key];
  }
  std::string String(const std::string& key) const { return AsString(Required(key), key); }
  std::optional<std::string> OptionalString(const std::string& key) const {
    return has(key) ? std::optional(AsString(object_[key], key)) : std::nullopt;
  }
  double Number(const std::string& key) const { return AsNumber(Required(key), key); }
  std::optional<double> OptionalNumber(const std::string& key) const {
    return has(key) ? std::optional(AsNumber(object_[key], key)) : std::nullopt;
  }
  bool Bool(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!object_[key].is_boolean()) Fail(where_, fmt::format("'{}' must be true or false", key));
    return object_[key].get<bool>();
  }
  const json& List(const std::string& key) const {
    const json& list = Required(key);
    if (!list.is_array()) Fail(where_, fmt::format("'{}' must be a list", key));
    return list;
  }
  std::vector<double> Numbers(const std::string& key) const {
    std::vector<double> numbers;
    for (const auto& item : List(key)) numbers.push_back(AsNumber(item, key));
    return numbers;
  }
  std::vector<std::string> Strings(const std::string& key) const {
    std::vector<std::string> strings;
    for (const auto& item : List(key)) strings.push_back(AsString(item, key));
    return strings;
  }

  double AsNumber(const json& value, std::string_view key) const {
    if (!value.is_number()) Fail(where_, fmt::format("'{}' must hold numbers, got {}", key, value.dump()));
    return value.get<double>();
  }
  std::string AsString(const json& value, std::string_view key) const {
    if (!value.is_string()) Fail(where_, fmt::format("'{}' must hold strings, got {}", key, value.dump()));
    return value.get<std::string>();
  }

 private:
  const json& object_;
  std::string where_;
};

template <typename T>
void RequireCount(const Fields& fields, std::string_view key, const std::vector<T>& values, size_t count) {
  if (values.size() != count) {
    Fail(fields.where(), fmt::format("'{}' has {} values, one per column needs {}", key, values.size(), count));
  }
}

// ----- The compiled form: steps over a column-major workspace of numeric "slots" --------------------

// Per-batch scratch: slot s holds `rows` doubles at data + s * rows.
struct Workspace {
  size_t rows = 0;
  double* data = nullptr;
  double* column(size_t slot) const { return data + slot * rows; }
};

// A string column as the steps read it: an input tensor, and what a null reads as once imputed.
struct StringSource {
  size_t input = 0;
  std::optional<std::string> fill;

  const std::string* At(const Tensor& tensor, size_t row) const {
    if (!tensor.is_null(row)) return &tensor.strings[row];
    return fill ? &*fill : nullptr;
  }
};

class Step {
 public:
  virtual ~Step() = default;
  virtual Status Apply(const std::vector<Tensor>& inputs, const Workspace& work) const = 0;
};

class CopyInput final : public Step {
 public:
  CopyInput(size_t input, size_t slot) : input_(input), slot_(slot) {}
  Status Apply(const std::vector<Tensor>& inputs, const Workspace& work) const override {
    const double* values = inputs[input_].numbers.data();
    std::copy(values, values + work.rows, work.column(slot_));
    return Status::Ok();
  }

 private:
  size_t input_, slot_;
};

class FillMissing final : public Step {
 public:
  FillMissing(size_t slot, double value) : slot_(slot), value_(value) {}
  Status Apply(const std::vector<Tensor>&, const Workspace& work) const override {
    double* column = work.column(slot_);
    for (size_t r = 0; r < work.rows; ++r) {
      if (std::isnan(column[r])) column[r] = value_;
    }
    return Status::Ok();
  }

 private:
  size_t slot_;
  double value_;
};

// (x - mean) / scale, as sklearn's StandardScaler computes it.
class Standardize final : public Step {
 public:
  Standardize(size_t slot, double mean, double scale) : slot_(slot), mean_(mean), scale_(scale) {}
  Status Apply(const std::vector<Tensor>&, const Workspace& work) const override {
    double* column = work.column(slot_);
    for (size_t r = 0; r < work.rows; ++r) column[r] = (column[r] - mean_) / scale_;
    return Status::Ok();
  }

 private:
  size_t slot_;
  double mean_, scale_;
};

// x * scale + offset, then optionally clipped to the feature range, as sklearn's MinMaxScaler.
class MinMaxScale final : public Step {
 public:
  MinMaxScale(size_t slot, double scale, double offset, std::optional<std::pair<double, double>> clip)
      : slot_(slot), scale_(scale), offset_(offset), clip_(clip) {}
  Status Apply(const std::vector<Tensor>&, const Workspace& work) const override {
    double* column = work.column(slot_);
    for (size_t r = 0; r < work.rows; ++r) {
      column[r] = column[r] * scale_ + offset_;
      if (clip_ && !std::isnan(column[r])) column[r] = std::clamp(column[r], clip_->first, clip_->second);
    }
    return Status::Ok();
  }

 private:
  size_t slot_;
  double scale_, offset_;
  std::optional<std::pair<double, double>> clip_;
};

// Writes one 0/1 slot per category. `missing` is the category a null/NaN belongs to, if any.
struct OneHotLayout {
  std::string column;
  size_t first_slot = 0;
  size_t count = 0;
  std::optional<size_t> missing;
  bool error_on_unknown = false;
  std::string known;  // the categories, listed in the error for an unknown one

  // Zeroes the row's slots and sets the category's (`category` is nullopt when unknown). False when
  // the category is unknown and unknown categories are errors.
  bool Set(const Workspace& work, size_t row, std::optional<size_t> category) const {
    for (size_t k = 0; k < count; ++k) work.column(first_slot + k)[row] = 0.0;
    if (category) work.column(first_slot + *category)[row] = 1.0;
    return category || !error_on_unknown;
  }

  Status Unknown(size_t row, std::string_view shown) const {
    return Status::InvalidParameter(
        fmt::format("column '{}': unknown category {} in row {} (handle_unknown is 'error'; known: {})", column, shown,
                    row, known));
  }
};

class OneHotStrings final : public Step {
 public:
  OneHotStrings(StringSource source, std::unordered_map<std::string, size_t> index, OneHotLayout layout)
      : source_(std::move(source)), index_(std::move(index)), layout_(std::move(layout)) {}
  Status Apply(const std::vector<Tensor>& inputs, const Workspace& work) const override {
    const Tensor& tensor = inputs[source_.input];
    for (size_t r = 0; r < work.rows; ++r) {
      const std::string* value = source_.At(tensor, r);
      std::optional<size_t> category = layout_.missing;
      if (value) {
        auto found = index_.find(*value);
        category = found == index_.end() ? std::nullopt : std::optional(found->second);
      }
      if (!layout_.Set(work, r, category)) return layout_.Unknown(r, value ? fmt::format("'{}'", *value) : "null");
    }
    return Status::Ok();
  }

 private:
  StringSource source_;
  std::unordered_map<std::string, size_t> index_;
  OneHotLayout layout_;
};

class OneHotNumbers final : public Step {
 public:
  OneHotNumbers(size_t slot, std::vector<std::pair<double, size_t>> sorted, OneHotLayout layout)
      : slot_(slot), sorted_(std::move(sorted)), layout_(std::move(layout)) {}
  Status Apply(const std::vector<Tensor>&, const Workspace& work) const override {
    const double* column = work.column(slot_);
    for (size_t r = 0; r < work.rows; ++r) {
      const double value = column[r];
      std::optional<size_t> category = layout_.missing;
      if (!std::isnan(value)) {
        auto found = std::lower_bound(sorted_.begin(), sorted_.end(), value,
                                      [](const auto& entry, double v) { return entry.first < v; });
        category = found != sorted_.end() && found->first == value ? std::optional(found->second) : std::nullopt;
      }
      if (!layout_.Set(work, r, category)) {
        return layout_.Unknown(r, std::isnan(value) ? "null" : fmt::format("{}", value));
      }
    }
    return Status::Ok();
  }

 private:
  size_t slot_;
  std::vector<std::pair<double, size_t>> sorted_;
  OneHotLayout layout_;
};

// The bucket of x is the number of boundaries <= x (numpy.digitize, KBinsDiscretizer): a value on a
// boundary belongs to the bucket above it. Missing stays missing.
class Bucketize final : public Step {
 public:
  Bucketize(size_t input_slot, std::vector<double> boundaries, size_t first_slot, bool one_hot)
      : input_slot_(input_slot), boundaries_(std::move(boundaries)), first_slot_(first_slot), one_hot_(one_hot) {}
  Status Apply(const std::vector<Tensor>&, const Workspace& work) const override {
    const double* column = work.column(input_slot_);
    const size_t buckets = boundaries_.size() + 1;
    for (size_t r = 0; r < work.rows; ++r) {
      const double value = column[r];
      const double bucket = std::isnan(value)
                                ? NAN
                                : static_cast<double>(std::upper_bound(boundaries_.begin(), boundaries_.end(), value) -
                                                      boundaries_.begin());
      if (!one_hot_) {
        work.column(first_slot_)[r] = bucket;
        continue;
      }
      for (size_t k = 0; k < buckets; ++k) {
        work.column(first_slot_ + k)[r] = std::isnan(bucket) ? NAN : (static_cast<double>(k) == bucket ? 1.0 : 0.0);
      }
    }
    return Status::Ok();
  }

 private:
  size_t input_slot_;
  std::vector<double> boundaries_;
  size_t first_slot_;
  bool one_hot_;
};

enum class DatePart { kYear, kMonth, kDay, kHour, kMinute, kWeekday, kDayOfYear };
constexpr std::pair<std::string_view, DatePart> kDateParts[] = {
    {"year", DatePart::kYear},
    {"month", DatePart::kMonth},
    {"day", DatePart::kDay},
    {"hour", DatePart::kHour},
    {"minute", DatePart::kMinute},
    {"weekday", DatePart::kWeekday},
    {"day_of_year", DatePart::kDayOfYear},
};

struct UtcTime {
  std::chrono::sys_days day;
  int hour = 0;
  int minute = 0;
};

// Reads `digits` decimal digits at text[*pos].
std::optional<int> ReadDigits(std::string_view text, size_t* pos, size_t digits) {
  if (*pos + digits > text.size()) return std::nullopt;
  int value = 0;
  for (size_t i = 0; i < digits; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + (c - '0');
  }
  *pos += digits;
  return value;
}

bool Consume(std::string_view text, size_t* pos, char expected) {
  if (*pos >= text.size() || text[*pos] != expected) return false;
  ++*pos;
  return true;
}

// ISO-8601 "YYYY-MM-DD", optionally followed by "T" (or a space) "HH:MM[:SS[.fraction]]" and a zone
// "Z" or "±HH[:MM]". A time without a zone is UTC; a zone converts the time to UTC.
std::optional<UtcTime> ParseIsoTime(std::string_view text) {
  using namespace std::chrono;
  size_t pos = 0;
  const auto y = ReadDigits(text, &pos, 4);
  if (!y || !Consume(text, &pos, '-')) return std::nullopt;
  const auto m = ReadDigits(text, &pos, 2);
  if (!m || !Consume(text, &pos, '-')) return std::nullopt;
  const auto d = ReadDigits(text, &pos, 2);
  if (!d) return std::nullopt;
  const year_month_day date{year{*y}, month{static_cast<unsigned>(*m)}, day{static_cast<unsigned>(*d)}};
  if (!date.ok()) return std::nullopt;
  if (pos == text.size()) return UtcTime{sys_days{date}, 0, 0};
  if (text[pos] != 'T' && text[pos] != 't' && text[pos] != ' ') return std::nullopt;
  ++pos;
  const auto hour = ReadDigits(text, &pos, 2);
  if (!hour || *hour > 23 || !Consume(text, &pos, ':')) return std::nullopt;
  const auto minute = ReadDigits(text, &pos, 2);
  if (!minute || *minute > 59) return std::nullopt;
  if (Consume(text, &pos, ':')) {
    const auto second = ReadDigits(text, &pos, 2);
    if (!second || *second > 59) return std::nullopt;
    if (Consume(text, &pos, '.')) {
      const size_t start = pos;
      while (pos < text.size() && text[pos] >= '0' && text[pos] <= '9') ++pos;
      if (pos == start) return std::nullopt;
    }
  }
  int offset_minutes = 0;
  if (pos < text.size() && (text[pos] == 'Z' || text[pos] == 'z')) {
    ++pos;
  } else if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
    const int sign = text[pos] == '+' ? 1 : -1;
    ++pos;
    const auto zone_hours = ReadDigits(text, &pos, 2);
    if (!zone_hours || *zone_hours > 23) return std::nullopt;
    int zone_minutes = 0;
    if (pos < text.size()) {
      Consume(text, &pos, ':');
      const auto read = ReadDigits(text, &pos, 2);
      if (!read || *read > 59) return std::nullopt;
      zone_minutes = *read;
    }
    offset_minutes = sign * (*zone_hours * 60 + zone_minutes);
  }
  if (pos != text.size()) return std::nullopt;
  const minutes local = sys_days{date}.time_since_epoch() + hours{*hour} + minutes{*minute};
  const sys_time<minutes> utc{local - minutes{offset_minutes}};
  const sys_days utc_day = floor<days>(utc);
  const auto of_day = duration_cast<minutes>(utc - utc_day);
  return UtcTime{utc_day, static_cast<int>(of_day.count() / 60), static_cast<int>(of_day.count() % 60)};
}

double PartOf(const UtcTime& time, DatePart part) {
  using namespace std::chrono;
  const year_month_day date{time.day};
  switch (part) {
    case DatePart::kYear:
      return static_cast<int>(date.year());
    case DatePart::kMonth:
      return static_cast<unsigned>(date.month());
    case DatePart::kDay:
      return static_cast<unsigned>(date.day());
    case DatePart::kHour:
      return time.hour;
    case DatePart::kMinute:
      return time.minute;
    case DatePart::kWeekday:
      return weekday{time.day}.iso_encoding();
    case DatePart::kDayOfYear:
      return static_cast<double>((time.day - sys_days{date.year() / January / 1}).count() + 1);
  }
  return NAN;
}

class DateParts final : public Step {
 public:
  DateParts(std::string column, StringSource source, std::vector<DatePart> parts, size_t first_slot)
      : column_(std::move(column)), source_(std::move(source)), parts_(std::move(parts)), first_slot_(first_slot) {}
  Status Apply(const std::vector<Tensor>& inputs, const Workspace& work) const override {
    const Tensor& tensor = inputs[source_.input];
    for (size_t r = 0; r < work.rows; ++r) {
      const std::string* text = source_.At(tensor, r);
      std::optional<UtcTime> time;
      if (text) {
        time = ParseIsoTime(*text);
        if (!time) {
          return Status::InvalidParameter(
              fmt::format("column '{}': '{}' in row {} is not an ISO-8601 date or date-time (e.g. 2026-11-24 or "
                          "2026-11-24T10:00:00Z)",
                          column_, *text, r));
        }
      }
      for (size_t k = 0; k < parts_.size(); ++k)
        work.column(first_slot_ + k)[r] = time ? PartOf(*time, parts_[k]) : NAN;
    }
    return Status::Ok();
  }

 private:
  std::string column_;
  StringSource source_;
  std::vector<DatePart> parts_;
  size_t first_slot_;
};

// ----- Postprocessing ---------------------------------------------------------------------------------

enum class PostKind { kSigmoid, kSoftmax, kClip, kThreshold, kArgmax };

struct PostStep {
  PostKind kind;
  double low = -INFINITY;  // clip
  double high = INFINITY;  // clip
  double threshold = 0.5;
  bool emit_probabilities = false;  // threshold and argmax: output the scores they read
};

// What class_labels maps class indices to: strings, or numbers.
struct ClassLabels {
  std::vector<std::string> strings;
  std::vector<double> numbers;
  bool is_strings() const { return !strings.empty(); }
};

// ----- The model ------------------------------------------------------------------------------------

struct CompiledPipeline {
  ModelMetadata metadata;
  std::vector<std::unique_ptr<Step>> steps;
  size_t num_slots = 0;
  std::vector<size_t> feature_slots;
  std::vector<std::string> feature_names;
  std::unique_ptr<DensePredictor> estimator;  // null when only checking
  bool estimator_takes_missing = false;
  std::vector<PostStep> post;
  std::optional<ClassLabels> labels;
};

class PipelineModel final : public Model {
 public:
  explicit PipelineModel(CompiledPipeline pipeline) : p_(std::move(pipeline)) {}

  const ModelMetadata& metadata() const override { return p_.metadata; }

  Status Predict(const std::vector<Tensor>& inputs, std::vector<Tensor>* outputs) const override {
    // Reused across calls on the same thread: they grow to the largest batch and stay.
    thread_local std::vector<double> slots, matrix, scores;
    const size_t rows = static_cast<size_t>(inputs[0].rows());
    slots.resize(p_.num_slots * rows);
    const Workspace work{rows, slots.data()};
    for (const auto& step : p_.steps) LATHE_RETURN_IF_ERROR(step->Apply(inputs, work));

    const size_t features = p_.feature_slots.size();
    matrix.resize(rows * features);
    for (size_t f = 0; f < features; ++f) {
      const double* column = work.column(p_.feature_slots[f]);
      for (size_t r = 0; r < rows; ++r) {
        if (std::isnan(column[r]) && !p_.estimator_takes_missing) {
          return Status::InvalidParameter(fmt::format(
              "feature '{}' is missing in row {}: a linear estimator needs every feature (impute it in the pipeline)",
              p_.feature_names[f], r));
        }
        matrix[r * features + f] = column[r];
      }
    }
    size_t width = p_.estimator->num_outputs();
    scores.resize(rows * width);
    LATHE_RETURN_IF_ERROR(p_.estimator->Predict(matrix.data(), rows, scores.data()));

    Tensor probabilities;
    for (const PostStep& step : p_.post) {
      if (step.emit_probabilities) probabilities = Probabilities(scores.data(), rows, width);
      width = Postprocess(step, scores.data(), rows, width);
    }
    outputs->push_back(Predictions(scores.data(), rows, width));
    if (!probabilities.name.empty()) outputs->push_back(std::move(probabilities));
    return Status::Ok();
  }

 private:
  // Applies `step` in place to rows × width scores; returns the width after it.
  static size_t Postprocess(const PostStep& step, double* scores, size_t rows, size_t width) {
    const size_t count = rows * width;
    switch (step.kind) {
      case PostKind::kSigmoid:
        for (size_t i = 0; i < count; ++i) scores[i] = 1.0 / (1.0 + std::exp(-scores[i]));
        return width;
      case PostKind::kSoftmax:
        for (size_t r = 0; r < rows; ++r) {
          double* row = scores + r * width;
          const double max = *std::max_element(row, row + width);
          double total = 0;
          for (size_t k = 0; k < width; ++k) total += row[k] = std::exp(row[k] - max);
          for (size_t k = 0; k < width; ++k) row[k] /= total;
        }
        return width;
      case PostKind::kClip:
        for (size_t i = 0; i < count; ++i) scores[i] = std::clamp(scores[i], step.low, step.high);
        return width;
      case PostKind::kThreshold:
        for (size_t r = 0; r < rows; ++r) scores[r] = scores[r] > step.threshold ? 1.0 : 0.0;
        return 1;
      case PostKind::kArgmax:
        // Row r's index lands at scores[r] <= r * width, where only rows already read lie.
        for (size_t r = 0; r < rows; ++r) {
          const double* row = scores + r * width;
          scores[r] = static_cast<double>(std::max_element(row, row + width) - row);
        }
        return 1;
    }
    return width;
  }

  // The scores a threshold or argmax reads, as predict_proba shows them: [N, 2] for one score.
  Tensor Probabilities(const double* scores, size_t rows, size_t width) const {
    Tensor out;
    out.name = "probabilities";
    out.datatype = DataType::kFp64;
    const size_t columns = width == 1 ? 2 : width;
    out.shape = {static_cast<int64_t>(rows), static_cast<int64_t>(columns)};
    out.numbers.resize(rows * columns);
    for (size_t r = 0; r < rows; ++r) {
      if (width == 1) {
        out.numbers[2 * r] = 1.0 - scores[r];
        out.numbers[2 * r + 1] = scores[r];
      } else {
        std::copy(scores + r * width, scores + (r + 1) * width,
                  out.numbers.begin() + static_cast<ptrdiff_t>(r * width));
      }
    }
    return out;
  }

  Tensor Predictions(const double* scores, size_t rows, size_t width) const {
    Tensor out;
    out.name = "predictions";
    out.datatype = p_.metadata.outputs[0].datatype;
    out.shape = {static_cast<int64_t>(rows)};
    if (width > 1) out.shape.push_back(static_cast<int64_t>(width));
    if (!p_.labels) {
      out.numbers.assign(scores, scores + rows * width);
    } else if (p_.labels->is_strings()) {
      out.strings.reserve(rows);
      for (size_t r = 0; r < rows; ++r) out.strings.push_back(p_.labels->strings[static_cast<size_t>(scores[r])]);
    } else {
      out.numbers.resize(rows);
      for (size_t r = 0; r < rows; ++r) out.numbers[r] = p_.labels->numbers[static_cast<size_t>(scores[r])];
    }
    return out;
  }

  CompiledPipeline p_;
};

// ----- Compiling a document -------------------------------------------------------------------------

enum class ColumnKind { kNumber, kString };

// A column of the frame the steps transform: named, numeric (in a workspace slot) or a string input.
struct FrameColumn {
  std::string name;
  ColumnKind kind = ColumnKind::kNumber;
  size_t slot = 0;
  StringSource source;
};

std::string Describe(const std::vector<std::string>& names) {
  constexpr size_t kShown = 12;
  if (names.size() <= kShown) return fmt::format("{}", fmt::join(names, ", "));
  return fmt::format("{}, ... ({} in all)", fmt::join(names.begin(), names.begin() + kShown, ", "), names.size());
}

class Compiler {
 public:
  // `directory` is where the estimator's file is read from; nullopt only checks the document.
  explicit Compiler(std::optional<std::filesystem::path> directory) : directory_(std::move(directory)) {}

  CompiledPipeline Compile(const json& document, PipelineOutline* outline) {
    const Fields top(document, "pipeline",
                     {"format_version", "inputs", "steps", "features", "estimator", "postprocess", "description"});
    if (top.has("format_version")) {
      const double version = top.Number("format_version");
      if (version != std::floor(version) || version < 1 || version > kPipelineFormatVersion) {
        Fail("pipeline", fmt::format("format_version {} is not one this Lathe reads (1 to {}); upgrade Lathe", version,
                                     kPipelineFormatVersion));
      }
    }
    top.OptionalString("description");
    ReadInputs(top.List("inputs"));
    if (top.has("steps")) {
      const json& steps = top.List("steps");
      for (size_t i = 0; i < steps.size(); ++i) ReadStep(steps[i], i);
    }
    ReadFeatures(top);
    ReadEstimator(top.Required("estimator"));
    if (top.has("postprocess")) ReadPostprocess(top.List("postprocess"));
    FinishMetadata();
    outline->inputs = out_.metadata.inputs;
    outline->num_features = out_.feature_slots.size();
    outline->estimator_file = estimator_file_;
    out_.num_slots = next_slot_;
    return std::move(out_);
  }

 private:
  void ReadInputs(const json& inputs) {
    if (inputs.empty()) Fail("inputs", "a pipeline needs at least one input column");
    for (size_t i = 0; i < inputs.size(); ++i) {
      const Fields input(inputs[i], fmt::format("inputs[{}]", i), {"name", "type"});
      const std::string name = input.String("name");
      const std::string type = input.String("type");
      if (name.empty()) Fail(input.where(), "'name' is empty");
      if (Find(name)) Fail(input.where(), fmt::format("column '{}' is declared twice", name));
      FrameColumn column;
      column.name = name;
      TensorSpec spec{name, DataType::kBytes, {-1}, type, true};
      if (type == "double") {
        spec.datatype = DataType::kFp64;
        column.slot = next_slot_++;
        out_.steps.push_back(std::make_unique<CopyInput>(i, column.slot));
      } else if (type == "string" || type == "datetime") {
        column.kind = ColumnKind::kString;
        column.source.input = i;
      } else {
        Fail(input.where(), fmt::format("type '{}' is not one of double, string, datetime", type));
      }
      frame_.push_back(std::move(column));
      out_.metadata.inputs.push_back(std::move(spec));
    }
  }

  FrameColumn* Find(const std::string& name) {
    auto found = std::find_if(frame_.begin(), frame_.end(), [&](const auto& column) { return column.name == name; });
    return found == frame_.end() ? nullptr : &*found;
  }

  FrameColumn& Column(const Fields& step, const std::string& name, std::optional<ColumnKind> kind = std::nullopt) {
    FrameColumn* column = Find(name);
    if (!column) Fail(step.where(), fmt::format("no column '{}' (columns here: {})", name, Describe(FrameNames())));
    if (kind && column->kind != *kind) {
      Fail(step.where(),
           fmt::format("column '{}' is {}, this step takes {}", name, KindName(column->kind), KindName(*kind)));
    }
    return *column;
  }

  static std::string_view KindName(ColumnKind kind) {
    return kind == ColumnKind::kNumber ? "numeric" : "a string column";
  }

  std::vector<std::string> FrameNames() const {
    std::vector<std::string> names;
    for (const auto& column : frame_) names.push_back(column.name);
    return names;
  }

  // Puts new numeric columns named `names` into the frame: in place of `replaced` (when the step has
  // no `output`), else at the end. Returns the first of their consecutive slots.
  size_t AddColumns(const Fields& step, const std::vector<std::string>& names, const std::string* replaced) {
    const size_t first = next_slot_;
    next_slot_ += names.size();
    std::vector<FrameColumn> added;
    for (size_t k = 0; k < names.size(); ++k)
      added.push_back(FrameColumn{names[k], ColumnKind::kNumber, first + k, {}});
    auto position = frame_.end();
    if (replaced)
      position =
          frame_.erase(std::find_if(frame_.begin(), frame_.end(), [&](const auto& c) { return c.name == *replaced; }));
    for (const auto& name : names) {
      if (Find(name)) Fail(step.where(), fmt::format("column '{}' already exists", name));
    }
    frame_.insert(position, added.begin(), added.end());
    return first;
  }

  void ReadStep(const json& document, size_t index) {
    if (!document.is_object() || !document.contains("type") || !document["type"].is_string()) {
      Fail(fmt::format("steps[{}]", index), "each step needs a string 'type'");
    }
    const std::string type = document["type"];
    const std::string where = fmt::format("steps[{}] ({})", index, type);
    if (type == "impute") return Impute(Fields(document, where, {"type", "columns", "strategy", "value", "values"}));
    if (type == "standard_scale") return StandardScale(Fields(document, where, {"type", "columns", "mean", "scale"}));
    if (type == "min_max_scale") {
      return MinMax(Fields(document, where, {"type", "columns", "data_min", "data_max", "feature_range", "clip"}));
    }
    if (type == "one_hot") {
      return OneHot(Fields(document, where, {"type", "column", "categories", "handle_unknown", "output"}));
    }
    if (type == "bucketize")
      return Bucket(Fields(document, where, {"type", "column", "boundaries", "encode", "output"}));
    if (type == "date_part") return Dates(Fields(document, where, {"type", "column", "parts", "output"}));
    Fail(where, "unknown step type (known: impute, standard_scale, min_max_scale, one_hot, bucketize, date_part)");
  }

  std::vector<std::string> Columns(const Fields& step) {
    std::vector<std::string> columns = step.Strings("columns");
    if (columns.empty()) Fail(step.where(), "'columns' is empty");
    return columns;
  }

  void Impute(const Fields& step) {
    const std::vector<std::string> columns = Columns(step);
    const std::string strategy = step.String("strategy");
    if (strategy != "mean" && strategy != "median" && strategy != "most_frequent" && strategy != "constant") {
      Fail(step.where(), fmt::format("strategy '{}' is not one of mean, median, most_frequent, constant", strategy));
    }
    if (step.has("value") == step.has("values")) {
      Fail(step.where(), "give either 'value' (for every column) or 'values' (one per column)");
    }
    if (step.has("values") && step.List("values").size() != columns.size()) {
      Fail(step.where(),
           fmt::format("'values' has {} values, one per column needs {}", step.List("values").size(), columns.size()));
    }
    for (size_t i = 0; i < columns.size(); ++i) {
      FrameColumn& column = Column(step, columns[i]);
      const json& value = step.has("value") ? step.Required("value") : step.List("values")[i];
      if (column.kind == ColumnKind::kString) {
        if (strategy == "mean" || strategy == "median") {
          Fail(step.where(),
               fmt::format("strategy '{}' needs a numeric column; '{}' is a string column", strategy, column.name));
        }
        column.source.fill = step.AsString(value, "value");
        memory_ += column.source.fill->size();
      } else {
        out_.steps.push_back(std::make_unique<FillMissing>(column.slot, step.AsNumber(value, "value")));
      }
    }
  }

  void StandardScale(const Fields& step) {
    const std::vector<std::string> columns = Columns(step);
    if (!step.has("mean") && !step.has("scale")) Fail(step.where(), "give 'mean', 'scale' or both");
    const std::vector<double> means =
        step.has("mean") ? step.Numbers("mean") : std::vector<double>(columns.size(), 0.0);
    const std::vector<double> scales =
        step.has("scale") ? step.Numbers("scale") : std::vector<double>(columns.size(), 1.0);
    RequireCount(step, "mean", means, columns.size());
    RequireCount(step, "scale", scales, columns.size());
    for (size_t i = 0; i < columns.size(); ++i) {
      if (scales[i] == 0) Fail(step.where(), fmt::format("'scale' of column '{}' is 0", columns[i]));
      const FrameColumn& column = Column(step, columns[i], ColumnKind::kNumber);
      out_.steps.push_back(std::make_unique<Standardize>(column.slot, means[i], scales[i]));
    }
  }

  void MinMax(const Fields& step) {
    const std::vector<std::string> columns = Columns(step);
    const std::vector<double> low = step.Numbers("data_min");
    const std::vector<double> high = step.Numbers("data_max");
    RequireCount(step, "data_min", low, columns.size());
    RequireCount(step, "data_max", high, columns.size());
    std::vector<double> range = {0.0, 1.0};
    if (step.has("feature_range")) range = step.Numbers("feature_range");
    if (range.size() != 2 || !(range[0] < range[1]))
      Fail(step.where(), "'feature_range' must be [low, high] with low < high");
    const bool clip = step.Bool("clip", false);
    for (size_t i = 0; i < columns.size(); ++i) {
      if (high[i] < low[i]) Fail(step.where(), fmt::format("column '{}': data_max is below data_min", columns[i]));
      const FrameColumn& column = Column(step, columns[i], ColumnKind::kNumber);
      // A constant column scales by 1, as sklearn's _handle_zeros_in_scale does.
      const double data_range = high[i] - low[i] < 10 * DBL_EPSILON ? 1.0 : high[i] - low[i];
      const double scale = (range[1] - range[0]) / data_range;
      const double offset = range[0] - low[i] * scale;
      out_.steps.push_back(std::make_unique<MinMaxScale>(
          column.slot, scale, offset, clip ? std::optional(std::pair(range[0], range[1])) : std::nullopt));
    }
  }

  void OneHot(const Fields& step) {
    const std::string name = step.String("column");
    const FrameColumn column = Column(step, name);
    const json& categories = step.List("categories");
    if (categories.empty()) Fail(step.where(), "'categories' is empty");
    const std::string handle_unknown = step.OptionalString("handle_unknown").value_or("ignore");
    if (handle_unknown != "ignore" && handle_unknown != "error") {
      Fail(step.where(), fmt::format("handle_unknown '{}' is not 'ignore' or 'error'", handle_unknown));
    }
    const std::optional<std::string> output = step.OptionalString("output");
    const std::string& base = output ? *output : name;
    OneHotLayout layout{name, 0, categories.size(), std::nullopt, handle_unknown == "error", ""};
    std::vector<std::string> names, shown;
    std::unordered_map<std::string, size_t> strings;
    std::vector<std::pair<double, size_t>> numbers;
    for (size_t k = 0; k < categories.size(); ++k) {
      const json& category = categories[k];
      std::string text;
      bool duplicate = false;
      if (category.is_null()) {
        duplicate = layout.missing.has_value();
        layout.missing = k;
        text = "null";
      } else if (column.kind == ColumnKind::kString) {
        text = step.AsString(category, "categories");
        duplicate = !strings.emplace(text, k).second;
        memory_ += text.size() + 48;
      } else {
        const double value = step.AsNumber(category, "categories");
        duplicate =
            std::any_of(numbers.begin(), numbers.end(), [&](const auto& entry) { return entry.first == value; });
        numbers.emplace_back(value, k);
        text = fmt::format("{}", value);
      }
      if (duplicate) Fail(step.where(), fmt::format("category {} is listed twice", category.dump()));
      names.push_back(fmt::format("{}={}", base, text));
      shown.push_back(category.is_string() ? fmt::format("'{}'", text) : text);
    }
    layout.known = Describe(shown);
    layout.first_slot = AddColumns(step, names, output ? nullptr : &name);
    if (column.kind == ColumnKind::kString) {
      out_.steps.push_back(std::make_unique<OneHotStrings>(column.source, std::move(strings), std::move(layout)));
    } else {
      std::sort(numbers.begin(), numbers.end());
      out_.steps.push_back(std::make_unique<OneHotNumbers>(column.slot, std::move(numbers), std::move(layout)));
    }
  }

  void Bucket(const Fields& step) {
    const std::string name = step.String("column");
    const size_t input_slot = Column(step, name, ColumnKind::kNumber).slot;
    std::vector<double> boundaries = step.Numbers("boundaries");
    if (boundaries.empty()) Fail(step.where(), "'boundaries' is empty");
    if (std::adjacent_find(boundaries.begin(), boundaries.end(), std::greater_equal<>()) != boundaries.end()) {
      Fail(step.where(), "'boundaries' must be strictly increasing");
    }
    const std::string encode = step.OptionalString("encode").value_or("ordinal");
    if (encode != "ordinal" && encode != "one_hot")
      Fail(step.where(), fmt::format("encode '{}' is not 'ordinal' or 'one_hot'", encode));
    const std::optional<std::string> output = step.OptionalString("output");
    const std::string& base = output ? *output : name;
    std::vector<std::string> names;
    if (encode == "ordinal") {
      names.push_back(base);
    } else {
      for (size_t k = 0; k <= boundaries.size(); ++k) names.push_back(fmt::format("{}={}", base, k));
    }
    memory_ += boundaries.size() * sizeof(double);
    const size_t first = AddColumns(step, names, output ? nullptr : &name);
    out_.steps.push_back(std::make_unique<Bucketize>(input_slot, std::move(boundaries), first, encode == "one_hot"));
  }

  void Dates(const Fields& step) {
    const std::string name = step.String("column");
    const StringSource source = Column(step, name, ColumnKind::kString).source;
    const std::vector<std::string> wanted = step.Strings("parts");
    if (wanted.empty()) Fail(step.where(), "'parts' is empty");
    const std::optional<std::string> output = step.OptionalString("output");
    const std::string& base = output ? *output : name;
    std::vector<DatePart> parts;
    std::vector<std::string> names;
    for (const auto& part_name : wanted) {
      auto found = std::find_if(std::begin(kDateParts), std::end(kDateParts),
                                [&](const auto& entry) { return entry.first == part_name; });
      if (found == std::end(kDateParts)) {
        Fail(step.where(),
             fmt::format("part '{}' is not one of year, month, day, hour, minute, weekday, day_of_year", part_name));
      }
      parts.push_back(found->second);
      names.push_back(fmt::format("{}.{}", base, part_name));
    }
    const size_t first = AddColumns(step, names, output ? nullptr : &name);
    out_.steps.push_back(std::make_unique<DateParts>(name, source, std::move(parts), first));
  }

  void ReadFeatures(const Fields& top) {
    std::vector<std::string> names = top.has("features") ? top.Strings("features") : FrameNames();
    if (names.empty()) Fail("features", "the estimator needs at least one feature");
    for (const auto& name : names) {
      const FrameColumn* column = Find(name);
      if (!column) Fail("features", fmt::format("no column '{}' (columns: {})", name, Describe(FrameNames())));
      if (column->kind == ColumnKind::kString) {
        Fail("features", fmt::format("column '{}' holds strings: encode it (one_hot, date_part) or leave it out of "
                                     "'features'",
                                     name));
      }
      out_.feature_slots.push_back(column->slot);
    }
    out_.feature_names = std::move(names);
  }

  void ReadEstimator(const json& document) {
    if (!document.is_object() || !document.contains("type") || !document["type"].is_string()) {
      Fail("estimator", "the estimator needs a string 'type' (linear, logistic, xgboost)");
    }
    const std::string type = document["type"];
    const std::string where = fmt::format("estimator ({})", type);
    if (type == "xgboost") {
      const Fields fields(document, where, {"type", "file", "xgb_version"});
      estimator_file_ = fields.String("file");
      const std::string version = fields.OptionalString("xgb_version").value_or("");
      out_.estimator_takes_missing = true;
      if (!directory_) return;
      auto predictor = LoadXgboostPredictor(*directory_ / estimator_file_, version);
      if (!predictor.ok()) Fail(where, predictor.status().message());
      outputs_ = (*predictor)->num_outputs();
      if ((*predictor)->num_features() != out_.feature_slots.size()) {
        Fail(where, fmt::format("the booster uses {} features, the steps produce {} ({})", (*predictor)->num_features(),
                                out_.feature_slots.size(), Describe(out_.feature_names)));
      }
      out_.estimator = std::move(*predictor);
      return;
    }
    if (type != "linear" && type != "logistic")
      Fail(where, "unknown estimator type (known: linear, logistic, xgboost)");
    const Fields fields(document, where, {"type", "coefficients", "intercept", "multi_class"});
    LinearParameters parameters;
    parameters.num_features = out_.feature_slots.size();
    const json& coefficients = fields.List("coefficients");
    const bool per_output = !coefficients.empty() && coefficients[0].is_array();
    const json single = json::array({coefficients});
    for (const json& row : per_output ? coefficients : single) {
      if (!row.is_array()) Fail(where, "'coefficients' must be a list of numbers or a list of such lists");
      if (row.size() != parameters.num_features) {
        Fail(where, fmt::format("{} coefficients per output, but the steps produce {} features ({})", row.size(),
                                parameters.num_features, Describe(out_.feature_names)));
      }
      for (const auto& value : row) parameters.weights.push_back(fields.AsNumber(value, "coefficients"));
    }
    const size_t outputs = per_output ? coefficients.size() : 1;
    if (outputs == 0) Fail(where, "'coefficients' is empty");
    if (!fields.has("intercept")) {
      parameters.intercepts.assign(outputs, 0.0);
    } else if (fields.Required("intercept").is_array()) {
      parameters.intercepts = fields.Numbers("intercept");
    } else {
      parameters.intercepts.assign(1, fields.Number("intercept"));
    }
    if (parameters.intercepts.size() != outputs) {
      Fail(where,
           fmt::format("'intercept' has {} values for {} rows of coefficients", parameters.intercepts.size(), outputs));
    }
    if (type == "linear") {
      if (fields.has("multi_class")) Fail(where, "'multi_class' applies to logistic estimators only");
    } else if (outputs == 1) {
      if (fields.has("multi_class")) Fail(where, "'multi_class' applies to more than one row of coefficients");
      parameters.link = LinearLink::kSigmoid;
    } else {
      const std::string multi_class = fields.OptionalString("multi_class").value_or("multinomial");
      if (multi_class != "multinomial" && multi_class != "ovr") {
        Fail(where, fmt::format("multi_class '{}' is not 'multinomial' or 'ovr'", multi_class));
      }
      parameters.link = multi_class == "ovr" ? LinearLink::kOneVsRest : LinearLink::kSoftmax;
    }
    auto predictor = MakeLinearPredictor(std::move(parameters));
    if (!predictor.ok()) Fail(where, predictor.status().message());
    outputs_ = outputs;
    out_.estimator = std::move(*predictor);
  }

  void ReadPostprocess(const json& steps) {
    std::optional<size_t> classes;  // set once scores became class indices: how many classes
    for (size_t i = 0; i < steps.size(); ++i) {
      const json& document = steps[i];
      if (!document.is_object() || !document.contains("type") || !document["type"].is_string()) {
        Fail(fmt::format("postprocess[{}]", i), "each step needs a string 'type'");
      }
      const std::string type = document["type"];
      const std::string where = fmt::format("postprocess[{}] ({})", i, type);
      if (out_.labels) Fail(where, "nothing may follow class_labels");
      if (classes && type != "class_labels") Fail(where, "scores are class indices here: only class_labels may follow");
      if (type == "sigmoid") {
        const Fields checked(document, where, {"type"});
        out_.post.push_back({PostKind::kSigmoid});
      } else if (type == "softmax") {
        const Fields checked(document, where, {"type"});
        if (outputs_ && *outputs_ < 2) Fail(where, "softmax needs several scores per row; the estimator gives one");
        out_.post.push_back({PostKind::kSoftmax});
      } else if (type == "clip") {
        const Fields fields(document, where, {"type", "min", "max"});
        PostStep step{PostKind::kClip};
        step.low = fields.OptionalNumber("min").value_or(-INFINITY);
        step.high = fields.OptionalNumber("max").value_or(INFINITY);
        if (!fields.has("min") && !fields.has("max")) Fail(where, "give 'min', 'max' or both");
        if (!(step.low <= step.high)) Fail(where, "'min' is above 'max'");
        out_.post.push_back(step);
      } else if (type == "threshold") {
        const Fields fields(document, where, {"type", "threshold", "probabilities"});
        if (outputs_ && *outputs_ != 1) {
          Fail(where, fmt::format("threshold needs one score per row; the estimator gives {} (use argmax)", *outputs_));
        }
        PostStep step{PostKind::kThreshold};
        step.threshold = fields.OptionalNumber("threshold").value_or(0.5);
        step.emit_probabilities = fields.Bool("probabilities", true);
        out_.post.push_back(step);
        classes = 2;
      } else if (type == "argmax") {
        const Fields fields(document, where, {"type", "probabilities"});
        if (outputs_ && *outputs_ < 2)
          Fail(where, "argmax needs several scores per row; the estimator gives one (use threshold)");
        PostStep step{PostKind::kArgmax};
        step.emit_probabilities = fields.Bool("probabilities", true);
        out_.post.push_back(step);
        classes = outputs_.value_or(0);
      } else if (type == "class_labels") {
        const Fields fields(document, where, {"type", "labels"});
        if (!classes) Fail(where, "class_labels maps class indices: put threshold or argmax before it");
        ReadLabels(fields, *classes);
      } else {
        Fail(where, "unknown postprocess type (known: sigmoid, softmax, clip, threshold, argmax, class_labels)");
      }
    }
    predicts_classes_ = classes.has_value();
  }

  void ReadLabels(const Fields& fields, size_t classes) {
    const json& labels = fields.List("labels");
    if (labels.empty()) Fail(fields.where(), "'labels' is empty");
    ClassLabels mapped;
    if (labels[0].is_string()) {
      mapped.strings = fields.Strings("labels");
      for (const auto& label : mapped.strings) memory_ += label.size() + 32;
    } else {
      mapped.numbers = fields.Numbers("labels");
    }
    if (classes != 0 && labels.size() != classes) {
      Fail(fields.where(), fmt::format("{} labels for {} classes", labels.size(), classes));
    }
    out_.labels = std::move(mapped);
  }

  void FinishMetadata() {
    ModelMetadata& metadata = out_.metadata;
    metadata.flavor = "lathe";
    metadata.input_mode = InputMode::kColumns;
    metadata.evaluator = out_.estimator ? std::string(out_.estimator->evaluator()) : std::string();
    metadata.concurrent_predicts = metadata.evaluator != "xgboost-c-api";
    TensorSpec predictions{"predictions", DataType::kFp64, {-1}, "float64", true};
    const bool all_integers =
        out_.labels && std::all_of(out_.labels->numbers.begin(), out_.labels->numbers.end(),
                                   [](double v) { return v == std::floor(v) && std::abs(v) < 9007199254740992.0; });
    if (out_.labels && out_.labels->is_strings()) {
      predictions.datatype = DataType::kBytes;
      predictions.source_type = "str";
    } else if (predicts_classes_ && (!out_.labels || all_integers)) {
      predictions.datatype = DataType::kInt64;
      predictions.source_type = "int64";
    } else if (!predicts_classes_ && outputs_ && *outputs_ > 1) {
      predictions.shape = {-1, static_cast<int64_t>(*outputs_)};
    }
    metadata.outputs.push_back(std::move(predictions));
    const auto probabilities =
        std::find_if(out_.post.begin(), out_.post.end(), [](const PostStep& step) { return step.emit_probabilities; });
    if (probabilities != out_.post.end()) {
      int64_t columns = 2;  // threshold: [1 - p, p], as predict_proba
      if (probabilities->kind == PostKind::kArgmax) columns = outputs_ ? static_cast<int64_t>(*outputs_) : -1;
      metadata.outputs.push_back({"probabilities", DataType::kFp64, {-1, columns}, "float64", true});
    }
    memory_ += sizeof(PipelineModel) + out_.steps.size() * 64 + out_.feature_names.size() * 48;
    if (out_.estimator) memory_ += out_.estimator->memory_bytes();
    metadata.memory_bytes = memory_;
  }

  std::optional<std::filesystem::path> directory_;
  CompiledPipeline out_;
  std::vector<FrameColumn> frame_;
  size_t next_slot_ = 0;
  std::optional<size_t> outputs_;  // scores per row from the estimator, once known
  bool predicts_classes_ = false;
  std::string estimator_file_;
  uint64_t memory_ = 0;
};

Result<CompiledPipeline> Compile(const json& document, std::optional<std::filesystem::path> directory,
                                 PipelineOutline* outline) {
  try {
    return Compiler(std::move(directory)).Compile(document, outline);
  } catch (const SpecError& error) {
    return Status::InvalidParameter(error.message);
  }
}

}  // namespace

Result<PipelineOutline> CheckPipeline(const nlohmann::json& document) {
  PipelineOutline outline;
  LATHE_ASSIGN_OR_RETURN(CompiledPipeline unused, Compile(document, std::nullopt, &outline));
  return outline;
}

Result<std::unique_ptr<Model>> MakePipelineModel(const nlohmann::json& document, const std::filesystem::path& directory,
                                                 std::string model_uuid) {
  PipelineOutline outline;
  LATHE_ASSIGN_OR_RETURN(CompiledPipeline pipeline, Compile(document, directory, &outline));
  pipeline.metadata.model_uuid = std::move(model_uuid);
  return std::unique_ptr<Model>(new PipelineModel(std::move(pipeline)));
}

Result<std::unique_ptr<Model>> LoadLatheModel(const MlModel& manifest) {
  const std::string manifest_path = (manifest.directory / "MLmodel").string();
  const auto flavor = manifest.flavors.find("lathe");
  if (flavor == manifest.flavors.end() || !flavor->is_object() || !flavor->contains("pipeline") ||
      !(*flavor)["pipeline"].is_string()) {
    return Status::InvalidParameter(fmt::format("{}: the lathe flavor names no pipeline file", manifest_path));
  }
  const auto path = manifest.directory / (*flavor)["pipeline"].get<std::string>();
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status::InvalidParameter(fmt::format("{}: cannot read the pipeline file", path.string()));
  std::stringstream text;
  text << file.rdbuf();
  const json document = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded()) return Status::InvalidParameter(fmt::format("{}: not valid JSON", path.string()));
  auto model = MakePipelineModel(document, manifest.directory, manifest.model_uuid);
  if (!model.ok()) return Status::InvalidParameter(fmt::format("{}: {}", path.string(), model.status().message()));

  // The signature is written from the pipeline; one edited by hand must still describe it.
  const Signature& signature = manifest.signature;
  if (signature.has_inputs) {
    const auto& inputs = (*model)->metadata().inputs;
    const bool same =
        signature.input_mode == InputMode::kColumns && signature.inputs.size() == inputs.size() &&
        std::equal(inputs.begin(), inputs.end(), signature.inputs.begin(),
                   [](const auto& a, const auto& b) { return a.name == b.name && a.datatype == b.datatype; });
    if (!same) {
      std::vector<std::string> names;
      for (const auto& spec : inputs) names.push_back(fmt::format("{} {}", spec.name, spec.source_type));
      return Status::InvalidParameter(fmt::format("{}: the signature's inputs differ from the pipeline's columns ({})",
                                                  manifest_path, Describe(names)));
    }
  }
  return model;
}

}  // namespace lathe::models
