// FunctionController: a client::Controller keyed by Function ("ns/name"),
// docs/serverless.md "Instances" and "Warm pool". Shared informers on
// Functions and Pods (an index on the function label); handlers only enqueue.
//
// reconcile(key), in the order that keeps a held request's wait short:
//   1. revision: the hash of what the runtime sees (runtime, handler, code,
//      env, resources, timeout); a new hash is a new revision;
//   2. register the function in the InstanceTable and the Autoscaler;
//   3. sort its pods: ready (initialised for this revision: added to the
//      table), starting, Running but not initialised (/init them), old
//      revision or draining (deleted once idle), failed (deleted);
//   4. scale up to the autoscaler's recommendation: claim Ready pool pods
//      (POST /init, add_instance at once, then relabel + ownerReference),
//      create instance pods for the rest; scale down by draining;
//   5. write status (through the status subresource) when it changed.
// /init calls run in parallel, on threads of the reconcile that started them.
//
// In-process state (rebuilt from the caches after a restart): claims whose
// relabel the cache has not shown yet, created pods not yet cached, the last
// status written (the cache may lag it: a revision must not be bumped
// twice), the revision whose code the runtime refused, fetched code.
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "minik8s/api/selector.h"
#include "minik8s/client/code.h"
#include "minik8s/client/controller.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/client/informer.h"
#include "minik8s/serverless/controllers.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/hash.h"
#include "pod_http.h"
#include "runtime_pods.h"

namespace minik8s::serverless {

using api::field;
using api::sfield;
using client::ObjectPtr;
using Steady = std::chrono::steady_clock;

namespace {

constexpr const char* kFunctionIndex = "serverless-function";
constexpr auto kExpectationTimeout = std::chrono::seconds(30);
constexpr auto kFunctionResync = std::chrono::seconds(10);
constexpr const char* kComponent = "function-controller";

std::string ns_of(const Json& obj) { return sfield(field(obj, "metadata"), "namespace"); }
std::string name_of(const Json& obj) { return sfield(field(obj, "metadata"), "name"); }
std::string uid_of(const Json& obj) { return sfield(field(obj, "metadata"), "uid"); }
std::string rv_of(const Json& obj) { return sfield(field(obj, "metadata"), "resourceVersion"); }

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string sha256_hex(const std::string& data) {
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), md);
  std::string out;
  static const char* kHex = "0123456789abcdef";
  for (unsigned char c : md) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

// What a revision is made of: everything the runtime sees. Scale is not.
std::string revision_hash(const Json& spec) {
  const Json& code = field(spec, "code");
  Json basis = {{"runtime", field(spec, "runtime")},
                {"handler", field(spec, "handler")},
                {"code",
                 {{"hash", field(code, "hash")},
                  {"inline", field(code, "inline")},
                  {"filename", field(code, "filename")}}},
                {"env", field(spec, "env")},
                {"resources", field(spec, "resources")},
                {"timeoutSeconds", field(spec, "timeoutSeconds")}};
  return hex64(fnv1a64(basis.dump()));
}

std::string code_hash(const Json& spec) {
  const Json& code = field(spec, "code");
  std::string h = sfield(code, "hash");
  if (!h.empty()) return h;
  const Json& in = field(code, "inline");
  return in.is_string() ? "sha256:" + sha256_hex(in.get<std::string>()) : "";
}

int int_or(const Json& obj, const char* key, int dflt) {
  const Json& v = field(obj, key);
  return v.is_number_integer() ? static_cast<int>(v.get<int64_t>()) : dflt;
}

bool owned_by(const Json& pod, const std::string& uid) {
  for (const Json& o : api::afield(field(pod, "metadata"), "ownerReferences")) {
    if (sfield(o, "uid") == uid) return true;
  }
  return false;
}

// The first line of the runtime's refusal ("message" of its JSON), or the body.
std::string init_error_message(const std::string& body) {
  std::string msg = body;
  auto j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("message") && j["message"].is_string())
    msg = j["message"].get<std::string>();
  auto nl = msg.find('\n');
  if (nl != std::string::npos) msg.resize(nl);
  if (msg.size() > 1024) msg.resize(1024);
  return msg;
}

Json condition(const char* type, bool ok, const std::string& reason, const std::string& message) {
  Json c = {{"type", type}, {"status", ok ? "True" : "False"}};
  if (!reason.empty()) c["reason"] = reason;
  if (!message.empty()) c["message"] = message;
  return c;
}

}  // namespace

struct FunctionController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, InstanceTable& t, Autoscaler& a,
       FunctionControllerOptions o, Clock& clk)
      : client::Controller(
            f, {kComponent, o.workers, std::chrono::milliseconds(5), std::chrono::seconds(5)}, clk),
        table(t),
        autoscaler(a),
        opts(std::move(o)),
        events(f.client(), {kComponent, ""}) {}
  ~Impl() override { stop(); }

  InstanceTable& table;
  Autoscaler& autoscaler;
  const FunctionControllerOptions opts;
  client::EventRecorder events;
  const api::ResourceType* functions_type = nullptr;
  const api::ResourceType* pods_type = nullptr;
  client::Informer* functions = nullptr;
  client::Informer* pods = nullptr;

  struct Claim {
    std::string key;
    std::string node;
    std::string uid;  // the pod's
    Steady::time_point at;
  };
  struct Invalid {
    std::string revision_hash;
    std::string message;
  };
  struct Registered {
    FunctionConfig cfg;
    ScaleSettings scale;
  };

  std::mutex mu;
  // Guarded by mu:
  std::map<std::string, std::string> code_cache;                // hash → bytes
  std::map<std::string, std::pair<std::string, Json>> written;  // key → {uid, status last written}
  std::map<std::string, Invalid> refused;                       // key → the refused revision
  std::map<std::string, Claim> claimed;  // "ns/pod" → claim not yet seen relabelled
  std::map<std::string, std::set<std::string>> failed;  // key → pods the gateway saw die
  std::map<std::string, std::map<std::string, std::pair<std::string, Steady::time_point>>>
      creating;                                  // key → pod → {revision, when}
  std::map<std::string, Registered> registered;  // key → last registration
  // "ns/pod" → {uid, revision} /init'ed, until the cache shows the annotation.
  std::map<std::string, std::pair<std::string, std::string>> inited;
  std::map<std::string, std::pair<int, Steady::time_point>>
      demand_floor;  // key → {instances, since}

  std::jthread failed_poller;  // on_synced() .. on_stopped()

  void public_enqueue(const std::string& key) { enqueue(key); }

  void record(const Json& obj, const std::string& type, const std::string& reason,
              const std::string& msg) {
    events.record(obj, kApiVersion, "Function", type, reason, msg);
  }

  // ---- setup and handlers

  Status setup() override {
    functions_type = api::find_kind(kApiVersion, "Function");
    pods_type = api::find_kind("v1", "Pod");
    if (!functions_type || !pods_type)
      return internal_error("the kind table lacks Function or Pod");
    client::InformerOptions fo;
    fo.resync = kFunctionResync;  // picks up instances the gateway saw fail between pod events
    functions = &factory().informer(*functions_type, fo);
    pods = &factory().informer(*pods_type);
    pods->add_index(kFunctionIndex, [](const Json& pod) -> std::vector<std::string> {
      std::string fn = label(pod, kLabelFunction);
      if (fn.empty()) return {};
      return {ns_of(pod) + "/" + fn};
    });
    auto on_fn = [this](const ObjectPtr& o) { enqueue(client::object_key(*o)); };
    watch(*functions, {on_fn, [on_fn](const ObjectPtr&, const ObjectPtr& o) { on_fn(o); }, on_fn});
    watch(*pods, {[this](const ObjectPtr& p) { on_pod(nullptr, *p); },
                  [this](const ObjectPtr& a, const ObjectPtr& b) {
                    if (rv_of(*a) != rv_of(*b)) on_pod(a.get(), *b);
                  },
                  [this](const ObjectPtr& p) { on_pod(nullptr, *p); }});
    events.start();
    return Status::ok();
  }

  // The gateway marks an instance failed in the table without any API
  // change; this thread notices within failed_poll and queues its function.
  void on_synced() override {
    failed_poller = std::jthread([this](std::stop_token st) {
      std::mutex m;
      std::condition_variable_any cv;
      std::unique_lock l(m);
      while (!st.stop_requested()) {
        collect_failed("");
        cv.wait_for(l, st, std::chrono::milliseconds(100), [] { return false; });
      }
    });
  }

  void on_stopped() override {
    failed_poller = {};  // requests stop and joins
    events.stop();
  }

  void on_pod(const Json* old_pod, const Json& pod) {
    std::string ns = ns_of(pod);
    std::string fn = label(pod, kLabelFunction);
    if (!fn.empty()) enqueue(ns + "/" + fn);
    if (old_pod) {
      std::string old_fn = label(*old_pod, kLabelFunction);
      if (!old_fn.empty() && old_fn != fn) enqueue(ns + "/" + old_fn);
    }
    // A pool pod that became Ready may serve a function with requests waiting.
    if (label(pod, kLabelPool) == "true" && pod_serving(pod) &&
        !(old_pod && pod_serving(*old_pod))) {
      for (const auto& f : functions->indexer().by_index(client::kNamespaceIndex, ns)) {
        std::string key = client::object_key(*f);
        if (table.load(key).queued > 0) enqueue(key);
      }
    }
  }

  // ---- helpers

  RuntimeEndpoint endpoint_of(const Json& pod) const {
    if (opts.endpoint) return opts.endpoint(pod);
    RuntimeEndpoint ep;
    ep.ip = sfield(field(pod, "status"), "podIP");
    for (const Json& c : api::afield(field(pod, "spec"), "containers")) {
      for (const Json& p : api::afield(c, "ports")) {
        if (sfield(p, "name") == "http" && field(p, "containerPort").is_number_integer()) {
          ep.port = static_cast<int>(field(p, "containerPort").get<int64_t>());
        }
      }
    }
    return ep;
  }

  InstanceRef instance_ref(const Json& pod, const std::string& rev) const {
    RuntimeEndpoint ep = endpoint_of(pod);
    InstanceRef r;
    r.pod = name_of(pod);
    r.node = sfield(field(pod, "spec"), "nodeName");
    r.ip = ep.ip;
    r.port = ep.port;
    r.revision = rev;
    return r;
  }

  Result<std::string> code_bytes(const Json& spec) {
    const Json& code = field(spec, "code");
    const Json& in = field(code, "inline");
    if (in.is_string()) return in.get<std::string>();
    std::string hash = sfield(code, "hash");
    if (hash.empty()) return invalid("spec.code has neither hash nor inline");
    {
      std::lock_guard l(mu);
      auto it = code_cache.find(hash);
      if (it != code_cache.end()) return it->second;
    }
    Result<std::string> bytes =
        opts.fetch_code ? opts.fetch_code(hash) : client::download_code(api_client().rest(), hash);
    if (!bytes) return bytes;
    std::lock_guard l(mu);
    code_cache[hash] = *bytes;
    return bytes;
  }

  std::string init_payload(const Json& fn, const std::string& rev, const std::string& code) const {
    const Json& spec = field(fn, "spec");
    Json env = Json::object();
    for (const Json& e : api::afield(spec, "env")) {
      if (!sfield(e, "name").empty()) env[sfield(e, "name")] = sfield(e, "value");
    }
    std::string filename = sfield(field(spec, "code"), "filename");
    if (filename.empty()) filename = "main.py";
    std::string handler = sfield(spec, "handler");
    if (handler.empty()) handler = "main.handler";
    Json p = {{"namespace", ns_of(fn)},
              {"function", name_of(fn)},
              {"revision", rev},
              {"handler", handler},
              {"filename", filename},
              {"code", base64_encode(code)},
              {"env", env},
              {"timeoutSeconds", int_or(spec, "timeoutSeconds", 60)}};
    return p.dump();
  }

  enum class InitOutcome { kOk, kInvalid, kError };
  struct InitTask {
    ObjectPtr pod;
    bool claim = false;  // a pool pod: relabel after /init
    InitOutcome outcome = InitOutcome::kError;
    std::string message;
    bool unreachable = false;  // no HTTP answer
  };

  // POST /init, add_instance on 200, then write the pod (relabel a claimed
  // pool pod, or annotate a created one).
  void run_init(InitTask& t, const Json& fn, const std::string& key, const std::string& rev,
                const std::string& payload) {
    const Json& pod = *t.pod;
    RuntimeEndpoint ep = endpoint_of(pod);
    auto r = pod_http(ep.ip, ep.port, "POST", "/init", payload, opts.init_timeout);
    if (!r) {
      t.message = r.status().message();
      t.unreachable = true;
      return;
    }
    if (r->status == 400) {
      t.outcome = InitOutcome::kInvalid;
      t.message = init_error_message(r->body);
      return;
    }
    if (r->status != 200) {
      t.message = "/init of pod " + name_of(pod) + " answered " + std::to_string(r->status) + ": " +
                  init_error_message(r->body);
      return;
    }
    table.add_instance(key, instance_ref(pod, rev));
    t.outcome = InitOutcome::kOk;
    {
      std::lock_guard l(mu);
      inited[ns_of(pod) + "/" + name_of(pod)] = {uid_of(pod), rev};
    }
    Status st = t.claim ? relabel(pod, fn, rev) : annotate(pod, {{kAnnotationInitialized, rev}});
    if (!st.is_ok()) {
      spdlog::warn("{}: pod {}/{} initialised for {} but not updated: {}", kComponent, ns_of(pod),
                   name_of(pod), key, st.message());
      t.message = st.message();
    }
  }

  // The claim made visible: pool label off, function/revision labels on,
  // initialized, owned by the Function. A PUT with resourceVersion, retried
  // on conflict against a fresh read.
  Status relabel(const Json& cached, const Json& fn, const std::string& rev) {
    Json pod = cached;
    Status st = Status::ok();
    for (int attempt = 0; attempt < 5; ++attempt) {
      if (attempt > 0) {
        auto g = api_client().get(*pods_type, ns_of(cached), name_of(cached));
        if (!g) return g.status();
        pod = std::move(*g);
        if (uid_of(pod) != uid_of(cached))
          return not_found("pod " + name_of(cached) + " was replaced");
      }
      Json& meta = pod["metadata"];
      if (!meta["labels"].is_object()) meta["labels"] = Json::object();
      meta["labels"].erase(kLabelPool);
      meta["labels"][kLabelFunction] = name_of(fn);
      meta["labels"][kLabelRevision] = rev;
      if (!meta["annotations"].is_object()) meta["annotations"] = Json::object();
      meta["annotations"][kAnnotationInitialized] = rev;
      meta["ownerReferences"] = Json::array({{{"apiVersion", kApiVersion},
                                              {"kind", "Function"},
                                              {"name", name_of(fn)},
                                              {"uid", uid_of(fn)},
                                              {"controller", true},
                                              {"blockOwnerDeletion", true}}});
      auto r = api_client().update(*pods_type, pod);
      if (r) return Status::ok();
      st = r.status();
      if (st.code() != Code::kConflict) return st;
    }
    return st;
  }

  Status annotate(const Json& pod, const std::map<std::string, std::string>& ann) {
    Json a = Json::object();
    for (const auto& [k, v] : ann) a[k] = v;
    auto r = api_client().patch(*pods_type, ns_of(pod), name_of(pod), client::PatchType::kMerge,
                                {{"metadata", {{"annotations", a}}}});
    return r ? Status::ok() : r.status();
  }

  Status delete_pod(const std::string& key, const std::string& ns, const std::string& pod) {
    table.remove_instance(key, pod);
    {
      std::lock_guard l(mu);
      inited.erase(ns + "/" + pod);
    }
    auto r = api_client().remove(*pods_type, ns, pod);
    if (!r && r.status().code() != Code::kNotFound) return r.status();
    return Status::ok();
  }

  // Moves the table's failed instances into `failed` and queues their functions.
  void collect_failed(const std::string& current) {
    auto f = table.take_failed();
    if (f.empty()) return;
    std::set<std::string> others;
    {
      std::lock_guard l(mu);
      for (auto& [key, pod] : f) {
        failed[key].insert(pod);
        if (key != current) others.insert(key);
      }
    }
    for (const auto& k : others) enqueue(k);
  }

  // ---- reconcile

  client::ReconcileResult remove_function(const std::string& key, const std::string& ns) {
    table.remove_function(key);
    autoscaler.remove_function(key);
    {
      std::lock_guard l(mu);
      written.erase(key);
      refused.erase(key);
      failed.erase(key);
      creating.erase(key);
      registered.erase(key);
      demand_floor.erase(key);
    }
    Status result = Status::ok();
    for (const auto& p : pods->indexer().by_index(kFunctionIndex, key)) {
      if (pod_terminating(*p)) continue;
      Status st = delete_pod(key, ns, name_of(*p));
      if (!st.is_ok()) result = st;
    }
    return result;
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    auto [ns, name] = client::split_key(key);
    collect_failed(key);
    ObjectPtr fnp = functions->indexer().get(key);
    if (!fnp || pod_terminating(*fnp)) return remove_function(key, ns);
    const Json& fn = *fnp;
    const Json& spec = field(fn, "spec");
    const std::string uid = uid_of(fn);

    // 1. Revision, against the last status written (the cache may lag it).
    Json basis = field(fn, "status").is_object() ? field(fn, "status") : Json::object();
    {
      std::lock_guard l(mu);
      auto it = written.find(key);
      if (it != written.end() && it->second.first == uid) basis = it->second.second;
    }
    const std::string rhash = revision_hash(spec);
    std::string rev = sfield(basis, "revision");
    if (sfield(basis, "revisionHash") != rhash || rev.empty()) {
      long long n = std::atoll(rev.c_str());
      rev = std::to_string(n > 0 ? n + 1 : 1);
    }
    std::string invalid_msg;
    bool code_invalid = false;
    {
      std::lock_guard l(mu);
      auto it = refused.find(key);
      if (it != refused.end() && it->second.revision_hash != rhash)
        refused.erase(it), it = refused.end();
      if (it != refused.end()) {
        code_invalid = true;
        invalid_msg = it->second.message;
      }
    }
    if (!code_invalid && sfield(basis, "revisionHash") == rhash) {
      for (const Json& c : api::afield(basis, "conditions")) {
        if (sfield(c, "type") == "CodeValid" && sfield(c, "status") == "False") {
          code_invalid = true;
          invalid_msg = sfield(c, "message");
        }
      }
    }

    // 2. Registration.
    const Json& scale = field(spec, "scale");
    FunctionConfig cfg;
    cfg.ns = ns;
    cfg.name = name;
    cfg.revision = rev;
    cfg.target_concurrency = std::max(1, int_or(scale, "targetConcurrency", 1));
    cfg.timeout = std::chrono::seconds(std::max(1, int_or(spec, "timeoutSeconds", 60)));
    ScaleSettings ss;
    ss.min_scale = std::max(0, int_or(scale, "minScale", 0));
    ss.max_scale = std::max(std::max(1, ss.min_scale), int_or(scale, "maxScale", 10));
    ss.target_concurrency = cfg.target_concurrency;
    ss.scale_to_zero_after = std::chrono::seconds(int_or(scale, "scaleToZeroAfterSeconds", 30));
    bool reg_fn = false, reg_scale = false;
    {
      std::lock_guard l(mu);
      auto& r = registered[key];
      const FunctionConfig& o = r.cfg;
      reg_fn = o.name.empty() || o.revision != cfg.revision ||
               o.target_concurrency != cfg.target_concurrency || o.timeout != cfg.timeout;
      reg_scale = reg_fn || r.scale.min_scale != ss.min_scale ||
                  r.scale.max_scale != ss.max_scale ||
                  r.scale.target_concurrency != ss.target_concurrency ||
                  r.scale.scale_to_zero_after != ss.scale_to_zero_after;
      r.cfg = cfg;
      r.scale = ss;
    }
    if (reg_fn) table.set_function(cfg);
    if (reg_scale) autoscaler.set_function(key, ss);

    // 3. Sort the pods.
    std::set<std::string> failed_pods;
    std::map<std::string, std::pair<std::string, Steady::time_point>> creating_now;
    std::vector<std::pair<std::string, std::string>> my_claims;  // pod, node
    auto now = Steady::now();
    {
      std::lock_guard l(mu);
      auto fit = failed.find(key);
      if (fit != failed.end()) failed_pods = std::move(fit->second), failed.erase(fit);
      creating_now = creating[key];
    }
    std::vector<ObjectPtr> ready, starting, to_init, old;
    std::map<std::string, int> per_node;  // instances of this function per node
    std::set<std::string> seen;
    Status result = Status::ok();
    auto note = [&](Status st) {
      if (!st.is_ok()) result = st;
    };
    for (const auto& p : pods->indexer().by_index(kFunctionIndex, key)) {
      const Json& pod = *p;
      std::string pname = name_of(pod);
      seen.insert(pname);
      {
        std::lock_guard l(mu);
        claimed.erase(ns + "/" + pname);  // the relabel is in the cache
      }
      if (pod_terminating(pod)) {
        table.remove_instance(key, pname);
        continue;
      }
      if (!owned_by(pod, uid)) {  // an instance of an earlier Function of this name
        note(delete_pod(key, ns, pname));
        continue;
      }
      if (pod_finished(pod) || failed_pods.count(pname)) {
        record(fn, "Warning", "InstanceFailed", "Instance " + pname + " failed; replacing it");
        note(delete_pod(key, ns, pname));
        continue;
      }
      bool draining = annotation(pod, kAnnotationDraining) == "true";
      if (label(pod, kLabelRevision) != rev || draining) {
        old.push_back(p);
        continue;
      }
      ++per_node[sfield(field(pod, "spec"), "nodeName")];
      // Instances need not be Ready: the /init answer is the proof of life
      // (the readiness probe runs once a second and would only delay them).
      bool initialised = annotation(pod, kAnnotationInitialized) == rev;
      {
        std::lock_guard l(mu);
        auto it = inited.find(ns + "/" + pname);
        if (it != inited.end()) {
          if (initialised || it->second.first != uid_of(pod)) {
            inited.erase(it);
          } else if (it->second.second == rev) {
            initialised = true;
          }
        }
      }
      if (initialised) {
        if (pod_running(pod)) {
          table.add_instance(key, instance_ref(pod, rev));
          ready.push_back(p);
        } else {
          table.remove_instance(key, pname);
          starting.push_back(p);
        }
      } else if (pod_running(pod) && !code_invalid) {
        to_init.push_back(p);
      } else {
        starting.push_back(p);
      }
    }
    int claimed_pending = 0;
    {
      std::lock_guard l(mu);
      for (auto it = claimed.begin(); it != claimed.end();) {
        if (now - it->second.at > kExpectationTimeout) {
          it = claimed.erase(it);
          continue;
        }
        if (it->second.key == key) {
          // A claim counts until the cache shows the pod relabelled (then
          // it is in the index above) or gone.
          ObjectPtr p = pods->indexer().get(it->first);
          if (!p || pod_terminating(*p) || uid_of(*p) != it->second.uid) {
            table.remove_instance(key, client::split_key(it->first).second);
            it = claimed.erase(it);
            continue;
          }
          ++claimed_pending;
          ++per_node[it->second.node];
        }
        ++it;
      }
      auto& cr = creating[key];
      for (auto it = cr.begin(); it != cr.end();) {
        if (seen.count(it->first) || now - it->second.second > kExpectationTimeout ||
            it->second.first != rev) {
          it = cr.erase(it);
        } else {
          ++it;
        }
      }
      creating_now = cr;
    }
    // A failed claimed pod the cache does not show relabelled yet: kept for
    // the reconcile that sees it.
    {
      std::lock_guard l(mu);
      for (const auto& pod : failed_pods) {
        if (!seen.count(pod) && claimed.count(ns + "/" + pod)) failed[key].insert(pod);
      }
    }
    {
      std::lock_guard l(mu);
      for (auto it = inited.begin(); it != inited.end();) {
        it = pods->indexer().get(it->first) ? std::next(it) : inited.erase(it);
      }
    }
    // Forget table entries whose pods are gone.
    for (const auto& inst : table.instances(key)) {
      if (seen.count(inst.pod)) continue;
      std::lock_guard l(mu);
      if (!claimed.count(ns + "/" + inst.pod)) table.remove_instance(key, inst.pod);
    }

    // 4. Scale.
    Load load = table.load(key);
    int desired = autoscaler.desired(key);
    desired = std::clamp(desired, ss.min_scale, ss.max_scale);
    if (load.queued > 0 || load.in_flight > 0) desired = std::max(desired, 1);
    // Instances started for waiting requests are kept demand_hold, until
    // the autoscaler has seen that load, instead of going as soon as the
    // request is answered.
    std::chrono::nanoseconds hold_left{0};
    {
      std::lock_guard l(mu);
      auto& floor = demand_floor[key];
      if (load.queued > 0) floor = {std::max(floor.first, desired), now};
      if (floor.first > 0 && now - floor.second < opts.demand_hold) {
        if (floor.first > desired) hold_left = opts.demand_hold - (now - floor.second);
        desired = std::max(desired, std::min(floor.first, ss.max_scale));
      } else {
        demand_floor.erase(key);
      }
    }
    if (code_invalid) desired = 0;
    int current = static_cast<int>(ready.size() + starting.size() + to_init.size()) +
                  claimed_pending + static_cast<int>(creating_now.size());
    int need = desired - current;

    bool starting_retry = false;
    std::vector<InitTask> tasks;
    for (const auto& p : to_init) tasks.push_back({p, false, InitOutcome::kError, "", false});
    // Pool pods run the python3 image: other runtimes cold-start their own.
    if (need > 0 && uses_pool_runtime(fn)) {
      std::vector<ObjectPtr> pool;
      {
        std::lock_guard l(mu);
        for (const auto& p :
             pods->indexer().list(ns, api::LabelSelector::from_map({{kLabelPool, "true"}}))) {
          if (pod_serving(*p) && !claimed.count(ns + "/" + name_of(*p))) pool.push_back(p);
        }
        while (need > 0 && !pool.empty()) {
          // Nearest first: the node with the fewest instances of this function.
          auto best = std::min_element(pool.begin(), pool.end(),
                                       [&](const ObjectPtr& a, const ObjectPtr& b) {
                                         int ca = per_node[sfield(field(*a, "spec"), "nodeName")];
                                         int cb = per_node[sfield(field(*b, "spec"), "nodeName")];
                                         if (ca != cb) return ca < cb;
                                         return name_of(*a) < name_of(*b);
                                       });
          ObjectPtr p = *best;
          pool.erase(best);
          std::string node = sfield(field(*p, "spec"), "nodeName");
          claimed[ns + "/" + name_of(*p)] = {key, node, uid_of(*p), now};
          ++per_node[node];
          tasks.push_back({p, true, InitOutcome::kError, "", false});
          --need;
        }
      }
    }
    if (!tasks.empty()) {
      auto code = code_bytes(spec);
      if (!code) {
        std::lock_guard l(mu);
        for (const auto& t : tasks) {
          if (t.claim) claimed.erase(ns + "/" + name_of(*t.pod));
        }
        return code.status();
      }
      std::string payload = init_payload(fn, rev, *code);
      if (tasks.size() == 1) {
        run_init(tasks[0], fn, key, rev, payload);
      } else {
        std::vector<std::jthread> threads;
        for (auto& t : tasks)
          threads.emplace_back([&, tp = &t] { run_init(*tp, fn, key, rev, payload); });
      }
      for (auto& t : tasks) {
        std::string pname = name_of(*t.pod);
        switch (t.outcome) {
          case InitOutcome::kOk:
            ready.push_back(t.pod);
            if (t.claim)
              record(fn, "Normal", "Claimed",
                     "Claimed pool pod " + pname + " as an instance of revision " + rev);
            break;
          case InitOutcome::kInvalid: {
            code_invalid = true;
            invalid_msg = t.message;
            {
              std::lock_guard l(mu);
              refused[key] = {rhash, t.message};
              if (t.claim) claimed.erase(ns + "/" + pname);
            }
            record(fn, "Warning", "InitFailed", "Revision " + rev + ": " + t.message);
            note(delete_pod(key, ns, pname));  // it holds (or refused) bad code: never reused
            break;
          }
          case InitOutcome::kError:
            if (!t.claim && t.unreachable && !pod_serving(*t.pod)) {
              // A new instance whose server is not listening yet: look again soon.
              starting.push_back(t.pod);
              starting_retry = true;
              break;
            }
            spdlog::warn("{}: /init of {}/{} for {}: {}", kComponent, ns, pname, key, t.message);
            if (t.claim) {
              {
                std::lock_guard l(mu);
                claimed.erase(ns + "/" + pname);
              }
              // An unreachable pool pod is of no use; the pool refills.
              auto r = api_client().remove(*pods_type, ns, pname);
              (void)r;
              ++need;
            }
            note(Status(Code::kUnavailable, t.message));
            break;
        }
      }
    }
    if (code_invalid) {
      desired = 0;
      need = 0;
    }
    for (int i = 0; i < need; ++i) {
      Json pod = runtime_pod(ns, name + "-",
                             sfield(spec, "runtime") == "python3-ml" ? opts.ml_runtime_image
                                                                     : opts.runtime_image,
                             {{kLabelFunction, name}, {kLabelRevision, rev}});
      pod["metadata"]["ownerReferences"] = Json::array({{{"apiVersion", kApiVersion},
                                                         {"kind", "Function"},
                                                         {"name", name},
                                                         {"uid", uid},
                                                         {"controller", true},
                                                         {"blockOwnerDeletion", true}}});
      const Json& res = field(spec, "resources");
      if (res.is_object()) pod["spec"]["containers"][0]["resources"] = res;
      auto r = api_client().create(*pods_type, pod, ns);
      if (!r) {
        note(r.status());
        break;
      }
      {
        std::lock_guard l(mu);
        creating[key][name_of(*r)] = {rev, now};
      }
      record(fn, "Normal", "Created",
             "Created instance " + name_of(*r) + " (revision " + rev + ")");
    }
    if (need < 0) {
      // Surplus: pods not serving yet go first (nothing in flight), then the
      // ready ones with the fewest requests in flight, drained.
      int surplus = -need;
      for (auto it = starting.rbegin(); it != starting.rend() && surplus > 0; ++it, --surplus) {
        note(delete_pod(key, ns, name_of(**it)));
        record(fn, "Normal", "Deleted", "Deleted instance " + name_of(**it) + " (scale down)");
      }
      std::sort(ready.begin(), ready.end(), [&](const ObjectPtr& a, const ObjectPtr& b) {
        return table.in_flight(key, name_of(*a)) < table.in_flight(key, name_of(*b));
      });
      while (surplus > 0 && !ready.empty()) {
        ObjectPtr p = ready.front();
        ready.erase(ready.begin());
        table.drain_instance(key, name_of(*p));
        note(annotate(*p, {{kAnnotationDraining, "true"}}));
        old.push_back(p);
        --surplus;
      }
    }
    // Old revisions and drained instances: deleted once idle.
    bool waiting = false;
    for (const auto& p : old) {
      std::string pname = name_of(*p);
      table.drain_instance(key, pname);
      if (table.in_flight(key, pname) > 0) {
        waiting = true;
        continue;
      }
      note(delete_pod(key, ns, pname));
      record(fn, "Normal", "Deleted",
             "Deleted instance " + pname +
                 (label(*p, kLabelRevision) != rev ? " (old revision)" : " (scale down)"));
    }

    // 5. Status.
    Json status = basis;
    status["revision"] = rev;
    status["revisionHash"] = rhash;
    status["codeHash"] = code_hash(spec);
    status["url"] = opts.gateway_url + "/functions/" + ns + "/" + name;
    status["readyInstances"] = static_cast<int>(ready.size());
    status["desiredInstances"] = desired;
    status["observedGeneration"] = field(field(fn, "metadata"), "generation");
    Json conds = Json::array();
    conds.push_back(code_invalid ? condition("CodeValid", false, "InitFailed", invalid_msg)
                                 : condition("CodeValid", true, "", ""));
    if (code_invalid) {
      conds.push_back(
          condition("Ready", false, "InitFailed", "revision " + rev + " failed to load"));
    } else if (ready.empty()) {
      conds.push_back(condition(
          "Ready", true, "ScaledToZero",
          desired > 0 ? "starting instances" : "no instance runs; the next request starts one"));
    } else {
      conds.push_back(condition("Ready", true, "", ""));
    }
    // Keep each condition's lastTransitionTime unless its status changed.
    std::string now_s = format_rfc3339(clock().now());
    for (Json& c : conds) {
      c["lastTransitionTime"] = now_s;
      for (const Json& o : api::afield(basis, "conditions")) {
        if (sfield(o, "type") == sfield(c, "type") && sfield(o, "status") == sfield(c, "status") &&
            !sfield(o, "lastTransitionTime").empty()) {
          c["lastTransitionTime"] = o["lastTransitionTime"];
        }
      }
    }
    status["conditions"] = conds;
    if (status != basis) {
      auto r = api_client().patch(*functions_type, ns, name, client::PatchType::kMerge,
                                  {{"status", status}}, "status");
      if (!r) {
        note(r.status());
      } else {
        std::lock_guard l(mu);
        written[key] = {uid, status};
      }
      if (sfield(basis, "revision") != rev && !sfield(basis, "revision").empty()) {
        record(fn, "Normal", "NewRevision", "Revision " + rev);
      }
      if (field(basis, "desiredInstances") != status["desiredInstances"]) {
        record(fn, "Normal", "Scaled", "Scaled to " + std::to_string(desired) + " instances");
      }
    }
    if (!result.is_ok()) return result;
    if (waiting) return client::ReconcileResult::requeue_after(opts.drain_poll);
    if (starting_retry) return client::ReconcileResult::requeue_after(opts.start_poll);
    if (hold_left.count() > 0) return client::ReconcileResult::requeue_after(hold_left);
    return client::ReconcileResult::done();
  }
};

FunctionController::FunctionController(client::SharedInformerFactory& factory, InstanceTable& table,
                                       Autoscaler& autoscaler, FunctionControllerOptions opts,
                                       Clock& clock) {
  auto impl = std::make_unique<Impl>(factory, table, autoscaler, std::move(opts), clock);
  impl_ = impl.get();
  set_impl(std::move(impl));
}

void FunctionController::enqueue(const std::string& key) { impl_->public_enqueue(key); }

}  // namespace minik8s::serverless
