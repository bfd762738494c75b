// The monitoring endpoints under /api/lathe/monitor: status, labels, reference data, on-demand
// evaluation, results as time series, alert history and the HTML report.
#pragma once

#include <vector>

#include "core/api.h"
#include "monitoring/monitor_service.h"

namespace lathe::monitoring {

std::vector<Route> MonitoringRoutes(MonitorService& service);

}  // namespace lathe::monitoring
