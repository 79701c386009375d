// meta.k8s.io/v1 Table responses (table.h) from the kinds' Table hooks.
#include <nlohmann/json.hpp>

#include "kinds.h"
#include "minik8s/api/table.h"

namespace minik8s::api {

namespace {

Json column_json(const TableColumn& c) {
  return {{"name", c.name},
          {"type", c.type},
          {"format", c.format},
          {"description", c.description},
          {"priority", c.priority}};
}

TableColumn name_column(int priority) {
  TableColumn c;
  c.name = "NAME";
  c.type = "string";
  c.format = "name";
  c.description =
      "Name must be unique within a namespace. Is required when creating resources, although "
      "some resources may allow a client to request the generation of an appropriate name "
      "automatically. Name is primarily intended for creation idempotence and configuration "
      "definition. Cannot be updated.";
  c.priority = priority;
  return c;
}

}  // namespace

Json make_table(const ResourceType& type, const std::vector<Json>& objects,
                const Json& list_metadata, bool include_object) {
  // Events lead with LAST SEEN and show NAME only with -o wide, as Kubernetes does.
  const bool name_last = type.kind == "Event" && type.group.empty();
  std::vector<TableColumn> cols =
      type.table_columns ? type.table_columns() : std::vector<TableColumn>{tbl::age_column()};
  Json defs = Json::array();
  if (!name_last) defs.push_back(column_json(name_column(0)));
  for (const auto& c : cols) defs.push_back(column_json(c));
  if (name_last) defs.push_back(column_json(name_column(1)));

  Json rows = Json::array();
  for (const Json& obj : objects) {
    Json meta = obj.is_object() && obj.contains("metadata") && obj["metadata"].is_object()
                    ? obj["metadata"]
                    : Json::object();
    std::string name =
        meta.contains("name") && meta["name"].is_string() ? meta["name"].get<std::string>() : "";
    Json produced = type.table_cells ? type.table_cells(obj) : Json::array({tbl::age(obj)});
    if (!produced.is_array()) produced = Json::array();
    Json cells = Json::array();
    if (!name_last) cells.push_back(name);
    for (size_t i = 0; i < cols.size(); ++i) {
      cells.push_back(i < produced.size() ? produced[i] : Json(""));
    }
    if (name_last) cells.push_back(name);
    Json row = {{"cells", std::move(cells)}};
    if (include_object) {
      row["object"] = {{"kind", "PartialObjectMetadata"},
                       {"apiVersion", "meta.k8s.io/v1"},
                       {"metadata", std::move(meta)}};
    }
    rows.push_back(std::move(row));
  }
  return {{"kind", "Table"},
          {"apiVersion", "meta.k8s.io/v1"},
          {"metadata", list_metadata.is_object() ? list_metadata : Json::object()},
          {"columnDefinitions", std::move(defs)},
          {"rows", std::move(rows)}};
}

}  // namespace minik8s::api
