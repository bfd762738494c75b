// One served request as the prediction log records it. Header-only so that the serving layer can
// hand events over without linking the monitoring module.
//
// The values are held flat (one buffer of numbers, one of string bytes) under a shared, immutable
// column layout: building an event on the request path costs a few allocations rather than three
// per tensor, and the writer thread, which frees the event, frees few blocks of another thread's
// allocator cache.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "models/tensor.h"

namespace lathe::monitoring {

class PredictionEvent {
 public:
  // One tensor of the event.
  struct Column {
    std::string name;
    models::DataType datatype = models::DataType::kFp64;
    bool output = false;
    int64_t rows = 0;          // shape[0]
    int64_t width = 1;         // elements per row
    size_t count = 0;          // elements the tensor held (rows x width when well formed)
    bool nulls_match = true;   // false when the tensor's null flags were not one per string
    size_t offset = 0;         // of its first element in the event's numbers, or strings for BYTES

    bool is_bytes() const { return datatype == models::DataType::kBytes; }
  };
  // The columns of a run of events. A deployment's requests have the same columns one after the
  // other, so a layout is made once and shared while they match.
  struct Layout {
    std::shared_ptr<const Layout> parent;  // the layout this one extends by one AddInputs/AddOutputs
    std::vector<Column> columns;           // in the order they were added
    size_t numbers = 0, strings = 0;       // elements of all its columns
  };

  std::string deployment;
  std::string model;  // the registered model name, or the model URI when unregistered
  std::string model_version;
  std::string request_id;
  int64_t timestamp_ms = 0;  // when the request arrived, Unix epoch milliseconds
  double latency_ms = 0;
  std::vector<std::string> prediction_ids;  // one per row

  // Copy the tensors' values in, as the model's named inputs (after any feature fetch) or its
  // outputs. The tensors are not checked here: PredictionLog::Append refuses malformed ones.
  void AddInputs(const std::vector<models::Tensor>& tensors) { Add(tensors, false); }
  void AddOutputs(const std::vector<models::Tensor>& tensors) { Add(tensors, true); }

  const std::vector<Column>& columns() const { return layout_ ? layout_->columns : NoColumns(); }
  // The layout's identity: events with the same one have the same columns.
  const Layout* layout() const { return layout_.get(); }
  // Element `index` (row-major) of the column.
  double number(const Column& column, size_t index) const { return numbers_[column.offset + index]; }
  std::string_view string(const Column& column, size_t index) const {
    const size_t i = column.offset + index;
    const size_t begin = i == 0 ? 0 : string_ends_[i - 1];
    return std::string_view(chars_).substr(begin, string_ends_[i] - begin);
  }
  bool is_null(const Column& column, size_t index) const {
    return !nulls_.empty() && nulls_[column.offset + index] != 0;
  }

 private:
  static const std::vector<Column>& NoColumns() {
    static const std::vector<Column> none;
    return none;
  }

  // This thread's recent layouts: a server thread serves several deployments, each with a layout
  // or two (its inputs, then its inputs and outputs).
  struct RecentLayouts {
    std::array<std::shared_ptr<const Layout>, 8> layouts;
    size_t next = 0;  // the slot replaced next
  };
  static RecentLayouts& Recent() {
    thread_local RecentLayouts recent;
    return recent;
  }

  static bool NullsMatch(const models::Tensor& tensor) {
    return tensor.nulls.empty() || tensor.nulls.size() == tensor.strings.size();
  }

  static bool Matches(const Column& column, const models::Tensor& tensor, bool output) {
    return column.output == output && column.datatype == tensor.datatype && column.rows == tensor.rows() &&
           column.width == tensor.width() && column.count == tensor.element_count() &&
           column.nulls_match == NullsMatch(tensor) && column.name == tensor.name;
  }

  // The layout extending the current one by `tensors`: a recent one of this thread when one
  // matches (names, types and sizes), else a new one.
  std::shared_ptr<const Layout> Extend(const std::vector<models::Tensor>& tensors, bool output) const {
    RecentLayouts& recent = Recent();
    const size_t base = layout_ ? layout_->columns.size() : 0;
    for (const auto& candidate : recent.layouts) {
      if (!candidate || candidate->parent != layout_ || candidate->columns.size() != base + tensors.size()) continue;
      if (std::equal(tensors.begin(), tensors.end(), candidate->columns.begin() + static_cast<std::ptrdiff_t>(base),
                     [&](const models::Tensor& tensor, const Column& column) { return Matches(column, tensor, output); })) {
        return candidate;
      }
    }
    auto made = std::make_shared<Layout>();
    made->parent = layout_;
    if (layout_) {
      made->columns = layout_->columns;
      made->numbers = layout_->numbers;
      made->strings = layout_->strings;
    }
    for (const models::Tensor& tensor : tensors) {
      Column column{tensor.name,   tensor.datatype,         output,           tensor.rows(),
                    tensor.width(), tensor.element_count(), NullsMatch(tensor), 0};
      size_t& elements = column.is_bytes() ? made->strings : made->numbers;
      column.offset = elements;
      elements += column.count;
      made->columns.push_back(std::move(column));
    }
    recent.layouts[recent.next] = made;
    recent.next = (recent.next + 1) % recent.layouts.size();
    return made;
  }

  void Add(const std::vector<models::Tensor>& tensors, bool output) {
    layout_ = Extend(tensors, output);
    // Room for what the layout extending this one held last time too (the outputs, after the
    // inputs): one allocation per buffer.
    size_t numbers = layout_->numbers, strings = layout_->strings;
    for (const auto& next : Recent().layouts) {
      if (next && next->parent == layout_) {
        numbers = std::max(numbers, next->numbers);
        strings = std::max(strings, next->strings);
      }
    }
    numbers_.reserve(numbers);
    string_ends_.reserve(strings);
    for (const models::Tensor& tensor : tensors) {
      if (!tensor.is_bytes()) {
        numbers_.insert(numbers_.end(), tensor.numbers.begin(), tensor.numbers.end());
        continue;
      }
      // Flags from the first tensor with any on: the strings before it are not null.
      const bool flags = !nulls_.empty() || !tensor.nulls.empty();
      if (flags) nulls_.resize(string_ends_.size());
      for (size_t i = 0; i < tensor.strings.size(); ++i) {
        chars_ += tensor.strings[i];
        string_ends_.push_back(chars_.size());
        if (flags) nulls_.push_back(i < tensor.nulls.size() && tensor.nulls[i] != 0 ? 1 : 0);
      }
    }
  }

  std::shared_ptr<const Layout> layout_;
  std::vector<double> numbers_;      // the numeric columns' elements, column after column
  std::string chars_;                // the BYTES columns' strings, end to end
  std::vector<size_t> string_ends_;  // where each string ends in chars_
  std::vector<uint8_t> nulls_;       // per string, 1 = null; empty when none is
};

}  // namespace lathe::monitoring
