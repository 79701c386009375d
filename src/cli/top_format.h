// mkctl top's pure parts (src/cli/top_cmds.cc), exposed for tests: quantity
// conversion and kubectl top's table layout. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "workload_cmds.h"

namespace minik8s::cli {

// "250m" → 250, "1" → 1000, "500000001n" → 501 (rounded up like Quantity.MilliValue); 0 when malformed.
int64_t cpu_millis(const std::string& quantity);
// "12345Ki" → 12641280, "1Gi", "1000"; 0 when malformed.
int64_t memory_bytes(const std::string& quantity);
// Go tabwriter (minwidth 10, padding 3, cells tab-terminated) over rows of cells.
std::string tabwriter(const std::vector<std::vector<std::string>>& rows);
// metrics: a NodeMetricsList; nodes: a NodeList (for allocatable and the nodes without metrics).
std::string format_top_nodes(const api::Json& metrics, const api::Json& nodes, const TopOptions& o);
// metrics: a PodMetricsList.
std::string format_top_pods(const api::Json& metrics, const TopOptions& o);

}  // namespace minik8s::cli
