// FakeRestClient: an in-memory Kubernetes-style API behind the RestClient
// interface, for unit tests of clients, informers and controllers.
//
// Paths: /api/v1[/namespaces/NS]/PLURAL[/NAME[/status]] and
// /apis/GROUP/VERSION[/namespaces/NS]/PLURAL[/NAME[/status]]. Verbs: GET
// (get/list with labelSelector "k=v,k2=v2" equality terms), POST (409
// AlreadyExists), PUT (409 Conflict on a stale metadata.resourceVersion),
// PATCH (merge patch), DELETE, and watch (?watch=true&resourceVersion=N)
// from a global resourceVersion counter. compact() makes older watches get
// a 410 Expired ERROR event; end_watches() ends every open watch stream
// cleanly (as a server-side timeout would). fail_next(n, status) makes the
// next n requests fail at the transport level.
// Thread-safe. Header-only.
#pragma once

#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "minik8s/client/rest_client.h"

namespace minik8s::testing {

class FakeRestClient : public client::RestClient {
 public:
  using Json = nlohmann::json;

  struct Request {
    std::string method, path, body, content_type, accept;
  };

  Result<client::HttpResponse> request(const std::string& method, const std::string& path_q,
                                       const std::string& body, const std::string& content_type,
                                       const std::string& accept) override {
    std::unique_lock lock(mu_);
    requests_.push_back({method, path_q, body, content_type, accept});
    if (fail_next_ > 0) {
      fail_next_--;
      return fail_status_;
    }
    Path p = parse(path_q);
    if (!p.ok) return reply(404, status_json(404, "NotFound", "the server could not find the requested resource"));
    if (method == "GET" && p.name.empty()) return list(p);
    if (method == "GET") {
      auto it = objects_.find(key(p));
      if (it == objects_.end()) return not_found(p);
      return reply(200, it->second);
    }
    if (method == "POST") {
      auto obj = Json::parse(body, nullptr, false);
      if (!obj.is_object()) return reply(400, status_json(400, "BadRequest", "invalid body"));
      std::string name = obj["metadata"].value("name", "");
      if (name.empty()) return reply(422, status_json(422, "Invalid", "metadata.name: Required value"));
      p.name = name;
      if (objects_.count(key(p))) {
        return reply(409, status_json(409, "AlreadyExists", p.plural + " \"" + name + "\" already exists"));
      }
      if (!p.ns.empty()) obj["metadata"]["namespace"] = p.ns;
      obj["metadata"]["uid"] = "uid-" + std::to_string(rv_ + 1);
      return write(p, std::move(obj), "ADDED", 201);
    }
    auto it = objects_.find(key(p));
    if (it == objects_.end()) return not_found(p);
    if (method == "PUT") {
      auto obj = Json::parse(body, nullptr, false);
      if (!obj.is_object()) return reply(400, status_json(400, "BadRequest", "invalid body"));
      std::string want = obj["metadata"].value("resourceVersion", "");
      if (!want.empty() && want != it->second["metadata"].value("resourceVersion", "")) {
        return reply(409, status_json(409, "Conflict",
                                      "Operation cannot be fulfilled on " + p.plural + " \"" + p.name +
                                          "\": the object has been modified; please apply your changes to the "
                                          "latest version and try again"));
      }
      obj["metadata"]["uid"] = it->second["metadata"]["uid"];
      if (!p.ns.empty()) obj["metadata"]["namespace"] = p.ns;
      return write(p, std::move(obj), "MODIFIED", 200);
    }
    if (method == "PATCH") {
      auto patch = Json::parse(body, nullptr, false);
      if (!patch.is_object()) return reply(400, status_json(400, "BadRequest", "invalid patch"));
      Json obj = it->second;
      obj.merge_patch(patch);
      return write(p, std::move(obj), "MODIFIED", 200);
    }
    if (method == "DELETE") {
      Json obj = it->second;
      objects_.erase(it);
      rv_++;
      obj["metadata"]["resourceVersion"] = std::to_string(rv_);
      events_.push_back({rv_, p.collection, p.ns, "DELETED", obj});
      cv_.notify_all();
      return reply(200, obj);
    }
    return reply(405, status_json(405, "MethodNotAllowed", "method not allowed"));
  }

  Result<std::unique_ptr<client::LineStream>> watch(const std::string& path_q, const std::string&) override {
    std::unique_lock lock(mu_);
    requests_.push_back({"WATCH", path_q, "", "", ""});
    if (fail_next_ > 0) {
      fail_next_--;
      return fail_status_;
    }
    Path p = parse(path_q);
    if (!p.ok) return not_found_status();
    int64_t from = 0;
    if (auto v = p.query.find("resourceVersion"); v != p.query.end() && !v->second.empty()) {
      from = std::stoll(v->second);
    }
    auto s = std::make_unique<Stream>(*this, p, from, epoch_);
    return std::unique_ptr<client::LineStream>(std::move(s));
  }

  // Test controls.
  int64_t resource_version() {
    std::lock_guard lock(mu_);
    return rv_;
  }
  void compact() {
    std::lock_guard lock(mu_);
    compacted_ = rv_;
    events_.clear();
    cv_.notify_all();
  }
  void end_watches() {
    std::lock_guard lock(mu_);
    epoch_++;
    cv_.notify_all();
  }
  void fail_next(int n, Status s) {
    std::lock_guard lock(mu_);
    fail_next_ = n;
    fail_status_ = std::move(s);
  }
  std::vector<Request> requests() {
    std::lock_guard lock(mu_);
    return requests_;
  }
  size_t count(const std::string& method) {
    std::lock_guard lock(mu_);
    size_t n = 0;
    for (auto& r : requests_) n += r.method == method;
    return n;
  }

 private:
  struct Path {
    bool ok = false;
    std::string collection;  // "/api/v1/pods", "/apis/apps/v1/deployments"
    std::string ns, plural, name, sub;
    std::map<std::string, std::string> query;
  };
  struct Event {
    int64_t rv;
    std::string collection, ns, type;
    Json object;
  };

  static std::string decode(const std::string& s) {
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (s[i] == '%' && i + 2 < s.size()) {
        out.push_back(static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16)));
        i += 2;
      } else {
        out.push_back(s[i] == '+' ? ' ' : s[i]);
      }
    }
    return out;
  }
  static Path parse(const std::string& path_q) {
    Path p;
    std::string path = path_q.substr(0, path_q.find('?'));
    if (auto q = path_q.find('?'); q != std::string::npos) {
      std::stringstream ss(path_q.substr(q + 1));
      std::string kv;
      while (std::getline(ss, kv, '&')) {
        auto eq = kv.find('=');
        p.query[kv.substr(0, eq)] = eq == std::string::npos ? "" : decode(kv.substr(eq + 1));
      }
    }
    std::vector<std::string> seg;
    std::stringstream ss(path);
    std::string s;
    while (std::getline(ss, s, '/')) {
      if (!s.empty()) seg.push_back(s);
    }
    size_t i;
    std::string prefix;
    if (seg.size() >= 2 && seg[0] == "api") {
      prefix = "/api/" + seg[1];
      i = 2;
    } else if (seg.size() >= 3 && seg[0] == "apis") {
      prefix = "/apis/" + seg[1] + "/" + seg[2];
      i = 3;
    } else {
      return p;
    }
    if (seg.size() > i + 2 && seg[i] == "namespaces") {
      p.ns = seg[i + 1];
      i += 2;
    }
    if (seg.size() <= i) return p;
    p.plural = seg[i];
    if (seg.size() > i + 1) p.name = seg[i + 1];
    if (seg.size() > i + 2) p.sub = seg[i + 2];
    p.collection = prefix + "/" + p.plural;
    p.ok = true;
    return p;
  }
  static std::string key(const Path& p) { return p.collection + "|" + p.ns + "|" + p.name; }
  static Json status_json(int code, const std::string& reason, const std::string& msg) {
    return {{"kind", "Status"}, {"apiVersion", "v1"}, {"status", "Failure"},
            {"message", msg},   {"reason", reason},   {"code", code}};
  }
  static client::HttpResponse reply(int code, const Json& body) {
    return client::HttpResponse{code, "application/json", body.dump()};
  }
  client::HttpResponse not_found(const Path& p) {
    return reply(404, status_json(404, "NotFound", p.plural + " \"" + p.name + "\" not found"));
  }
  static Status not_found_status() { return Status(Code::kNotFound, "the server could not find the requested resource"); }

  static bool labels_match(const Json& obj, const std::string& selector) {
    std::stringstream ss(selector);
    std::string term;
    while (std::getline(ss, term, ',')) {
      auto eq = term.find('=');
      if (eq == std::string::npos) continue;
      std::string k = term.substr(0, eq), v = term.substr(eq + 1);
      const Json* labels = obj.contains("metadata") && obj["metadata"].contains("labels") ? &obj["metadata"]["labels"] : nullptr;
      if (!labels || !labels->contains(k) || (*labels)[k] != v) return false;
    }
    return true;
  }

  client::HttpResponse list(const Path& p) {
    Json items = Json::array();
    std::string sel = p.query.count("labelSelector") ? p.query.at("labelSelector") : "";
    for (auto& [k, obj] : objects_) {
      if (k.rfind(p.collection + "|" + (p.ns.empty() ? "" : p.ns + "|"), 0) != 0) continue;
      if (!labels_match(obj, sel)) continue;
      items.push_back(obj);
    }
    return reply(200, {{"kind", "List"}, {"apiVersion", "v1"},
                       {"metadata", {{"resourceVersion", std::to_string(rv_)}}}, {"items", items}});
  }

  client::HttpResponse write(const Path& p, Json obj, const std::string& type, int code) {
    rv_++;
    obj["metadata"]["resourceVersion"] = std::to_string(rv_);
    obj["metadata"]["name"] = p.name;
    objects_[key(p)] = obj;
    events_.push_back({rv_, p.collection, p.ns, type, obj});
    cv_.notify_all();
    return reply(code, obj);
  }

  class Stream : public client::LineStream {
   public:
    Stream(FakeRestClient& f, Path p, int64_t from, int epoch) : f_(f), p_(std::move(p)), at_(from), epoch_(epoch) {}
    std::optional<std::string> next(std::chrono::milliseconds timeout) override {
      std::unique_lock lock(f_.mu_);
      auto deadline = std::chrono::steady_clock::now() + timeout;
      while (true) {
        if (closed_ || f_.epoch_ != epoch_) {
          ended_ = true;
          return std::nullopt;
        }
        if (at_ < f_.compacted_) {
          ended_ = true;
          closed_ = true;
          return Json{{"type", "ERROR"}, {"object", status_json(410, "Expired", "too old resource version")}}.dump();
        }
        std::string sel = p_.query.count("labelSelector") ? p_.query.at("labelSelector") : "";
        for (auto& e : f_.events_) {
          if (e.rv <= at_) continue;
          at_ = e.rv;
          if (e.collection != p_.collection || (!p_.ns.empty() && e.ns != p_.ns) || !labels_match(e.object, sel)) {
            continue;
          }
          return Json{{"type", e.type}, {"object", e.object}}.dump();
        }
        if (f_.cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
          if (closed_ || f_.epoch_ != epoch_) continue;
          return std::nullopt;
        }
      }
    }
    bool ended() const override {
      std::lock_guard lock(f_.mu_);
      return ended_;
    }
    Status status() const override { return Status::ok(); }
    void close() override {
      std::lock_guard lock(f_.mu_);
      closed_ = true;
      f_.cv_.notify_all();
    }

   private:
    FakeRestClient& f_;
    Path p_;
    int64_t at_;
    int epoch_;
    bool closed_ = false;  // guarded by f_.mu_
    bool ended_ = false;   // guarded by f_.mu_
  };

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Json> objects_;
  std::deque<Event> events_;
  int64_t rv_ = 100;
  int64_t compacted_ = 0;
  int epoch_ = 0;
  int fail_next_ = 0;
  Status fail_status_;
  std::vector<Request> requests_;
};

}  // namespace minik8s::testing
