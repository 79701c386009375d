#include "minik8s/client/client.h"
#include "minik8s/api/json.h"
#include "minik8s/util/url.h"

#include <nlohmann/json.hpp>

namespace minik8s::client {

using api::Json;

const char* patch_content_type(PatchType type) {
  switch (type) {
    case PatchType::kMerge: return "application/merge-patch+json";
    case PatchType::kJson: return "application/json-patch+json";
    case PatchType::kStrategic: return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

std::string Client::path(const api::ResourceType& type, const std::string& ns, const std::string& name,
                         const std::string& subresource) {
  std::string p = type.group.empty() ? "/api/" + type.version : "/apis/" + type.group + "/" + type.version;
  if (type.namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/" + type.plural;
  if (!name.empty()) {
    p += "/" + name;
    if (!subresource.empty()) p += "/" + subresource;
  }
  return p;
}

std::string Client::query(const ListOptions& opts, bool watch) {
  std::string q;
  auto add = [&](const std::string& k, const std::string& v) {
    q += q.empty() ? "?" : "&";
    q += k + "=" + url_encode(v);
  };
  if (watch) add("watch", "true");
  if (!opts.label_selector.empty()) add("labelSelector", opts.label_selector);
  if (!opts.field_selector.empty()) add("fieldSelector", opts.field_selector);
  if (opts.limit > 0 && !watch) add("limit", std::to_string(opts.limit));
  if (!opts.continue_token.empty() && !watch) add("continue", opts.continue_token);
  if (!opts.resource_version.empty()) add("resourceVersion", opts.resource_version);
  if (watch && opts.timeout_seconds > 0) add("timeoutSeconds", std::to_string(opts.timeout_seconds));
  if (watch && opts.allow_bookmarks) add("allowWatchBookmarks", "true");
  return q;
}

Result<Json> Client::call(const std::string& method, const std::string& path, const Json* body,
                          const std::string& content_type) {
  auto res = rest_.request(method, path, body ? body->dump() : "", content_type, "application/json");
  if (!res) return res.status();
  if (Status s = check_response(*res); !s) return s;
  if (res->body.empty()) return Json::object();
  auto parsed = api::parse_json_response(res->body);
  if (!parsed) {
    return internal_error("the server returned invalid JSON for " + method + " " + path + ": " +
                          parsed.status().message());
  }
  return parsed;
}

Result<Json> Client::create(const api::ResourceType& type, const Json& obj, const std::string& default_ns,
                            const std::string& extra_query) {
  std::string ns = api::meta_string(obj, "namespace");
  if (ns.empty()) ns = default_ns;
  return call("POST", path(type, type.namespaced ? ns : "") + extra_query, &obj);
}

Result<Json> Client::get(const api::ResourceType& type, const std::string& ns, const std::string& name) {
  return call("GET", path(type, ns, name), nullptr);
}

Result<Json> Client::list(const api::ResourceType& type, const std::string& ns, const ListOptions& opts) {
  return call("GET", path(type, ns) + query(opts, false), nullptr);
}

Result<Json> Client::update(const api::ResourceType& type, const Json& obj) {
  return call("PUT", path(type, api::meta_string(obj, "namespace"), api::meta_string(obj, "name")), &obj);
}

Result<Json> Client::update_status(const api::ResourceType& type, const Json& obj) {
  return call("PUT", path(type, api::meta_string(obj, "namespace"), api::meta_string(obj, "name"), "status"), &obj);
}

Result<Json> Client::patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                           PatchType patch_type, const Json& patch, const std::string& subresource) {
  return call("PATCH", path(type, ns, name, subresource), &patch, patch_content_type(patch_type));
}

Result<Json> Client::remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                            const Json* delete_options) {
  return call("DELETE", path(type, ns, name), delete_options);
}

namespace {

class JsonWatchStream final : public WatchEventStream {
 public:
  explicit JsonWatchStream(std::unique_ptr<LineStream> lines) : lines_(std::move(lines)) {}

  std::optional<WatchEvent> next(std::chrono::milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!ended_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() < 0) left = std::chrono::milliseconds(0);
      auto line = lines_->next(left);
      if (!line) {
        if (lines_->ended()) {
          ended_ = true;
          if (status_.is_ok()) status_ = lines_->status();
        }
        return std::nullopt;
      }
      if (line->empty()) continue;
      auto decoded = api::parse_json_response(*line);
      Json parsed = decoded ? std::move(decoded.value()) : Json();
      if (!parsed.is_object() || !parsed.contains("type") || !parsed["type"].is_string()) {
        ended_ = true;
        status_ = internal_error("malformed watch event: " + line->substr(0, 200));
        lines_->close();
        return std::nullopt;
      }
      WatchEvent ev;
      ev.type = parsed["type"].get<std::string>();
      Json object = parsed.contains("object") ? std::move(parsed["object"]) : Json::object();
      if (ev.type == "ERROR") {
        int code = object.is_object() && object.contains("code") && object["code"].is_number_integer()
                       ? object["code"].get<int>()
                       : 500;
        ended_ = true;
        status_ = status_from_response(code, object.dump());
        lines_->close();
        return std::nullopt;
      }
      ev.object = std::make_shared<const Json>(std::move(object));
      return ev;
    }
    return std::nullopt;
  }
  bool ended() const override { return ended_; }
  Status status() const override { return status_; }
  void close() override { lines_->close(); }

 private:
  std::unique_ptr<LineStream> lines_;
  bool ended_ = false;
  Status status_;
};

}  // namespace

Result<std::unique_ptr<WatchEventStream>> Client::watch(const api::ResourceType& type, const std::string& ns,
                                                        const ListOptions& opts) {
  auto lines = rest_.watch(path(type, ns) + query(opts, true), "application/json");
  if (!lines) return lines.status();
  return std::unique_ptr<WatchEventStream>(new JsonWatchStream(std::move(*lines)));
}

std::string object_key(const Json& obj) {
  std::string ns = api::meta_string(obj, "namespace");
  std::string name = api::meta_string(obj, "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::pair<std::string, std::string> split_key(const std::string& key) {
  auto slash = key.find('/');
  if (slash == std::string::npos) return {"", key};
  return {key.substr(0, slash), key.substr(slash + 1)};
}

}  // namespace minik8s::client
