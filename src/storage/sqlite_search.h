// SQL for the parsed MLflow searches over the SQLite schema, with every user value bound as a
// parameter. The queries return ids in the requested order; the store loads the rows.
#pragma once

#include <string>
#include <vector>

#include "core/status.h"
#include "storage/search.h"
#include "storage/sqlite_db.h"

namespace lathe::storage {

struct SqlQuery {
  std::string sql;
  std::vector<SqlValue> bindings;  // for the positional `?` in order
};

// SELECT runs.run_uuid ... ORDER BY ... LIMIT ? OFFSET ?
Result<SqlQuery> BuildRunSearchSql(const RunSearch& search);
// SELECT experiments.experiment_id ...
Result<SqlQuery> BuildExperimentSearchSql(const ExperimentSearch& search);
// SELECT registered_models.name ...
Result<SqlQuery> BuildRegisteredModelSearchSql(const RegisteredModelSearch& search);
// SELECT model_versions.name, model_versions.version ...
Result<SqlQuery> BuildModelVersionSearchSql(const ModelVersionSearch& search);

// A LIKE pattern as the equivalent GLOB pattern: SQLite's LIKE ignores ASCII case, while
// MLflow's LIKE is case-sensitive (ILIKE is the insensitive one).
std::string LikeToGlob(std::string_view like);

}  // namespace lathe::storage
