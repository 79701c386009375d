// Internal: the per-group kind definitions (kinds_*.cc) that resource.cc
// gathers into the kind table, and helpers their Table hooks share.
#pragma once

#include <string>
#include <vector>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"

namespace minik8s::api {

// Append the group's kinds, in discovery order. Each returns statics.
void add_core_kinds(std::vector<const ResourceType*>& out);
void add_apps_kinds(std::vector<const ResourceType*>& out);
void add_other_kinds(std::vector<const ResourceType*>& out);
void add_discovery_kinds(std::vector<const ResourceType*>& out);
void add_serverless_kinds(std::vector<const ResourceType*>& out);
void add_workflow_kinds(std::vector<const ResourceType*>& out);
void add_gpu_kinds(std::vector<const ResourceType*>& out);
void add_auth_kinds(std::vector<const ResourceType*>& out);
void add_rbac_kinds(std::vector<const ResourceType*>& out);
void add_authorization_kinds(std::vector<const ResourceType*>& out);
void add_certificates_kinds(std::vector<const ResourceType*>& out);

namespace tbl {

TableColumn col(const char* name, const char* type, const char* description, int priority = 0);
// The AGE column and its cell ("5m" from metadata.creationTimestamp, "<unknown>").
TableColumn age_column();
std::string age(const Json& obj);
// "<none>" for empty strings.
std::string or_none(const std::string& s);
// A label selector object rendered as kubectl does ("app=web,tier in (a,b)").
std::string selector_string(const Json& selector);
// "c1,c2" and "img1,img2" from a pod spec's containers.
std::string container_names(const Json& pod_spec);
std::string container_images(const Json& pod_spec);
// Integer member or 0.
long long num(const Json& obj, const char* key);

}  // namespace tbl

// Unknown-field hook via the kind's schema (schema.h).
void unknown_fields_for(const std::string& group, const std::string& kind, const Json& obj,
                        std::vector<std::string>& paths);

}  // namespace minik8s::api
