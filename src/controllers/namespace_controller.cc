#include "minik8s/apiserver/namespace_controller.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"

namespace minik8s::apiserver {

using nlohmann::json;

NamespaceController::NamespaceController(ApiServer& api, storage::Storage& store,
                                         std::chrono::milliseconds resync)
    : api_(api), store_(store), resync_(resync) {}

NamespaceController::~NamespaceController() { stop(); }

void NamespaceController::start() {
  thread_ = std::thread([this] { run(); });
}

void NamespaceController::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void NamespaceController::run() {
  std::unique_ptr<storage::WatchStream> watch;
  while (!stopping_) {
    if (!watch) {
      auto w = store_.watch("/registry/namespaces/", store_.current_revision());
      if (w) watch = std::move(w.value());
    }
    int waiting = reconcile_all();
    // Terminating namespaces are re-checked often; otherwise wait for a change.
    auto deadline = std::chrono::steady_clock::now() +
                    (waiting > 0 ? std::chrono::milliseconds(200) : resync_);
    while (!stopping_ && std::chrono::steady_clock::now() < deadline) {
      if (!watch) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      auto ev = watch->next(std::chrono::milliseconds(100));
      if (ev) break;
      if (!watch->status().is_ok()) watch.reset();
    }
  }
}

int NamespaceController::reconcile_all() {
  LocalResponse r = api_.local_request("GET", "/api/v1/namespaces");
  if (r.code != 200) return 0;
  auto parsed = api::parse_json_response(r.body);
  json list = parsed ? std::move(parsed.value()) : json();
  if (!list.is_object() || !list.contains("items") || !list["items"].is_array()) return 0;
  int waiting = 0;
  for (const auto& ns : list["items"]) {
    if (!ns.is_object() || !ns.contains("metadata")) continue;
    const json& m = ns["metadata"];
    if (!m.contains("deletionTimestamp") || !m.contains("name") || !m["name"].is_string()) continue;
    try {
      if (!reconcile(m["name"].get<std::string>())) ++waiting;
    } catch (const std::exception& e) {
      spdlog::warn("namespace controller: {}", e.what());
      ++waiting;
    }
  }
  return waiting;
}

bool NamespaceController::reconcile(const std::string& ns) {
  int remaining = 0;
  for (const api::ResourceType* t : api::all_resources()) {
    if (!t->namespaced) continue;
    std::string base = t->group.empty() ? "/api/" + t->version
                                        : "/apis/" + t->group + "/" + t->version;
    std::string coll = base + "/namespaces/" + ns + "/" + t->plural;
    LocalResponse r = api_.local_request("GET", coll);
    if (r.code != 200) continue;
    auto parsed = api::parse_json_response(r.body);
    json list = parsed ? std::move(parsed.value()) : json();
    if (!list.is_object() || !list.contains("items") || !list["items"].is_array()) continue;
    for (const auto& item : list["items"]) {
      ++remaining;
      const json& m = item["metadata"];
      if (m.contains("deletionTimestamp")) continue;  // already going
      std::string name = m.value("name", "");
      LocalResponse d = api_.local_request("DELETE", coll + "/" + name,
                                           R"({"propagationPolicy":"Background"})",
                                           {{"Content-Type", "application/json"}});
      if (d.code != 200 && d.code != 404) {
        spdlog::debug("namespace controller: delete {}/{}: {} {}", coll, name, d.code, d.body);
      }
    }
  }
  // Finalize only after a pass that found nothing left: objects deleted in
  // this pass (or created while it ran) are seen by the next one.
  if (remaining > 0) return false;
  LocalResponse get = api_.local_request("GET", "/api/v1/namespaces/" + ns);
  if (get.code != 200) return get.code == 404;
  auto parsed = api::parse_json_response(get.body);
  json obj = parsed ? std::move(parsed.value()) : json();
  if (!obj.is_object()) return false;
  obj["spec"]["finalizers"] = json::array();
  LocalResponse fin = api_.local_request("PUT", "/api/v1/namespaces/" + ns + "/finalize",
                                         obj.dump(), {{"Content-Type", "application/json"}});
  if (fin.code != 200) {
    spdlog::debug("namespace controller: finalize {}: {} {}", ns, fin.code, fin.body);
    return fin.code == 404;
  }
  spdlog::info("namespace {} deleted", ns);
  return true;
}

}  // namespace minik8s::apiserver
