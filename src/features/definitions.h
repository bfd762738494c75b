// The feature repository: entities, sources, feature views and on-demand views, as declared in
// features.yaml (or a folder of YAML files), validated, and hashed into a version.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"
#include "storage/duckdb.h"

namespace lathe::features {

// The feature store runs on DuckDB (storage/duckdb.h).
using storage::Cell;
using storage::DuckDb;
using storage::DuckDbOptions;
using storage::FileFormat;
using storage::ReadFileSql;
using storage::SqlIdentifier;
using storage::SqlString;
using storage::Table;

// Where a definition was written, for error messages ("features.yaml:12").
struct Location {
  std::string file;
  int line = 0;
  std::string Describe() const;
};

struct Field {
  std::string name;
  std::string type;  // join keys: "int64" or "string"; request fields and features: see kFeatureTypes
};

struct Entity {
  std::string name;
  std::vector<Field> join_keys;
  Location location;
};

struct Source {
  std::string name;
  std::string path;   // a file or glob (absolute once loaded); or
  std::string query;  // SQL over other sources; or
  std::string table;  // a table of `database` (a DuckDB file)
  std::string database;
  std::string timestamp_field;
  std::string created_timestamp_field;  // optional
  Location location;
};

struct Feature {
  std::string name;
  std::string expression;
  std::string type;  // declared, or inferred by Validate(): int64, double, string, bool, timestamp, date
  Location location;
};

struct FeatureView {
  std::string name;
  std::vector<std::string> entities;
  std::string source;
  int64_t ttl_seconds = 0;  // 0: unbounded look-back
  std::vector<Feature> features;
  Location location;
};

struct OnDemandView {
  std::string name;
  std::vector<Field> request_fields;
  std::vector<std::string> inputs;  // "view:feature"
  std::vector<Feature> features;
  Location location;
};

struct FeatureRepo {
  std::string project = "default";
  std::string online_store = "sqlite";
  std::vector<Entity> entities;
  std::vector<Source> sources;
  std::vector<FeatureView> views;
  std::vector<OnDemandView> on_demand_views;

  const Entity* FindEntity(const std::string& name) const;
  const Source* FindSource(const std::string& name) const;
  const FeatureView* FindView(const std::string& name) const;
  const OnDemandView* FindOnDemandView(const std::string& name) const;
  // The join keys of a view, in the order of its entities.
  std::vector<Field> JoinKeys(const FeatureView& view) const;
};

// A reference "view:feature", resolved against a repository.
struct FeatureRef {
  std::string view;
  std::string feature;
  std::string Name() const { return view + ":" + feature; }
};
// Parses "view:feature,view:feature"; each must exist in `repo`.
Result<std::vector<FeatureRef>> ParseFeatureRefs(const FeatureRepo& repo, const std::vector<std::string>& refs);
const Feature* FindFeature(const FeatureRepo& repo, const FeatureRef& ref);

// Reads features.yaml, a YAML file, or every *.yaml/*.yml file of a folder (in name order), and
// checks what can be checked without data: names, references, durations, cycles. Relative source
// paths are resolved against the file that declares them.
Result<FeatureRepo> LoadFeatureRepo(const std::filesystem::path& path);

// Creates a DuckDB view per source (named after it) in `db`, in dependency order.
Status RegisterSources(const FeatureRepo& repo, DuckDb& db);

// Checks the repository against its data: sources readable, join keys and timestamp fields
// present, every expression valid; fills in each feature's inferred type and checks declared ones.
// Registers the sources in `db` on the way.
Status ValidateAgainstData(FeatureRepo& repo, DuckDb& db);

// The canonical form (no locations), and its SHA-256 as the repository's version hash.
nlohmann::json ToJson(const FeatureRepo& repo);
Result<FeatureRepo> FromJson(const nlohmann::json& json);
Result<std::string> HashRepo(const FeatureRepo& repo, DuckDb& db);

// Whether `local` (loaded, not validated) declares what `applied` (validated) does: features
// without a declared type take the type `applied` inferred for them.
bool SameDefinitions(const FeatureRepo& local, const FeatureRepo& applied);

// Describes how `next` differs from `current`, one line per change ("+ feature view x",
// "~ feature v:f: type \"double\" -> \"string\"", "- feature v:f"); empty when they are the same.
std::vector<std::string> DiffRepos(const FeatureRepo* current, const FeatureRepo& next);

// The SQL giving one row per source row of `view`: its join keys (cast to their declared types),
// __event_ts and __created_ts (TIMESTAMPTZ) and a column per feature (of `only`, or all).
std::string ViewRowsSql(const FeatureRepo& repo, const FeatureView& view, const std::vector<std::string>& only = {});

// The ORDER BY terms that pick one of several source rows of `view` at the same event time: the
// latest created time, then the feature values, when the source has a created timestamp; else the
// largest hash of the feature values. The choice never depends on row order, and offline
// retrieval and materialisation make the same one.
std::string TieBreakSql(const FeatureRepo& repo, const FeatureView& view);
// For a source without a created timestamp: one HUGEINT that orders rows by event time, then by
// TieBreakSql, so that a point-in-time join on it needs no separate de-duplication.
std::string EventOrderSql(const FeatureView& view);
// The EventOrderSql of an entity row at `timestamp_sql`: after every source row at that time.
std::string EntityOrderSql(const std::string& timestamp_sql);

// The SQL expression of an entity's online key over columns named after the join keys (prefixed
// by `qualifier.` when given): one key as text; several joined by U+001F.
std::string EntityKeySql(const std::vector<Field>& keys, const std::string& qualifier = "");

// DuckDB's type name for a feature type, and back ("BIGINT" -> "int64"; unknown: empty).
std::string DuckDbTypeFor(const std::string& feature_type);
std::string FeatureTypeOf(const std::string& duckdb_type);

}  // namespace lathe::features
