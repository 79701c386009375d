// Client: typed-ish CRUD + watch helpers over a RestClient, keyed by the kind
// table's ResourceType (group/version/plural/namespaced decide the URL).
//
// Objects are JSON values in the Kubernetes wire shape. Every error answer of
// the server comes back as the matching Status (kNotFound, kAlreadyExists,
// kConflict, kInvalid, kGone, ...) carrying the server's message.
// Thread safety: as thread-safe as the RestClient (the real one is); a Client
// only borrows the RestClient, which must outlive it. A WatchEventStream has
// one reader; close() may be called from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "minik8s/api/json.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/rest_client.h"

namespace minik8s::client {

struct ListOptions {
  std::string label_selector;
  std::string field_selector;
  int64_t limit = 0;             // 0 = all
  std::string continue_token;
  std::string resource_version;  // list: "0" = any; watch: start after this revision
  int64_t timeout_seconds = 0;   // watch: server-side end of the stream (0 = server default)
  bool allow_bookmarks = false;
};

enum class PatchType { kMerge, kJson, kStrategic };
const char* patch_content_type(PatchType type);

struct WatchEvent {
  std::string type;  // ADDED, MODIFIED, DELETED, BOOKMARK, ERROR
  std::shared_ptr<const api::Json> object;
};

class WatchEventStream {
 public:
  virtual ~WatchEventStream() = default;
  // Next event; std::nullopt on timeout (ended() false) or end of stream
  // (ended() true; status() has the error — an ERROR event with a 410 Status
  // ends the stream with kGone).
  virtual std::optional<WatchEvent> next(std::chrono::milliseconds timeout) = 0;
  virtual bool ended() const = 0;
  virtual Status status() const = 0;
  virtual void close() = 0;
};

class Client {
 public:
  explicit Client(RestClient& rest) : rest_(rest) {}

  RestClient& rest() { return rest_; }

  // "/api/v1/namespaces/NS/pods[/NAME[/SUB]]"; ns "" for cluster-scoped kinds
  // or for a list across all namespaces.
  static std::string path(const api::ResourceType& type, const std::string& ns, const std::string& name = "",
                          const std::string& subresource = "");
  // "?labelSelector=...&..." (or "") for the options.
  static std::string query(const ListOptions& opts, bool watch);

  // The namespace comes from obj.metadata.namespace (default_ns when absent).
  Result<api::Json> create(const api::ResourceType& type, const api::Json& obj, const std::string& default_ns = "default",
                           const std::string& extra_query = "");
  Result<api::Json> get(const api::ResourceType& type, const std::string& ns, const std::string& name);
  // The List object ({"items": [...], "metadata": {"resourceVersion", "continue"}}).
  Result<api::Json> list(const api::ResourceType& type, const std::string& ns, const ListOptions& opts = {});
  // PUT with obj's metadata.resourceVersion (kConflict when stale).
  Result<api::Json> update(const api::ResourceType& type, const api::Json& obj);
  Result<api::Json> update_status(const api::ResourceType& type, const api::Json& obj);
  Result<api::Json> patch(const api::ResourceType& type, const std::string& ns, const std::string& name,
                          PatchType patch_type, const api::Json& patch, const std::string& subresource = "");
  // delete_options: a DeleteOptions object or null. Returns what the server
  // answered (the object or a Status).
  Result<api::Json> remove(const api::ResourceType& type, const std::string& ns, const std::string& name,
                           const api::Json* delete_options = nullptr);
  Result<std::unique_ptr<WatchEventStream>> watch(const api::ResourceType& type, const std::string& ns,
                                                  const ListOptions& opts);

 private:
  Result<api::Json> call(const std::string& method, const std::string& path, const api::Json* body,
                         const std::string& content_type = "application/json");
  RestClient& rest_;
};

// "ns/name", or "name" for objects without a namespace.
std::string object_key(const api::Json& obj);
// Splits "ns/name" into {ns, name} ({"", name} without a slash).
std::pair<std::string, std::string> split_key(const std::string& key);

}  // namespace minik8s::client
