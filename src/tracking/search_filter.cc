// A tokenizer and recursive-descent parser for MLflow's filter and order_by grammar, with a table
// per searched object saying which entities, attributes and comparators it admits.
#include "core/json_dump.h"
#include "tracking/search_filter.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace lathe::tracking {
namespace {

using storage::Comparator;
using storage::Entity;
using storage::FilterClause;
using storage::OrderClause;

constexpr size_t kMaxFilterLength = 10000;
constexpr size_t kMaxClauses = 100;
constexpr size_t kMaxOrderByClauses = 10;

// What one kind of search accepts.
struct Grammar {
  std::string_view object;                     // "runs", "experiments", ... for messages
  std::set<Entity> entities;                   // besides attributes
  std::set<std::string> string_attributes;     // searchable, compared as text
  std::set<std::string> numeric_attributes;    // searchable, compared as numbers
  std::set<std::string> list_attributes;       // admit IN / NOT IN
  std::set<std::string> orderable_attributes;
  std::map<std::string, std::string> attribute_aliases;  // e.g. created -> start_time
  std::set<Comparator> string_attribute_comparators;
  bool orders_by_entities = false;  // whether order_by may name metrics, params and tags
};

const std::set<Comparator> kNumericComparators = {Comparator::kEq, Comparator::kNe, Comparator::kLt,
                                                  Comparator::kLe, Comparator::kGt, Comparator::kGe};
const std::set<Comparator> kTextComparators = {Comparator::kEq, Comparator::kNe, Comparator::kLike,
                                               Comparator::kILike};

const Grammar& RunGrammar() {
  static const Grammar grammar{
      "runs",
      {Entity::kMetric, Entity::kParam, Entity::kTag, Entity::kDataset},
      {"run_id", "run_name", "user_id", "status", "artifact_uri"},
      {"start_time", "end_time"},
      {"run_id", "run_name", "user_id", "status", "artifact_uri"},
      {"run_id", "run_name", "user_id", "status", "artifact_uri", "start_time", "end_time", "experiment_id",
       "lifecycle_stage"},
      {{"created", "start_time"}, {"Created", "start_time"}, {"run name", "run_name"}, {"Run name", "run_name"},
       {"Run Name", "run_name"}},
      {Comparator::kEq, Comparator::kNe, Comparator::kLike, Comparator::kILike, Comparator::kIn, Comparator::kNotIn},
      /*orders_by_entities=*/true,
  };
  return grammar;
}

const Grammar& ExperimentGrammar() {
  static const Grammar grammar{
      "experiments",
      {Entity::kTag},
      {"name"},
      {"creation_time", "last_update_time"},
      {},
      {"name", "experiment_id", "creation_time", "last_update_time"},
      {},
      kTextComparators,
  };
  return grammar;
}

const Grammar& RegisteredModelGrammar() {
  static const Grammar grammar{
      "registered models",
      {Entity::kTag},
      {"name"},
      {},
      {},
      {"name", "creation_timestamp", "last_updated_timestamp"},
      {{"timestamp", "creation_timestamp"}},
      kTextComparators,
  };
  return grammar;
}

const Grammar& ModelVersionGrammar() {
  static const Grammar grammar{
      "model versions",
      {Entity::kTag},
      {"name", "run_id", "source_path"},
      {"version_number"},
      {"run_id", "name", "source_path"},
      {"name", "version_number", "creation_timestamp", "last_updated_timestamp"},
      {{"timestamp", "creation_timestamp"}},
      {Comparator::kEq, Comparator::kNe, Comparator::kLike, Comparator::kILike, Comparator::kIn},
  };
  return grammar;
}

std::string Lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

std::string ComparatorList(const std::set<Comparator>& comparators) {
  std::string out;
  for (Comparator comparator : comparators) {
    if (!out.empty()) out += ", ";
    out += storage::ComparatorSymbol(comparator);
  }
  return "{" + out + "}";
}

std::string_view EntityName(Entity entity) {
  switch (entity) {
    case Entity::kMetric: return "metric";
    case Entity::kParam: return "parameter";
    case Entity::kTag: return "tag";
    case Entity::kAttribute: return "attribute";
    case Entity::kDataset: return "dataset";
  }
  return "?";
}

std::optional<Entity> EntityFromPrefix(std::string_view prefix) {
  std::string word = Lower(prefix);
  if (word == "metric" || word == "metrics") return Entity::kMetric;
  if (word == "param" || word == "params" || word == "parameter" || word == "parameters") return Entity::kParam;
  if (word == "tag" || word == "tags") return Entity::kTag;
  if (word == "attribute" || word == "attributes" || word == "attr" || word == "run") return Entity::kAttribute;
  if (word == "dataset" || word == "datasets") return Entity::kDataset;
  return std::nullopt;
}

Status Invalid(std::string message) { return Status::InvalidParameter(std::move(message)); }

// Reads the filter text left to right; every method checks bounds before reading.
class Parser {
 public:
  Parser(std::string_view text, const Grammar& grammar) : text_(text), grammar_(grammar) {}

  Result<std::vector<FilterClause>> ParseFilter() {
    std::vector<FilterClause> clauses;
    SkipSpace();
    if (AtEnd()) return clauses;
    for (;;) {
      if (clauses.size() >= kMaxClauses) return Invalid(fmt::format("A filter may have at most {} clauses", kMaxClauses));
      LATHE_ASSIGN_OR_RETURN(auto clause, ParseClause());
      clauses.push_back(std::move(clause));
      SkipSpace();
      if (AtEnd()) return clauses;
      std::string word = Lower(PeekWord());
      if (word == "and") {
        pos_ += 3;
        SkipSpace();
        if (AtEnd()) return Invalid(fmt::format("Invalid filter '{}': it ends with AND", text_));
        continue;
      }
      if (word == "or") {
        return Invalid(fmt::format("Invalid filter '{}': OR is not supported, only AND", text_));
      }
      return Invalid(fmt::format("Invalid filter '{}': expected AND or the end of the filter at position {}, found '{}'",
                                 text_, pos_, Rest(20)));
    }
  }

  Result<OrderClause> ParseOrderBy() {
    SkipSpace();
    LATHE_ASSIGN_OR_RETURN(auto identifier, ParseIdentifier());
    OrderClause clause{identifier.first, identifier.second, true};
    SkipSpace();
    if (!AtEnd()) {
      std::string direction = Lower(PeekWord());
      if (direction == "asc" || direction == "desc") {
        clause.ascending = direction == "asc";
        pos_ += direction.size();
        SkipSpace();
      }
    }
    if (!AtEnd()) {
      return Invalid(fmt::format("Invalid order_by clause '{}'. Could not be parsed: expected `<key> [ASC|DESC]`.", text_));
    }
    if (clause.entity == Entity::kAttribute) {
      if (!grammar_.orderable_attributes.contains(clause.key)) {
        return Invalid(fmt::format("Invalid order_by key '{}' for {}. Valid attribute keys are {}", clause.key,
                                   grammar_.object, DumpJson(nlohmann::json(grammar_.orderable_attributes))));
      }
    } else if (!grammar_.orders_by_entities || !grammar_.entities.contains(clause.entity) ||
               clause.entity == Entity::kDataset) {
      return Invalid(fmt::format("Invalid order_by entity '{}' for {}", EntityName(clause.entity), grammar_.object));
    }
    return clause;
  }

 private:
  bool AtEnd() const { return pos_ >= text_.size(); }
  char Peek() const { return AtEnd() ? '\0' : text_[pos_]; }
  std::string_view Rest(size_t n) const { return text_.substr(std::min(pos_, text_.size()), n); }
  void SkipSpace() {
    while (!AtEnd() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  static bool IsWordChar(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/' || c == ':' ||
           static_cast<unsigned char>(c) >= 0x80;
  }
  std::string_view PeekWord() const {
    size_t end = pos_;
    while (end < text_.size() && std::isalpha(static_cast<unsigned char>(text_[end]))) ++end;
    return text_.substr(pos_, end - pos_);
  }

  // A quoted run of characters: 'x', "x" or `x`, without escapes (as in MLflow).
  Result<std::string> ParseQuoted() {
    char quote = Peek();
    size_t close = text_.find(quote, pos_ + 1);
    if (close == std::string_view::npos) {
      return Invalid(fmt::format("Invalid filter '{}': unterminated quote starting at position {}", text_, pos_));
    }
    std::string value(text_.substr(pos_ + 1, close - pos_ - 1));
    pos_ = close + 1;
    return value;
  }

  Result<std::string> ParseKeyPart() {
    char c = Peek();
    if (c == '`' || c == '"' || c == '\'') return ParseQuoted();
    size_t start = pos_;
    while (!AtEnd() && (IsWordChar(Peek()) || Peek() == '.')) ++pos_;
    if (pos_ == start) {
      return Invalid(fmt::format("Invalid filter '{}': expected an identifier at position {}, found '{}'", text_, start,
                                 Rest(20)));
    }
    return std::string(text_.substr(start, pos_ - start));
  }

  // entity.key, or a bare attribute name.
  Result<std::pair<Entity, std::string>> ParseIdentifier() {
    size_t start = pos_;
    std::string prefix;
    if (Peek() == '`' || Peek() == '"') {
      LATHE_ASSIGN_OR_RETURN(prefix, ParseQuoted());
    } else {
      while (!AtEnd() && IsWordChar(Peek())) ++pos_;
      prefix = std::string(text_.substr(start, pos_ - start));
    }
    if (prefix.empty()) {
      return Invalid(fmt::format("Invalid filter '{}': expected an identifier at position {}, found '{}'", text_, start,
                                 Rest(20)));
    }
    Entity entity = Entity::kAttribute;
    std::string key;
    if (Peek() == '.') {
      auto parsed = EntityFromPrefix(prefix);
      if (!parsed) {
        return Invalid(fmt::format(
            "Invalid entity type '{}'. Valid values are ['metric', 'parameter', 'tag', 'attribute', 'dataset']", prefix));
      }
      entity = *parsed;
      ++pos_;
      LATHE_ASSIGN_OR_RETURN(key, ParseKeyPart());
    } else {
      key = prefix;
    }
    if (key.empty()) return Invalid(fmt::format("Invalid filter '{}': empty key", text_));
    if (entity == Entity::kAttribute) {
      if (auto alias = grammar_.attribute_aliases.find(key); alias != grammar_.attribute_aliases.end()) {
        key = alias->second;
      }
    } else if (!grammar_.entities.contains(entity)) {
      return Invalid(fmt::format("Invalid entity type '{}' for searching {}", EntityName(entity), grammar_.object));
    }
    return std::make_pair(entity, key);
  }

  Result<Comparator> ParseComparator() {
    SkipSpace();
    auto symbol = [&](std::string_view token, Comparator comparator) -> std::optional<Comparator> {
      if (text_.substr(pos_, token.size()) == token) {
        pos_ += token.size();
        return comparator;
      }
      return std::nullopt;
    };
    for (auto [token, comparator] : {std::pair<std::string_view, Comparator>{"!=", Comparator::kNe},
                                     {"<>", Comparator::kNe},
                                     {"<=", Comparator::kLe},
                                     {">=", Comparator::kGe},
                                     {"==", Comparator::kEq},
                                     {"=", Comparator::kEq},
                                     {"<", Comparator::kLt},
                                     {">", Comparator::kGt}}) {
      if (auto found = symbol(token, comparator)) return *found;
    }
    std::string word = Lower(PeekWord());
    if (word == "like" || word == "ilike" || word == "in") {
      pos_ += word.size();
      return word == "like" ? Comparator::kLike : word == "ilike" ? Comparator::kILike : Comparator::kIn;
    }
    if (word == "not") {
      pos_ += 3;
      SkipSpace();
      if (Lower(PeekWord()) == "in") {
        pos_ += 2;
        return Comparator::kNotIn;
      }
    }
    return Invalid(fmt::format("Invalid comparator in filter '{}' at position {}: found '{}'", text_, pos_, Rest(20)));
  }

  Result<double> ParseNumber(std::string_view what) {
    SkipSpace();
    size_t start = pos_;
    while (!AtEnd() && (std::isalnum(static_cast<unsigned char>(Peek())) || Peek() == '.' || Peek() == '-' ||
                        Peek() == '+')) {
      ++pos_;
    }
    std::string_view token = text_.substr(start, pos_ - start);
    double value = 0;
    auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), value);
    if (token.empty() || error != std::errc() || end != token.data() + token.size()) {
      std::string found = token.empty() ? std::string(Rest(20)) : std::string(token);
      return Invalid(fmt::format("Expected numeric value type for {}. Found {}", what, found));
    }
    return value;
  }

  Result<std::string> ParseString(std::string_view what) {
    SkipSpace();
    if (Peek() != '\'' && Peek() != '"') {
      return Invalid(fmt::format("Expected a quoted string value for {} (e.g. 'my-value'). Got value {}", what,
                                 Rest(30)));
    }
    return ParseQuoted();
  }

  Result<std::vector<std::string>> ParseList(std::string_view what) {
    SkipSpace();
    if (Peek() != '(') {
      return Invalid(fmt::format("Expected a parenthesised list of quoted strings for {} after IN", what));
    }
    ++pos_;
    std::vector<std::string> values;
    for (;;) {
      SkipSpace();
      LATHE_ASSIGN_OR_RETURN(auto value, ParseString(what));
      values.push_back(std::move(value));
      if (values.size() > 10000) return Invalid("An IN list may have at most 10000 values");
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ')') {
        ++pos_;
        return values;
      }
      return Invalid(fmt::format("Invalid filter '{}': expected ',' or ')' in the IN list at position {}", text_, pos_));
    }
  }

  Result<FilterClause> ParseClause() {
    LATHE_ASSIGN_OR_RETURN(auto identifier, ParseIdentifier());
    FilterClause clause;
    clause.entity = identifier.first;
    clause.key = identifier.second;
    LATHE_ASSIGN_OR_RETURN(clause.comparator, ParseComparator());
    bool is_list = clause.comparator == Comparator::kIn || clause.comparator == Comparator::kNotIn;
    auto check = [&](const std::set<Comparator>& allowed, std::string_view what) -> Status {
      if (!allowed.contains(clause.comparator)) {
        return Invalid(fmt::format("Invalid comparator '{}' not one of '{}' for {}", storage::ComparatorSymbol(clause.comparator),
                                   ComparatorList(allowed), what));
      }
      return Status::Ok();
    };
    switch (clause.entity) {
      case Entity::kMetric: {
        LATHE_RETURN_IF_ERROR(check(kNumericComparators, "metrics"));
        LATHE_ASSIGN_OR_RETURN(clause.value, ParseNumber("metric"));
        break;
      }
      case Entity::kParam:
      case Entity::kTag: {
        LATHE_RETURN_IF_ERROR(check(kTextComparators, clause.entity == Entity::kParam ? "params" : "tags"));
        LATHE_ASSIGN_OR_RETURN(clause.value, ParseString(EntityName(clause.entity)));
        break;
      }
      case Entity::kDataset: {
        static const std::set<std::string> kDatasetKeys = {"name", "digest", "context"};
        if (!kDatasetKeys.contains(clause.key)) {
          return Invalid(fmt::format("Invalid dataset key '{}' specified. Valid keys are '{{'name', 'digest', 'context'}}'",
                                     clause.key));
        }
        LATHE_RETURN_IF_ERROR(check({Comparator::kEq, Comparator::kNe, Comparator::kLike, Comparator::kILike,
                                     Comparator::kIn, Comparator::kNotIn},
                                    "datasets"));
        if (is_list) {
          LATHE_ASSIGN_OR_RETURN(clause.value, ParseList("dataset attributes"));
        } else {
          LATHE_ASSIGN_OR_RETURN(clause.value, ParseString("dataset attributes"));
        }
        break;
      }
      case Entity::kAttribute: {
        if (grammar_.numeric_attributes.contains(clause.key)) {
          LATHE_RETURN_IF_ERROR(check(kNumericComparators, "numeric attribute '" + clause.key + "'"));
          LATHE_ASSIGN_OR_RETURN(clause.value, ParseNumber("numeric attribute: " + clause.key));
        } else if (grammar_.string_attributes.contains(clause.key)) {
          LATHE_RETURN_IF_ERROR(check(grammar_.string_attribute_comparators, "attribute '" + clause.key + "'"));
          if (is_list) {
            if (!grammar_.list_attributes.contains(clause.key)) {
              return Invalid(fmt::format("The attribute '{}' does not support comparison with a list of values.",
                                         clause.key));
            }
            LATHE_ASSIGN_OR_RETURN(clause.value, ParseList("attribute '" + clause.key + "'"));
          } else {
            LATHE_ASSIGN_OR_RETURN(clause.value, ParseString("attributes"));
          }
        } else {
          std::set<std::string> valid = grammar_.string_attributes;
          valid.insert(grammar_.numeric_attributes.begin(), grammar_.numeric_attributes.end());
          return Invalid(fmt::format("Invalid attribute key '{}' specified. Valid keys are '{}'", clause.key,
                                     DumpJson(nlohmann::json(valid))));
        }
        break;
      }
    }
    return clause;
  }

  std::string_view text_;
  const Grammar& grammar_;
  size_t pos_ = 0;
};

Result<std::vector<FilterClause>> Parse(std::string_view filter, const Grammar& grammar) {
  if (filter.size() > kMaxFilterLength) {
    return Invalid(fmt::format("The filter is {} characters long; at most {} are allowed", filter.size(), kMaxFilterLength));
  }
  return Parser(filter, grammar).ParseFilter();
}

Result<OrderClause> ParseOrder(std::string_view order_by, const Grammar& grammar) {
  if (order_by.size() > kMaxFilterLength) return Invalid("The order_by clause is too long");
  if (order_by.find_first_not_of(" \t\r\n") == std::string_view::npos) {
    return Invalid("Invalid order_by clause ''. An order_by clause needs a key.");
  }
  return Parser(order_by, grammar).ParseOrderBy();
}

constexpr std::string_view kBase64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string Base64Encode(std::string_view input) {
  std::string out;
  size_t i = 0;
  while (i + 2 < input.size()) {
    uint32_t n = (uint8_t(input[i]) << 16) | (uint8_t(input[i + 1]) << 8) | uint8_t(input[i + 2]);
    for (int shift : {18, 12, 6, 0}) out.push_back(kBase64Alphabet[(n >> shift) & 63]);
    i += 3;
  }
  size_t rest = input.size() - i;
  if (rest > 0) {
    uint32_t n = uint8_t(input[i]) << 16;
    if (rest == 2) n |= uint8_t(input[i + 1]) << 8;
    out.push_back(kBase64Alphabet[(n >> 18) & 63]);
    out.push_back(kBase64Alphabet[(n >> 12) & 63]);
    out.push_back(rest == 2 ? kBase64Alphabet[(n >> 6) & 63] : '=');
    out.push_back('=');
  }
  return out;
}

std::optional<std::string> Base64Decode(std::string_view input) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  size_t padding = 0;
  for (char c : input) {
    if (c == '=') {
      ++padding;
      continue;
    }
    if (padding > 0) return std::nullopt;  // data after padding
    char normalized = c == '-' ? '+' : c == '_' ? '/' : c;  // accept the URL-safe alphabet too
    auto index = kBase64Alphabet.find(normalized);
    if (index == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 6) | static_cast<uint32_t>(index);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  if (padding > 2) return std::nullopt;
  return out;
}

}  // namespace

Result<std::vector<FilterClause>> ParseRunFilter(std::string_view filter) { return Parse(filter, RunGrammar()); }
Result<OrderClause> ParseRunOrderBy(std::string_view order_by) { return ParseOrder(order_by, RunGrammar()); }
Result<std::vector<FilterClause>> ParseExperimentFilter(std::string_view filter) {
  return Parse(filter, ExperimentGrammar());
}
Result<OrderClause> ParseExperimentOrderBy(std::string_view order_by) {
  return ParseOrder(order_by, ExperimentGrammar());
}
Result<std::vector<FilterClause>> ParseRegisteredModelFilter(std::string_view filter) {
  return Parse(filter, RegisteredModelGrammar());
}
Result<OrderClause> ParseRegisteredModelOrderBy(std::string_view order_by) {
  return ParseOrder(order_by, RegisteredModelGrammar());
}
Result<std::vector<FilterClause>> ParseModelVersionFilter(std::string_view filter) {
  return Parse(filter, ModelVersionGrammar());
}
Result<OrderClause> ParseModelVersionOrderBy(std::string_view order_by) {
  return ParseOrder(order_by, ModelVersionGrammar());
}

Status ReadSearchTerms(const RequestParams& params, Result<std::vector<FilterClause>> (*parse_filter)(std::string_view),
                       Result<OrderClause> (*parse_order_by)(std::string_view), storage::SearchTerms& terms) {
  LATHE_ASSIGN_OR_RETURN(auto filter, params.String("filter"));
  LATHE_ASSIGN_OR_RETURN(terms.filter, parse_filter(filter.value_or("")));
  LATHE_ASSIGN_OR_RETURN(auto order_by, params.StringList("order_by"));
  // Each ordering key joins a table; a bound keeps the query far from SQLite's join limits.
  if (order_by.size() > kMaxOrderByClauses) {
    return Invalid(fmt::format("order_by may have at most {} clauses, got {}", kMaxOrderByClauses, order_by.size()));
  }
  for (const auto& clause : order_by) {
    LATHE_ASSIGN_OR_RETURN(auto parsed, parse_order_by(clause));
    for (const auto& seen : terms.order_by) {
      if (seen.entity == parsed.entity && seen.key == parsed.key) {
        return Invalid(fmt::format("`order_by` contains duplicate fields: {}", DumpJson(nlohmann::json(order_by))));
      }
    }
    terms.order_by.push_back(std::move(parsed));
  }
  LATHE_ASSIGN_OR_RETURN(auto token, params.String("page_token"));
  LATHE_ASSIGN_OR_RETURN(terms.offset, DecodePageToken(token.value_or("")));
  return Status::Ok();
}

std::string EncodePageToken(int64_t offset) { return Base64Encode(nlohmann::json{{"offset", offset}}.dump()); }

Result<int64_t> DecodePageToken(std::string_view token) {
  if (token.empty()) return int64_t{0};
  if (token.size() > 1000) return Invalid("Invalid page token, could not base64-decode");
  auto decoded = Base64Decode(token);
  if (!decoded) return Invalid("Invalid page token, could not base64-decode");
  auto parsed = nlohmann::json::parse(*decoded, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return Invalid("Invalid page token, decoded value=" + *decoded);
  auto offset = parsed.find("offset");
  if (offset == parsed.end() || !offset->is_number_integer() || offset->get<int64_t>() < 0) {
    return Invalid("Invalid page token, parsed value=" + DumpJson(parsed));
  }
  return offset->get<int64_t>();
}

}  // namespace lathe::tracking
