// MLflow's validation rules, with its messages.
#include "tracking/validation.h"

#include <cctype>
#include <vector>

#include <fmt/format.h>

namespace lathe::tracking {
namespace {

bool IsNameCharacter(unsigned char c) {
  // Python's \w in a str regex also admits non-ASCII letters: accept UTF-8 continuation bytes.
  return std::isalnum(c) || c == '_' || c == '/' || c == '.' || c == '-' || c == ' ' || c >= 0x80;
}

// posixpath.normpath, enough to tell whether a name would resolve to another name as a path.
std::string NormalizePath(std::string_view name) {
  if (name.empty()) return ".";
  bool absolute = name.front() == '/';
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    std::string_view part = name.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
    if (part.empty() || part == ".") {
    } else if (part == ".." && !parts.empty() && parts.back() != "..") {
      parts.pop_back();
    } else if (part == ".." && absolute) {
    } else {
      parts.push_back(part);
    }
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  std::string out = absolute ? "/" : "";
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out.empty() ? "." : out;
}

}  // namespace

Status ValidateKeyName(std::string_view kind, std::string_view key) {
  if (key.empty()) {
    return Status::InvalidParameter(fmt::format("Invalid {} name: ''. A key name must be provided.", kind));
  }
  for (unsigned char c : key) {
    if (!IsNameCharacter(c)) {
      return Status::InvalidParameter(fmt::format(
          "Invalid {} name: '{}'. Names may only contain alphanumerics, underscores (_), dashes (-), periods (.), "
          "spaces ( ), and slashes (/).",
          kind, key));
    }
  }
  // Only a '/' or a name made of dots can normalise to something else; skip the work otherwise.
  bool path_like = key.find('/') != std::string_view::npos || key == "." || key == "..";
  std::string normalized = path_like ? NormalizePath(key) : std::string(key);
  if (normalized != key || normalized == "." || normalized.starts_with("..") || normalized.starts_with("/")) {
    return Status::InvalidParameter(fmt::format(
        "Invalid {} name: '{}'. Names may be treated as files in certain cases, and must not resolve to other names "
        "when treated as such. This name would resolve to '{}'",
        kind, key, normalized));
  }
  std::string entity = kind == "metric" ? "Metric name" : kind == "param" ? "Param key" : "Tag key";
  return ValidateLength(entity, key, kMaxEntityKeyLength);
}

Status ValidateLength(std::string_view entity, std::string_view value, size_t limit) {
  if (value.size() <= limit) return Status::Ok();
  return Status::InvalidParameter(fmt::format("{} '{}' had length {}, which exceeded length limit of {}", entity,
                                              value.substr(0, 250), value.size(), limit));
}

Status ValidateExperimentName(std::string_view name) {
  if (name.empty()) return Status::InvalidParameter("Invalid experiment name: ''");
  return ValidateLength("Experiment name", name, kMaxExperimentNameLength);
}

Status ValidateBatchLimit(std::string_view entity, size_t count, size_t limit) {
  if (count <= limit) return Status::Ok();
  return Status::InvalidParameter(fmt::format(
      "A batch logging request can contain at most {} {}. Got {} {}. Please split up {} across multiple requests "
      "and try again.",
      limit, entity, count, entity, entity));
}

Result<storage::Tag> ParseTag(const RequestParams& item, size_t value_limit) {
  LATHE_ASSIGN_OR_RETURN(auto key, item.RequiredString("key"));
  LATHE_RETURN_IF_ERROR(ValidateKeyName("tag", key));
  LATHE_ASSIGN_OR_RETURN(auto value, item.String("value"));
  if (!value) return Status::InvalidParameter(RequestParams::MissingMessage("value"));
  LATHE_RETURN_IF_ERROR(ValidateLength("Tag value", *value, value_limit));
  return storage::Tag{std::move(key), std::move(*value)};
}

Result<std::vector<storage::Tag>> ParseTagList(const RequestParams& params, std::string_view field,
                                               size_t value_limit) {
  LATHE_ASSIGN_OR_RETURN(auto items, params.ObjectList(field));
  std::vector<storage::Tag> tags;
  tags.reserve(items.size());
  for (const auto& item : items) {
    LATHE_ASSIGN_OR_RETURN(auto tag, ParseTag(item, value_limit));
    tags.push_back(std::move(tag));
  }
  return tags;
}

}  // namespace lathe::tracking
