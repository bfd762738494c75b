#include "features/definitions.h"

#include "core/yaml_reader.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "core/duration.h"
#include "storage/duckdb.h"

namespace lathe::features {

std::string Location::Describe() const { return line > 0 ? fmt::format("{}:{}", file, line) : file; }

const Entity* FeatureRepo::FindEntity(const std::string& name) const {
  for (const auto& entity : entities) if (entity.name == name) return &entity;
  return nullptr;
}
const Source* FeatureRepo::FindSource(const std::string& name) const {
  for (const auto& source : sources) if (source.name == name) return &source;
  return nullptr;
}
const FeatureView* FeatureRepo::FindView(const std::string& name) const {
  for (const auto& view : views) if (view.name == name) return &view;
  return nullptr;
}
const OnDemandView* FeatureRepo::FindOnDemandView(const std::string& name) const {
  for (const auto& view : on_demand_views) if (view.name == name) return &view;
  return nullptr;
}
std::vector<Field> FeatureRepo::JoinKeys(const FeatureView& view) const {
  std::vector<Field> keys;
  for (const auto& name : view.entities) {
    if (const Entity* entity = FindEntity(name)) keys.insert(keys.end(), entity->join_keys.begin(), entity->join_keys.end());
  }
  return keys;
}

const Feature* FindFeature(const FeatureRepo& repo, const FeatureRef& ref) {
  const std::vector<Feature>* features = nullptr;
  if (const FeatureView* view = repo.FindView(ref.view)) features = &view->features;
  if (const OnDemandView* view = repo.FindOnDemandView(ref.view)) features = &view->features;
  if (!features) return nullptr;
  for (const auto& feature : *features) if (feature.name == ref.feature) return &feature;
  return nullptr;
}

namespace {

Status ParseOneRef(const FeatureRepo& repo, const std::string& text, FeatureRef& ref) {
  auto colon = text.find(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size()) {
    return Status::InvalidParameter(fmt::format("invalid feature reference '{}': expected view:feature", text));
  }
  ref = {text.substr(0, colon), text.substr(colon + 1)};
  if (!repo.FindView(ref.view) && !repo.FindOnDemandView(ref.view)) {
    return Status::NotFound(fmt::format("unknown feature view '{}' in '{}'", ref.view, text));
  }
  if (!FindFeature(repo, ref)) {
    return Status::NotFound(fmt::format("feature view '{}' has no feature '{}'", ref.view, ref.feature));
  }
  return Status::Ok();
}

}  // namespace

Result<std::vector<FeatureRef>> ParseFeatureRefs(const FeatureRepo& repo, const std::vector<std::string>& refs) {
  std::vector<FeatureRef> out;
  std::set<std::string> seen;
  for (const auto& text : refs) {
    FeatureRef ref;
    LATHE_RETURN_IF_ERROR(ParseOneRef(repo, text, ref));
    if (!seen.insert(ref.Name()).second) {
      return Status::InvalidParameter(fmt::format("feature '{}' is requested twice", ref.Name()));
    }
    out.push_back(std::move(ref));
  }
  if (out.empty()) return Status::InvalidParameter("no features requested");
  return out;
}

std::string DuckDbTypeFor(const std::string& type) {
  if (type == "int64") return "BIGINT";
  if (type == "double") return "DOUBLE";
  if (type == "string") return "VARCHAR";
  if (type == "bool") return "BOOLEAN";
  if (type == "timestamp") return "TIMESTAMPTZ";
  if (type == "date") return "DATE";
  return "";
}

std::string FeatureTypeOf(const std::string& duckdb_type) {
  static const std::set<std::string> kIntegers = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT",
                                                  "USMALLINT", "UINTEGER"};
  if (kIntegers.count(duckdb_type)) return "int64";
  if (duckdb_type == "FLOAT" || duckdb_type == "DOUBLE" || duckdb_type.rfind("DECIMAL", 0) == 0 ||
      duckdb_type == "UBIGINT" || duckdb_type == "HUGEINT") {
    return "double";
  }
  if (duckdb_type == "VARCHAR") return "string";
  if (duckdb_type == "BOOLEAN") return "bool";
  if (duckdb_type.rfind("TIMESTAMP", 0) == 0) return "timestamp";
  if (duckdb_type == "DATE") return "date";
  return "";
}

namespace {

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 128) return false;
  if (!(std::isalpha(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  if (name.rfind("__", 0) == 0) return false;  // reserved for the feature store's own columns
  return std::all_of(name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// Reads one YAML document into the repository, with locations for every error.
class RepoParser {
 public:
  RepoParser(FeatureRepo& repo, std::filesystem::path file)
      : repo_(repo), file_(std::move(file)), yaml_(file_.filename().string()) {}

  Status Parse(const YAML::Node& root) {
    if (!root.IsDefined() || root.IsNull()) return Status::Ok();
    if (!root.IsMap()) return Error(root, "expected a mapping with entities, sources, feature_views");
    static const std::set<std::string> kKeys = {"project", "online_store", "entities", "sources", "feature_views",
                                                "on_demand_feature_views"};
    LATHE_RETURN_IF_ERROR(CheckKeys(root, kKeys, "the repository"));
    if (root["project"]) LATHE_RETURN_IF_ERROR(ReadName(root["project"], "project", repo_.project));
    if (root["online_store"]) {
      LATHE_RETURN_IF_ERROR(ReadString(root["online_store"], "online_store", repo_.online_store));
      const std::string& store = repo_.online_store;
      if (store != "sqlite" && store.rfind("sqlite:///", 0) != 0 && store.rfind("redis://", 0) != 0) {
        return Error(root["online_store"], fmt::format("unknown online_store '{}': expected sqlite, sqlite:///path.db or "
                                                       "redis://host:port/db", store));
      }
    }
    LATHE_RETURN_IF_ERROR(ForEach(root["entities"], "entities", [&](const YAML::Node& node) { return ParseEntity(node); }));
    LATHE_RETURN_IF_ERROR(ForEach(root["sources"], "sources", [&](const YAML::Node& node) { return ParseSource(node); }));
    LATHE_RETURN_IF_ERROR(ForEach(root["feature_views"], "feature_views", [&](const YAML::Node& node) { return ParseView(node); }));
    return ForEach(root["on_demand_feature_views"], "on_demand_feature_views",
                   [&](const YAML::Node& node) { return ParseOnDemandView(node); });
  }

 private:
  Location At(const YAML::Node& node) const {
    return {file_.filename().string(), node.Mark().line >= 0 ? node.Mark().line + 1 : 0};
  }
  Status Error(const YAML::Node& node, const std::string& message) const { return yaml_.Error(node, message); }
  Status CheckKeys(const YAML::Node& node, const std::set<std::string>& allowed, const std::string& what) const {
    return yaml_.CheckKeys(node, allowed, what);
  }
  Status ForEach(const YAML::Node& list, const std::string& what, const std::function<Status(const YAML::Node&)>& parse) {
    if (!list) return Status::Ok();
    if (!list.IsSequence()) return Error(list, fmt::format("'{}' must be a list", what));
    for (const auto& item : list) {
      if (!item.IsMap()) return Error(item, fmt::format("each entry of '{}' must be a mapping", what));
      LATHE_RETURN_IF_ERROR(parse(item));
    }
    return Status::Ok();
  }
  Status ReadString(const YAML::Node& node, const std::string& what, std::string& out) const {
    return yaml_.ReadString(node, what, out);
  }
  Status ReadName(const YAML::Node& node, const std::string& what, std::string& out) const {
    LATHE_RETURN_IF_ERROR(ReadString(node, what, out));
    if (!ValidName(out)) {
      return Error(node, fmt::format("invalid {} '{}': use letters, digits and _, not starting with a digit or __", what, out));
    }
    return Status::Ok();
  }
  Status Required(const YAML::Node& parent, const char* key, const std::string& what, std::string& out) const {
    if (!parent[key]) return Error(parent, fmt::format("{} has no '{}'", what, key));
    return ReadString(parent[key], key, out);
  }
  Status ReadFields(const YAML::Node& list, const std::string& what, bool join_keys, std::vector<Field>& out) const {
    if (!list.IsSequence() || list.size() == 0) return Error(list, fmt::format("'{}' must be a non-empty list", what));
    for (const auto& item : list) {
      Field field;
      if (item.IsScalar()) {
        LATHE_RETURN_IF_ERROR(ReadName(item, what, field.name));
        field.type = join_keys ? "int64" : "double";
      } else if (item.IsMap()) {
        LATHE_RETURN_IF_ERROR(CheckKeys(item, {"name", "type"}, what));
        LATHE_RETURN_IF_ERROR(ReadName(item["name"], "name", field.name));
        field.type = join_keys ? "int64" : "double";
        if (item["type"]) LATHE_RETURN_IF_ERROR(ReadString(item["type"], "type", field.type));
      } else {
        return Error(item, fmt::format("each of '{}' is a name or {{name, type}}", what));
      }
      bool known = join_keys ? (field.type == "int64" || field.type == "string") : !DuckDbTypeFor(field.type).empty();
      if (!known) {
        return Error(item, fmt::format("unknown type '{}' for '{}' (expected {})", field.type, field.name,
                                       join_keys ? "int64 or string" : "int64, double, string, bool, timestamp or date"));
      }
      out.push_back(std::move(field));
    }
    return Status::Ok();
  }
  Status ReadFeatures(const YAML::Node& node, const std::string& owner, std::vector<Feature>& out) const {
    if (!node || !node.IsSequence() || node.size() == 0) {
      return Error(node ? node : YAML::Node(), fmt::format("'{}' needs a non-empty list of features", owner));
    }
    for (const auto& item : node) {
      if (!item.IsMap()) return Error(item, "each feature is a mapping with name and expression");
      LATHE_RETURN_IF_ERROR(CheckKeys(item, {"name", "expression", "type", "description"}, "a feature"));
      Feature feature;
      feature.location = At(item);
      LATHE_RETURN_IF_ERROR(ReadName(item["name"], "feature name", feature.name));
      LATHE_RETURN_IF_ERROR(Required(item, "expression", fmt::format("feature '{}'", feature.name), feature.expression));
      if (item["type"]) {
        LATHE_RETURN_IF_ERROR(ReadString(item["type"], "type", feature.type));
        if (DuckDbTypeFor(feature.type).empty()) {
          return Error(item["type"], fmt::format("unknown type '{}' (expected int64, double, string, bool, timestamp or date)", feature.type));
        }
      }
      for (const auto& other : out) {
        if (other.name == feature.name) return Error(item, fmt::format("duplicate feature '{}' in '{}'", feature.name, owner));
      }
      out.push_back(std::move(feature));
    }
    return Status::Ok();
  }
  Status ParseEntity(const YAML::Node& node) {
    LATHE_RETURN_IF_ERROR(CheckKeys(node, {"name", "join_keys", "description"}, "an entity"));
    Entity entity;
    entity.location = At(node);
    LATHE_RETURN_IF_ERROR(ReadName(node["name"], "entity name", entity.name));
    if (!node["join_keys"]) return Error(node, fmt::format("entity '{}' has no 'join_keys'", entity.name));
    LATHE_RETURN_IF_ERROR(ReadFields(node["join_keys"], "join_keys", true, entity.join_keys));
    repo_.entities.push_back(std::move(entity));
    return Status::Ok();
  }
  Status ParseSource(const YAML::Node& node) {
    LATHE_RETURN_IF_ERROR(CheckKeys(node, {"name", "path", "query", "table", "database", "timestamp_field",
                                           "created_timestamp_field", "description"}, "a source"));
    Source source;
    source.location = At(node);
    LATHE_RETURN_IF_ERROR(ReadName(node["name"], "source name", source.name));
    std::string what = fmt::format("source '{}'", source.name);
    int kinds = 0;
    if (node["path"]) {
      ++kinds;
      LATHE_RETURN_IF_ERROR(ReadString(node["path"], "path", source.path));
      std::filesystem::path path(source.path);
      if (path.is_relative()) source.path = (file_.parent_path() / path).lexically_normal().string();
    }
    if (node["query"]) {
      ++kinds;
      LATHE_RETURN_IF_ERROR(ReadString(node["query"], "query", source.query));
    }
    if (node["table"]) {
      ++kinds;
      LATHE_RETURN_IF_ERROR(ReadString(node["table"], "table", source.table));
      LATHE_RETURN_IF_ERROR(Required(node, "database", what + " (a table source)", source.database));
      std::filesystem::path path(source.database);
      if (path.is_relative()) source.database = (file_.parent_path() / path).lexically_normal().string();
    }
    if (kinds != 1) return Error(node, what + " needs exactly one of 'path', 'query' or 'table'");
    LATHE_RETURN_IF_ERROR(Required(node, "timestamp_field", what, source.timestamp_field));
    if (node["created_timestamp_field"]) {
      LATHE_RETURN_IF_ERROR(ReadString(node["created_timestamp_field"], "created_timestamp_field", source.created_timestamp_field));
    }
    repo_.sources.push_back(std::move(source));
    return Status::Ok();
  }
  Status ParseView(const YAML::Node& node) {
    LATHE_RETURN_IF_ERROR(CheckKeys(node, {"name", "entities", "source", "ttl", "features", "description"}, "a feature view"));
    FeatureView view;
    view.location = At(node);
    LATHE_RETURN_IF_ERROR(ReadName(node["name"], "feature view name", view.name));
    std::string what = fmt::format("feature view '{}'", view.name);
    if (!node["entities"] || !node["entities"].IsSequence() || node["entities"].size() == 0) {
      return Error(node, what + " needs a non-empty list of 'entities'");
    }
    for (const auto& item : node["entities"]) {
      std::string name;
      LATHE_RETURN_IF_ERROR(ReadString(item, "entity", name));
      view.entities.push_back(name);
    }
    LATHE_RETURN_IF_ERROR(Required(node, "source", what, view.source));
    if (node["ttl"]) {
      std::string text;
      LATHE_RETURN_IF_ERROR(ReadString(node["ttl"], "ttl", text));
      auto millis = ParseDuration(text);
      if (!millis.ok()) return Error(node["ttl"], millis.status().message());
      view.ttl_seconds = *millis / 1000;
    }
    LATHE_RETURN_IF_ERROR(ReadFeatures(node["features"], what, view.features));
    repo_.views.push_back(std::move(view));
    return Status::Ok();
  }
  Status ParseOnDemandView(const YAML::Node& node) {
    LATHE_RETURN_IF_ERROR(CheckKeys(node, {"name", "request_fields", "inputs", "features", "description"}, "an on-demand feature view"));
    OnDemandView view;
    view.location = At(node);
    LATHE_RETURN_IF_ERROR(ReadName(node["name"], "on-demand feature view name", view.name));
    if (node["request_fields"]) LATHE_RETURN_IF_ERROR(ReadFields(node["request_fields"], "request_fields", false, view.request_fields));
    if (node["inputs"]) {
      if (!node["inputs"].IsSequence()) return Error(node["inputs"], "'inputs' must be a list of view:feature");
      for (const auto& item : node["inputs"]) {
        std::string ref;
        LATHE_RETURN_IF_ERROR(ReadString(item, "input", ref));
        view.inputs.push_back(ref);
      }
    }
    LATHE_RETURN_IF_ERROR(ReadFeatures(node["features"], fmt::format("on-demand feature view '{}'", view.name), view.features));
    repo_.on_demand_views.push_back(std::move(view));
    return Status::Ok();
  }

  FeatureRepo& repo_;
  std::filesystem::path file_;
  YamlReader yaml_;
};

Status LocatedError(const Location& location, const std::string& message) {
  return Status::InvalidParameter(fmt::format("{}: {}", location.Describe(), message));
}

// Source names that a query source mentions (as whole identifiers).
std::vector<std::string> QueryDependencies(const FeatureRepo& repo, const Source& source) {
  std::set<std::string> words;
  std::string word;
  for (char c : source.query + " ") {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
      word += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    } else if (!word.empty()) {
      words.insert(word);
      word.clear();
    }
  }
  std::vector<std::string> out;
  for (const auto& other : repo.sources) {
    std::string lower = other.name;
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    if (other.name != source.name && words.count(lower)) out.push_back(other.name);
  }
  return out;
}

// Orders nodes so that each comes after its dependencies; a cycle is an error naming its members.
Result<std::vector<std::string>> TopologicalOrder(const std::vector<std::string>& nodes,
                                                  const std::function<std::vector<std::string>(const std::string&)>& deps,
                                                  const std::function<Location(const std::string&)>& where,
                                                  const std::string& kind) {
  std::map<std::string, int> state;  // 0 new, 1 visiting, 2 done
  std::vector<std::string> order, stack;
  std::function<Status(const std::string&)> visit = [&](const std::string& node) -> Status {
    if (state[node] == 2) return Status::Ok();
    if (state[node] == 1) {
      auto start = std::find(stack.begin(), stack.end(), node);
      std::string cycle;
      for (auto it = start; it != stack.end(); ++it) cycle += *it + " -> ";
      return LocatedError(where(node), fmt::format("cycle between {}: {}{}", kind, cycle, node));
    }
    state[node] = 1;
    stack.push_back(node);
    for (const auto& dep : deps(node)) LATHE_RETURN_IF_ERROR(visit(dep));
    stack.pop_back();
    state[node] = 2;
    order.push_back(node);
    return Status::Ok();
  };
  for (const auto& node : nodes) LATHE_RETURN_IF_ERROR(visit(node));
  return order;
}

Result<std::vector<std::string>> SourceOrder(const FeatureRepo& repo) {
  std::vector<std::string> names;
  for (const auto& source : repo.sources) names.push_back(source.name);
  return TopologicalOrder(
      names,
      [&](const std::string& name) {
        const Source* source = repo.FindSource(name);
        return source->query.empty() ? std::vector<std::string>{} : QueryDependencies(repo, *source);
      },
      [&](const std::string& name) { return repo.FindSource(name)->location; }, "query sources");
}

Status CheckReferences(const FeatureRepo& repo) {
  std::map<std::string, Location> names;
  auto unique = [&](const std::string& kind, const std::string& name, const Location& location) -> Status {
    auto [it, inserted] = names.emplace(kind + ":" + name, location);
    if (!inserted) {
      return LocatedError(location, fmt::format("duplicate {} '{}' (first declared at {})", kind, name, it->second.Describe()));
    }
    return Status::Ok();
  };
  for (const auto& entity : repo.entities) LATHE_RETURN_IF_ERROR(unique("entity", entity.name, entity.location));
  for (const auto& source : repo.sources) LATHE_RETURN_IF_ERROR(unique("source", source.name, source.location));
  for (const auto& view : repo.views) LATHE_RETURN_IF_ERROR(unique("feature view", view.name, view.location));
  for (const auto& view : repo.on_demand_views) {
    if (repo.FindView(view.name)) {
      return LocatedError(view.location, fmt::format("on-demand feature view '{}' has the name of a feature view", view.name));
    }
    LATHE_RETURN_IF_ERROR(unique("on-demand feature view", view.name, view.location));
  }
  for (const auto& view : repo.views) {
    std::set<std::string> keys;
    for (const auto& name : view.entities) {
      const Entity* entity = repo.FindEntity(name);
      if (!entity) return LocatedError(view.location, fmt::format("feature view '{}': unknown entity '{}'", view.name, name));
      for (const auto& key : entity->join_keys) {
        if (!keys.insert(key.name).second) {
          return LocatedError(view.location, fmt::format("feature view '{}': join key '{}' appears twice", view.name, key.name));
        }
      }
    }
    if (!repo.FindSource(view.source)) {
      return LocatedError(view.location, fmt::format("feature view '{}': unknown source '{}'", view.name, view.source));
    }
    for (const auto& feature : view.features) {
      if (keys.count(feature.name)) {
        return LocatedError(feature.location, fmt::format("feature '{}:{}' has the name of a join key", view.name, feature.name));
      }
    }
  }
  for (const auto& view : repo.on_demand_views) {
    std::set<std::string> columns;
    for (const auto& field : view.request_fields) {
      if (!columns.insert(field.name).second) {
        return LocatedError(view.location, fmt::format("on-demand feature view '{}': '{}' appears twice", view.name, field.name));
      }
    }
    for (const auto& input : view.inputs) {
      FeatureRef ref;
      Status status = ParseOneRef(repo, input, ref);
      if (!status.ok()) return LocatedError(view.location, fmt::format("on-demand feature view '{}': {}", view.name, status.message()));
      if (!columns.insert(ref.feature).second) {
        return LocatedError(view.location, fmt::format("on-demand feature view '{}': two inputs or request fields are named '{}'",
                                                       view.name, ref.feature));
      }
    }
  }
  LATHE_RETURN_IF_ERROR(SourceOrder(repo).status());
  std::vector<std::string> on_demand;
  for (const auto& view : repo.on_demand_views) on_demand.push_back(view.name);
  return TopologicalOrder(
             on_demand,
             [&](const std::string& name) {
               std::vector<std::string> deps;
               for (const auto& input : repo.FindOnDemandView(name)->inputs) {
                 std::string view = input.substr(0, input.find(':'));
                 if (repo.FindOnDemandView(view)) deps.push_back(view);
               }
               return deps;
             },
             [&](const std::string& name) { return repo.FindOnDemandView(name)->location; }, "on-demand feature views")
      .status();
}

}  // namespace

Result<FeatureRepo> LoadFeatureRepo(const std::filesystem::path& path) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    for (const auto& entry : std::filesystem::directory_iterator(path, error)) {
      auto extension = entry.path().extension();
      if (entry.is_regular_file() && (extension == ".yaml" || extension == ".yml")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    if (files.empty()) return Status::InvalidParameter(fmt::format("no YAML files in {}", path.string()));
  } else if (std::filesystem::is_regular_file(path, error)) {
    files.push_back(path);
  } else {
    return Status::InvalidParameter(fmt::format("feature repository {} does not exist", path.string()));
  }
  FeatureRepo repo;
  for (const auto& file : files) {
    auto absolute = std::filesystem::absolute(file, error);
    YAML::Node root;
    try {
      root = YAML::LoadFile(absolute.string());
    } catch (const YAML::ParserException& e) {
      return Status::InvalidParameter(fmt::format("{}:{}: {}", file.filename().string(), e.mark.line + 1, e.msg));
    } catch (const YAML::Exception& e) {
      return Status::InvalidParameter(fmt::format("{}: {}", file.filename().string(), e.what()));
    }
    try {
      LATHE_RETURN_IF_ERROR(RepoParser(repo, absolute).Parse(root));
    } catch (const YAML::Exception& e) {
      return Status::InvalidParameter(fmt::format("{}:{}: {}", file.filename().string(), e.mark.line + 1, e.msg));
    }
  }
  LATHE_RETURN_IF_ERROR(CheckReferences(repo));
  return repo;
}


Status RegisterSources(const FeatureRepo& repo, DuckDb& db) {
  LATHE_ASSIGN_OR_RETURN(auto order, SourceOrder(repo));
  for (const auto& name : order) {
    const Source& source = *repo.FindSource(name);
    std::string body;
    if (!source.path.empty()) {
      auto reader = ReadFileSql(source.path);
      if (!reader.ok()) return LocatedError(source.location, fmt::format("source '{}': {}", source.name, reader.status().message()));
      body = "SELECT * FROM " + *reader;
    } else if (!source.query.empty()) {
      body = source.query;
    } else {
      std::string alias = "lathe_db_" + source.name;
      LATHE_RETURN_IF_ERROR(db.Exec(fmt::format("ATTACH IF NOT EXISTS {} AS {} (READ_ONLY)", SqlString(source.database), SqlIdentifier(alias))));
      body = fmt::format("SELECT * FROM {}.{}", SqlIdentifier(alias), SqlIdentifier(source.table));
    }
    Status status = db.Exec(fmt::format("CREATE OR REPLACE TEMP VIEW {} AS {}", SqlIdentifier(source.name), body));
    if (!status.ok()) return LocatedError(source.location, fmt::format("source '{}': {}", source.name, status.message()));
  }
  return Status::Ok();
}

namespace {

// Source rows that each feature expression is run over when a repository is validated.
constexpr int kValidationSampleRows = 1000;

// Column name -> DuckDB type of a query, or the DuckDB error.
Result<std::vector<std::pair<std::string, std::string>>> Describe(DuckDb& db, const std::string& query) {
  LATHE_ASSIGN_OR_RETURN(auto table, db.Query("DESCRIBE " + query));
  std::vector<std::pair<std::string, std::string>> columns;
  for (const auto& row : table.rows) columns.emplace_back(std::get<std::string>(row[0]), std::get<std::string>(row[1]));
  return columns;
}

const std::string* FindColumn(const std::vector<std::pair<std::string, std::string>>& columns, const std::string& name) {
  for (const auto& [column, type] : columns) {
    if (column.size() == name.size() &&
        std::equal(column.begin(), column.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return &type;
    }
  }
  return nullptr;
}

std::string ColumnList(const std::vector<std::pair<std::string, std::string>>& columns) {
  std::string out;
  for (const auto& [name, type] : columns) out += (out.empty() ? "" : ", ") + name;
  return out;
}

// Checks an expression's inferred type against the declared one and records it; an integer
// expression declared double is widened, any other difference is an error.
Status SettleType(Feature& feature, const std::string& owner, const std::string& duckdb_type) {
  std::string inferred = FeatureTypeOf(duckdb_type);
  if (inferred.empty()) {
    return LocatedError(feature.location, fmt::format("feature '{}:{}' has type {}, which the feature store does not hold "
                                                      "(int64, double, string, bool, timestamp, date): cast it",
                                                      owner, feature.name, duckdb_type));
  }
  if (feature.type.empty() || feature.type == inferred || (feature.type == "double" && inferred == "int64")) {
    if (feature.type.empty()) feature.type = inferred;
    return Status::Ok();
  }
  return LocatedError(feature.location, fmt::format("feature '{}:{}' is declared {} but its expression gives {} ({})", owner,
                                                    feature.name, feature.type, inferred, duckdb_type));
}

}  // namespace

Status ValidateAgainstData(FeatureRepo& repo, DuckDb& db) {
  LATHE_RETURN_IF_ERROR(RegisterSources(repo, db));
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> source_columns;
  for (const auto& source : repo.sources) {
    auto columns = Describe(db, "SELECT * FROM " + SqlIdentifier(source.name));
    if (!columns.ok()) return LocatedError(source.location, fmt::format("source '{}': {}", source.name, columns.status().message()));
    for (const auto* field : {&source.timestamp_field, &source.created_timestamp_field}) {
      if (field->empty()) continue;
      const std::string* type = FindColumn(*columns, *field);
      if (!type) {
        return LocatedError(source.location, fmt::format("source '{}' has no column '{}' (columns: {})", source.name, *field,
                                                         ColumnList(*columns)));
      }
      if (FeatureTypeOf(*type) != "timestamp" && FeatureTypeOf(*type) != "date" && *type != "VARCHAR") {
        return LocatedError(source.location, fmt::format("source '{}': column '{}' is {}, not a timestamp", source.name, *field, *type));
      }
    }
    source_columns[source.name] = *columns;
  }
  for (auto& view : repo.views) {
    const auto& columns = source_columns[view.source];
    for (const auto& key : repo.JoinKeys(view)) {
      const std::string* type = FindColumn(columns, key.name);
      if (!type) {
        return LocatedError(view.location, fmt::format("feature view '{}': source '{}' has no join key column '{}' (columns: {})",
                                                       view.name, view.source, key.name, ColumnList(columns)));
      }
      std::string kind = FeatureTypeOf(*type);
      if ((key.type == "int64" && kind != "int64") || (key.type == "string" && kind != "string")) {
        return LocatedError(view.location, fmt::format("feature view '{}': join key '{}' is declared {} but source '{}' has {}",
                                                       view.name, key.name, key.type, view.source, *type));
      }
    }
    for (auto& feature : view.features) {
      auto described = Describe(db, fmt::format("SELECT ({}) AS f FROM {}", feature.expression, SqlIdentifier(view.source)));
      // Binding does not catch every type error ('x' + 1 binds, and fails on the first row), so
      // the expression also runs over a sample of the source.
      Status ran = described.status();
      if (ran.ok()) {
        ran = db.Exec(fmt::format("SELECT count(f) FROM (SELECT ({}) AS f FROM (SELECT * FROM {} LIMIT {}))", feature.expression,
                                  SqlIdentifier(view.source), kValidationSampleRows));
      }
      if (!ran.ok()) {
        return LocatedError(feature.location, fmt::format("feature '{}:{}': {}", view.name, feature.name, ran.message()));
      }
      LATHE_RETURN_IF_ERROR(SettleType(feature, view.name, (*described)[0].second));
    }
  }
  // On-demand views in dependency order, so that their inputs' types are known.
  std::vector<std::string> pending;
  for (const auto& view : repo.on_demand_views) pending.push_back(view.name);
  std::set<std::string> done;
  while (!pending.empty()) {
    bool progressed = false;
    for (auto it = pending.begin(); it != pending.end();) {
      auto& view = const_cast<OnDemandView&>(*repo.FindOnDemandView(*it));
      bool ready = std::all_of(view.inputs.begin(), view.inputs.end(), [&](const std::string& input) {
        std::string owner = input.substr(0, input.find(':'));
        return !repo.FindOnDemandView(owner) || done.count(owner);
      });
      if (!ready) {
        ++it;
        continue;
      }
      std::string columns;
      auto add = [&](const std::string& name, const std::string& type) {
        columns += fmt::format("{}CAST(NULL AS {}) AS {}", columns.empty() ? "" : ", ", DuckDbTypeFor(type), SqlIdentifier(name));
      };
      for (const auto& field : view.request_fields) add(field.name, field.type);
      for (const auto& input : view.inputs) {
        FeatureRef ref{input.substr(0, input.find(':')), input.substr(input.find(':') + 1)};
        add(ref.feature, FindFeature(repo, ref)->type);
      }
      for (auto& feature : view.features) {
        auto described = Describe(db, fmt::format("SELECT ({}) AS f FROM (SELECT {})", feature.expression, columns));
        if (!described.ok()) {
          return LocatedError(feature.location, fmt::format("feature '{}:{}': {}", view.name, feature.name, described.status().message()));
        }
        LATHE_RETURN_IF_ERROR(SettleType(feature, view.name, (*described)[0].second));
      }
      done.insert(view.name);
      it = pending.erase(it);
      progressed = true;
    }
    if (!progressed) break;  // CheckReferences has ruled cycles out
  }
  return Status::Ok();
}

namespace {

std::string FeatureHashSql(const FeatureView& view) {
  std::string columns;
  for (const auto& feature : view.features) columns += (columns.empty() ? "" : ", ") + SqlIdentifier(feature.name);
  return "hash(" + columns + ")";
}

}  // namespace

std::string TieBreakSql(const FeatureRepo& repo, const FeatureView& view) {
  if (repo.FindSource(view.source)->created_timestamp_field.empty()) return FeatureHashSql(view) + " DESC";
  std::string terms = "__created_ts DESC NULLS LAST";
  for (const auto& feature : view.features) terms += ", " + SqlIdentifier(feature.name) + " NULLS LAST";
  return terms;
}

// 2^64: the event time in microseconds takes the high half, the feature hash (a UBIGINT) the low.
std::string EventOrderSql(const FeatureView& view) {
  return "(CAST(epoch_us(__event_ts) AS HUGEINT) * 18446744073709551616 + CAST(" + FeatureHashSql(view) + " AS HUGEINT))";
}

std::string EntityOrderSql(const std::string& timestamp_sql) {
  return "(CAST(epoch_us(" + timestamp_sql + ") AS HUGEINT) * 18446744073709551616 + 18446744073709551615)";
}

std::string EntityKeySql(const std::vector<Field>& keys, const std::string& qualifier) {
  std::string parts;
  for (const auto& key : keys) {
    parts += fmt::format("{}CAST({}{} AS VARCHAR)", parts.empty() ? "" : ", ", qualifier.empty() ? "" : qualifier + ".",
                         SqlIdentifier(key.name));
  }
  return keys.size() == 1 ? parts : "concat_ws(chr(31), " + parts + ")";
}

std::string ViewRowsSql(const FeatureRepo& repo, const FeatureView& view, const std::vector<std::string>& only) {
  const Source& source = *repo.FindSource(view.source);
  std::string sql = "SELECT ";
  for (const auto& key : repo.JoinKeys(view)) {
    sql += fmt::format("CAST({0} AS {1}) AS {0}, ", SqlIdentifier(key.name), key.type == "int64" ? "BIGINT" : "VARCHAR");
  }
  sql += fmt::format("CAST({} AS TIMESTAMPTZ) AS __event_ts, ", SqlIdentifier(source.timestamp_field));
  if (source.created_timestamp_field.empty()) {
    sql += "CAST(NULL AS TIMESTAMPTZ) AS __created_ts";
  } else {
    sql += fmt::format("CAST({} AS TIMESTAMPTZ) AS __created_ts", SqlIdentifier(source.created_timestamp_field));
  }
  for (const auto& feature : view.features) {
    if (!only.empty() && std::find(only.begin(), only.end(), feature.name) == only.end()) continue;
    sql += fmt::format(", CAST(({}) AS {}) AS {}", feature.expression, DuckDbTypeFor(feature.type), SqlIdentifier(feature.name));
  }
  return sql + " FROM " + SqlIdentifier(view.source);
}

namespace {

nlohmann::json FieldsJson(const std::vector<Field>& fields) {
  auto out = nlohmann::json::array();
  for (const auto& field : fields) out.push_back({{"name", field.name}, {"type", field.type}});
  return out;
}
nlohmann::json FeaturesJson(const std::vector<Feature>& features) {
  auto out = nlohmann::json::array();
  for (const auto& feature : features) {
    out.push_back({{"name", feature.name}, {"expression", feature.expression}, {"type", feature.type}});
  }
  return out;
}
std::vector<Field> FieldsFrom(const nlohmann::json& json) {
  std::vector<Field> out;
  for (const auto& item : json) out.push_back({item.at("name"), item.at("type")});
  return out;
}
std::vector<Feature> FeaturesFrom(const nlohmann::json& json) {
  std::vector<Feature> out;
  for (const auto& item : json) out.push_back({item.at("name"), item.at("expression"), item.at("type"), {}});
  return out;
}

}  // namespace

nlohmann::json ToJson(const FeatureRepo& repo) {
  nlohmann::json out = {{"project", repo.project}, {"online_store", repo.online_store}};
  out["entities"] = nlohmann::json::array();
  for (const auto& entity : repo.entities) out["entities"].push_back({{"name", entity.name}, {"join_keys", FieldsJson(entity.join_keys)}});
  out["sources"] = nlohmann::json::array();
  for (const auto& source : repo.sources) {
    out["sources"].push_back({{"name", source.name}, {"path", source.path}, {"query", source.query}, {"table", source.table},
                              {"database", source.database}, {"timestamp_field", source.timestamp_field},
                              {"created_timestamp_field", source.created_timestamp_field}});
  }
  out["feature_views"] = nlohmann::json::array();
  for (const auto& view : repo.views) {
    out["feature_views"].push_back({{"name", view.name}, {"entities", view.entities}, {"source", view.source},
                                    {"ttl_seconds", view.ttl_seconds}, {"features", FeaturesJson(view.features)}});
  }
  out["on_demand_feature_views"] = nlohmann::json::array();
  for (const auto& view : repo.on_demand_views) {
    out["on_demand_feature_views"].push_back({{"name", view.name}, {"request_fields", FieldsJson(view.request_fields)},
                                              {"inputs", view.inputs}, {"features", FeaturesJson(view.features)}});
  }
  return out;
}

Result<FeatureRepo> FromJson(const nlohmann::json& json) {
  try {
    FeatureRepo repo;
    repo.project = json.at("project");
    repo.online_store = json.at("online_store");
    for (const auto& item : json.at("entities")) repo.entities.push_back({item.at("name"), FieldsFrom(item.at("join_keys")), {}});
    for (const auto& item : json.at("sources")) {
      repo.sources.push_back({item.at("name"), item.at("path"), item.at("query"), item.at("table"), item.at("database"),
                              item.at("timestamp_field"), item.at("created_timestamp_field"), {}});
    }
    for (const auto& item : json.at("feature_views")) {
      repo.views.push_back({item.at("name"), item.at("entities").get<std::vector<std::string>>(), item.at("source"),
                            item.at("ttl_seconds"), FeaturesFrom(item.at("features")), {}});
    }
    for (const auto& item : json.at("on_demand_feature_views")) {
      repo.on_demand_views.push_back({item.at("name"), FieldsFrom(item.at("request_fields")),
                                      item.at("inputs").get<std::vector<std::string>>(), FeaturesFrom(item.at("features")), {}});
    }
    return repo;
  } catch (const nlohmann::json::exception& e) {
    return Status::Internal(fmt::format("stored feature repository is malformed: {}", e.what()));
  }
}

Result<std::string> HashRepo(const FeatureRepo& repo, DuckDb& db) {
  LATHE_ASSIGN_OR_RETURN(auto table, db.Query("SELECT sha256(" + SqlString(ToJson(repo).dump()) + ")"));
  return std::get<std::string>(table.rows.at(0).at(0));
}

bool SameDefinitions(const FeatureRepo& local, const FeatureRepo& applied) {
  FeatureRepo typed = local;
  auto fill = [](std::vector<Feature>& features, const std::vector<Feature>* known) {
    for (auto& feature : features) {
      if (!feature.type.empty() || !known) continue;
      for (const auto& other : *known) {
        if (other.name == feature.name) feature.type = other.type;
      }
    }
  };
  for (auto& view : typed.views) {
    const FeatureView* other = applied.FindView(view.name);
    fill(view.features, other ? &other->features : nullptr);
  }
  for (auto& view : typed.on_demand_views) {
    const OnDemandView* other = applied.FindOnDemandView(view.name);
    fill(view.features, other ? &other->features : nullptr);
  }
  return ToJson(typed) == ToJson(applied);
}

std::vector<std::string> DiffRepos(const FeatureRepo* current, const FeatureRepo& next) {
  std::vector<std::string> changes;
  FeatureRepo empty;
  const FeatureRepo& before = current ? *current : empty;
  auto compare = [&](const std::string& kind, const nlohmann::json& old_list, const nlohmann::json& new_list) {
    std::map<std::string, nlohmann::json> old_items, new_items;
    for (const auto& item : old_list) old_items[item.at("name")] = item;
    for (const auto& item : new_list) new_items[item.at("name")] = item;
    for (const auto& [name, item] : new_items) {
      auto it = old_items.find(name);
      if (it == old_items.end()) {
        changes.push_back(fmt::format("+ {} {}", kind, name));
      } else if (it->second != item) {
        for (const auto& [key, value] : item.items()) {
          if (it->second.value(key, nlohmann::json()) != value) {
            changes.push_back(fmt::format("~ {} {}: {} {} -> {}", kind, name, key, it->second.value(key, nlohmann::json()).dump(), value.dump()));
          }
        }
      }
    }
    for (const auto& [name, item] : old_items) {
      if (!new_items.count(name)) changes.push_back(fmt::format("- {} {}", kind, name));
    }
  };
  nlohmann::json a = ToJson(before), b = ToJson(next);
  if (current && a["project"] != b["project"]) changes.push_back(fmt::format("~ project {} -> {}", a["project"].dump(), b["project"].dump()));
  if (current && a["online_store"] != b["online_store"]) {
    changes.push_back(fmt::format("~ online_store {} -> {}", a["online_store"].dump(), b["online_store"].dump()));
  }
  compare("entity", a["entities"], b["entities"]);
  compare("source", a["sources"], b["sources"]);
  // Views are compared without their features, which are compared one by one.
  // A view added or removed is one line; the features of a view in both are compared one by one.
  auto features_apart = [&](const char* kind, nlohmann::json views, nlohmann::json other_views) {
    std::set<std::string> old_names, both;
    for (const auto& view : views) old_names.insert(view["name"].get<std::string>());
    for (const auto& view : other_views) {
      if (old_names.count(view["name"].get<std::string>())) both.insert(view["name"].get<std::string>());
    }
    std::map<std::string, nlohmann::json> old_features, new_features;
    auto split = [&](nlohmann::json& list, std::map<std::string, nlohmann::json>& features) {
      for (auto& view : list) {
        std::string name = view["name"];
        if (both.count(name)) {
          for (const auto& feature : view["features"]) features[name + ":" + feature["name"].get<std::string>()] = feature;
        }
        view.erase("features");
      }
    };
    split(views, old_features);
    split(other_views, new_features);
    compare(kind, views, other_views);
    nlohmann::json old_list = nlohmann::json::array(), new_list = nlohmann::json::array();
    for (auto [name, feature] : old_features) old_list.push_back((feature["name"] = name, feature));
    for (auto [name, feature] : new_features) new_list.push_back((feature["name"] = name, feature));
    compare("feature", old_list, new_list);
  };
  features_apart("feature view", a["feature_views"], b["feature_views"]);
  features_apart("on-demand feature view", a["on_demand_feature_views"], b["on_demand_feature_views"]);
  return changes;
}

}  // namespace lathe::features
