// mkctl's pure rendering and patch helpers (internal to src/cli; unit-tested).
// All functions are pure and never throw on any JSON input.
#pragma once

#include <string>
#include <vector>

#include "minik8s/api/json.h"

namespace minik8s::cli {

struct TableOptions {
  bool wide = false;          // include priority >= 1 columns
  bool with_namespace = false;  // NAMESPACE column first (-A)
  bool show_labels = false;   // LABELS column last
  bool no_headers = false;
  std::string name_prefix;    // "pod/" when several kinds are printed
};

// Cells of a meta.k8s.io Table as strings, the header row first (unless no_headers).
std::vector<std::vector<std::string>> table_rows(const api::Json& table, const TableOptions& opts);
// Left-aligned columns separated by 3 spaces (kubectl's tabwriter), no trailing spaces.
std::string format_columns(const std::vector<std::vector<std::string>>& rows);
// Column widths computed over rows, for printing later rows of a watch aligned
// with the header (widths grow as needed).
std::string format_row(const std::vector<std::string>& row, std::vector<size_t>& widths);

// "k=v,k2=v2" or "<none>".
std::string labels_string(const api::Json& labels);

// The JSON merge patch that takes `current` to `modified`, deleting (null)
// the fields present in `original` (the last applied configuration) but
// absent from `modified`. Fields only in `current` (set by others) are kept.
// Lists are replaced whole. Returns an empty object when nothing changes.
api::Json three_way_merge_patch(const api::Json& original, const api::Json& modified, const api::Json& current);

// "5m", "3h", "2d" like kubectl's HumanDuration, from an RFC 3339 timestamp
// relative to now_unix (seconds). "<unknown>" when unparsable.
std::string human_age(const std::string& rfc3339, long long now_unix);

// What `describe` shows besides the object itself, fetched by the caller as
// kubectl does. Borrowed; any may be null (not fetched, or the fetch failed).
struct DescribeRelated {
  const api::Json* pods = nullptr;             // Node: PodList of its non-terminated pods
  const api::Json* lease = nullptr;            // Node: its Lease in kube-node-lease
  const api::Json* endpoint_slices = nullptr;  // Service: EndpointSliceList (label kubernetes.io/service-name)
  const api::Json* endpoints = nullptr;        // Service: its Endpoints (used without endpoint_slices)
  long long now_unix = 0;                      // for ages (pods on a node)
};

// kubectl describe rendering of one object (events rendered separately).
std::string describe_object(const api::Json& obj, const DescribeRelated& related = DescribeRelated());

// Display width of UTF-8 text (code points; kubectl's tabwriter counts the same).
size_t display_width(const std::string& s);
// "Events:" section from an EventList (or "Events:  <none>").
std::string describe_events(const api::Json& event_list, long long now_unix);

}  // namespace minik8s::cli
