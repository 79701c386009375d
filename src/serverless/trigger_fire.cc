// fire_trigger() and what it shares with its callers (include/minik8s/serverless/triggers.h):
// the POST to a Function's gateway URL, the WorkflowRun of a workflow
// target, the status patch and Event of every firing, the firing pool.
#include <spdlog/spdlog.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <random>

#include "minik8s/api/address_rules.h"
#include "minik8s/api/resource.h"
#include "minik8s/api/selector.h"
#include "minik8s/serverless/controllers.h"
#include "minik8s/serverless/triggers.h"

namespace minik8s::serverless {

using api::field;
using api::Json;
using api::sfield;

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

constexpr int kStatusRetries = 16;
constexpr size_t kMaxMessage = 1024;
constexpr size_t kMaxAnswer = 64 * 1024 * 1024;
constexpr int kDefaultFunctionTimeout = 60;
// The gateway's default queue wait (a cold start) plus a margin.
constexpr int kFireMarginSeconds = 35;

std::string clip(std::string s) {
  if (s.size() > kMaxMessage) {
    s.resize(kMaxMessage);
    s += "...";
  }
  return s;
}

std::string new_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return buf;
}

struct Url {
  std::string host;
  std::string port = "80";
  std::string target = "/";
};

Result<Url> parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) return invalid("\"" + url + "\": not an http:// URL");
  std::string rest = url.substr(scheme.size());
  Url u;
  auto slash = rest.find('/');
  std::string hostport = rest.substr(0, slash);
  if (slash != std::string::npos) u.target = rest.substr(slash);
  if (!hostport.empty() && hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string::npos) return invalid("\"" + url + "\": bad IPv6 host");
    u.host = hostport.substr(1, close - 1);
    if (close + 1 < hostport.size()) {
      if (hostport[close + 1] != ':') return invalid("\"" + url + "\": bad host:port");
      u.port = hostport.substr(close + 2);
    }
  } else {
    auto colon = hostport.rfind(':');
    u.host = hostport.substr(0, colon);
    if (colon != std::string::npos) u.port = hostport.substr(colon + 1);
  }
  if (u.host.empty() || u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos)
    return invalid("\"" + url + "\": bad host:port");
  return u;
}

struct HttpAnswer {
  int status = 0;
  std::string body;
  std::string request_id;
};

// One POST on a fresh connection; the io_context runs in 100 ms slices so
// that `cancel` ends a long wait (a completed read returns at once).
Result<HttpAnswer> http_post(const std::string& url, const std::string& body, const std::string& request_id,
                             std::chrono::milliseconds timeout, const std::atomic<bool>* cancel) {
  auto u = parse_http_url(url);
  if (!u) return u.status();
  try {
    asio::io_context ioc;
    asio::ip::tcp::resolver resolver(ioc);
    beast::tcp_stream stream(ioc);
    beast::error_code ec;
    bool done = false;
    stream.expires_after(timeout);
    http::request<http::string_body> req{http::verb::post, u->target, 11};
    req.set(http::field::host, u->host + ":" + u->port);
    req.set(http::field::content_type, "application/json");
    req.set("X-Request-Id", request_id);
    req.body() = body;
    req.prepare_payload();
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxAnswer);
    resolver.async_resolve(u->host, u->port, [&](beast::error_code e, asio::ip::tcp::resolver::results_type rs) {
      if (e) {
        ec = e;
        done = true;
        return;
      }
      stream.async_connect(rs, [&](beast::error_code e1, const asio::ip::tcp::endpoint&) {
        if (e1) {
          ec = e1;
          done = true;
          return;
        }
        http::async_write(stream, req, [&](beast::error_code e2, size_t) {
          if (e2) {
            ec = e2;
            done = true;
            return;
          }
          http::async_read(stream, buffer, parser, [&](beast::error_code e3, size_t) {
            ec = e3;
            done = true;
          });
        });
      });
    });
    while (!done && !ioc.stopped()) {
      ioc.run_for(std::chrono::milliseconds(100));
      if (!done && cancel && cancel->load()) {
        stream.cancel();
        resolver.cancel();
        ioc.run_for(std::chrono::milliseconds(100));
        return Status(Code::kUnavailable, "POST " + url + ": cancelled (shutting down)");
      }
    }
    if (ec == beast::error::timeout)
      return Status(Code::kTimeout, "POST " + url + ": no answer within " + std::to_string(timeout.count() / 1000) + " s");
    if (ec) return Status(Code::kUnavailable, "POST " + url + ": " + ec.message());
    HttpAnswer a;
    a.status = static_cast<int>(parser.get().result_int());
    a.body = std::move(parser.get().body());
    auto it = parser.get().find("X-Request-Id");
    if (it != parser.get().end()) a.request_id = std::string(it->value());
    return a;
  } catch (const std::exception& e) {
    return Status(Code::kUnavailable, "POST " + url + ": " + e.what());
  }
}

// "<Type>: message" of a runtime's error body, else the body's start.
std::string answer_error(const std::string& body) {
  auto j = Json::parse(body, nullptr, false);
  if (j.is_object()) {
    std::string e = sfield(j, "error"), m = sfield(j, "message");
    if (!e.empty() || !m.empty()) return e.empty() ? m : m.empty() ? e : e + ": " + m;
  }
  std::string s = body.substr(0, 200);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

FireResult fire_function(client::Client& client, const std::string& ns, const std::string& name, const Json& body,
                         const FireOptions& opts) {
  FireResult r;
  const api::ResourceType* fn_type = api::find_kind(kApiVersion, "Function");
  if (!fn_type) {
    r.message = "the Function kind is not in the kind table";
    return r;
  }
  auto fn = client.get(*fn_type, ns, name);
  if (!fn) {
    r.message = fn.status().code() == Code::kNotFound ? "function " + ns + "/" + name + " not found"
                                                      : "function " + name + ": " + fn.status().message();
    return r;
  }
  std::string url = sfield(field(*fn, "status"), "url");
  if (url.empty()) {
    r.message = "function " + name + " has no status.url yet";
    return r;
  }
  if (opts.rewrite_url) url = opts.rewrite_url(url);
  int64_t secs = api::ifield(field(*fn, "spec"), "timeoutSeconds");
  if (secs <= 0) secs = kDefaultFunctionTimeout;
  r.id = new_id();
  auto a = http_post(url, body.dump(-1, ' ', false, Json::error_handler_t::replace), r.id,
                     std::chrono::seconds(secs + kFireMarginSeconds), opts.cancel);
  if (!a) {
    r.message = a.status().message();
    return r;
  }
  if (!a->request_id.empty()) r.id = a->request_id;
  if (a->status >= 200 && a->status < 300) {
    r.ok = true;
    r.message = "HTTP " + std::to_string(a->status);
  } else {
    r.message = "HTTP " + std::to_string(a->status) + ": " + answer_error(a->body);
  }
  return r;
}

FireResult fire_workflow(client::Client& client, const std::string& ns, const std::string& trigger_name,
                         const std::string& workflow, const Json& body) {
  FireResult r;
  const api::ResourceType* run_type = api::find_kind(kApiVersion, "WorkflowRun");
  if (!run_type) {
    r.message = "the WorkflowRun kind is not in the kind table";
    return r;
  }
  Json meta = {{"generateName", workflow + "-"}, {"namespace", ns}};
  if (api::check_label_value(trigger_name).empty()) meta["labels"] = {{kLabelTrigger, trigger_name}};
  Json run = {{"apiVersion", kApiVersion},
              {"kind", "WorkflowRun"},
              {"metadata", meta},
              {"spec", {{"workflow", workflow}, {"input", body}}}};
  auto c = client.create(*run_type, run, ns);
  if (!c) {
    r.message = "creating a run of workflow " + workflow + ": " + c.status().message();
    return r;
  }
  r.ok = true;
  r.id = api::meta_string(*c, "name");
  r.message = "run " + r.id + " created";
  return r;
}

const api::ResourceType* trigger_type() { return api::find_kind(kApiVersion, "Trigger"); }

// GET, apply, merge-patch the status subresource with the resourceVersion
// read; retried on conflict. Not found, or another trigger of that name
// (uid), is not an error: there is nothing to record on.
Status patch_trigger_status(client::Client& client, const Json& trigger,
                            const std::function<Json(const Json& status)>& make) {
  const api::ResourceType* t = trigger_type();
  if (!t) return internal_error("the Trigger kind is not in the kind table");
  const std::string ns = api::meta_string(trigger, "namespace"), name = api::meta_string(trigger, "name");
  const std::string uid = api::meta_string(trigger, "uid");
  Status last;
  for (int i = 0; i < kStatusRetries; ++i) {
    auto cur = client.get(*t, ns, name);
    if (!cur) return cur.status().code() == Code::kNotFound ? Status::ok() : cur.status();
    if (!uid.empty() && api::meta_string(*cur, "uid") != uid) return Status::ok();
    const Json& st = field(*cur, "status");
    Json patch = {{"metadata", {{"resourceVersion", api::meta_string(*cur, "resourceVersion")}}},
                  {"status", make(st.is_object() ? st : Json::object())}};
    auto r = client.patch(*t, ns, name, client::PatchType::kMerge, patch, "status");
    if (r) return Status::ok();
    if (r.status().code() == Code::kNotFound) return Status::ok();
    if (r.status().code() != Code::kConflict) return r.status();
    last = r.status();
  }
  return last;
}

void record_event(client::Client& client, const Json& trigger, bool warning, const std::string& reason,
                  const std::string& message, const FireOptions& opts) {
  const char* type = warning ? "Warning" : "Normal";
  if (opts.events) {
    opts.events->record(trigger, kApiVersion, "Trigger", type, reason, message);
    return;
  }
  const api::ResourceType* ev = api::find_kind("v1", "Event");
  if (!ev) return;
  Clock& clk = opts.clock ? *opts.clock : real_clock();
  Json e = client::make_event(trigger, kApiVersion, "Trigger", type, reason, message, opts.component, clk.now());
  auto r = client.create(*ev, e, api::meta_string(trigger, "namespace"));
  if (!r) spdlog::debug("trigger event {}: {}", reason, r.status().to_string());
}

}  // namespace

Json trigger_body(const Json& trigger, const Json& event) {
  const Json& input = field(field(trigger, "spec"), "input");
  Json body = Json::object();
  if (input.is_object()) {
    body = input;
  } else if (!input.is_null()) {
    body["input"] = input;
  }
  if (event.is_object()) {
    for (auto it = event.begin(); it != event.end(); ++it) body[it.key()] = it.value();
  }
  return body;
}

FireResult fire_trigger(client::Client& client, const Json& trigger, const Json& event, const FireOptions& opts) {
  const std::string ns = api::meta_string(trigger, "namespace"), name = api::meta_string(trigger, "name");
  const Json& target = field(field(trigger, "spec"), "target");
  const std::string function = sfield(target, "function"), workflow = sfield(target, "workflow");
  Json body = trigger_body(trigger, event);
  FireResult r;
  std::string what;
  if (!function.empty() && workflow.empty()) {
    what = "function " + function;
    r = fire_function(client, ns, function, body, opts);
  } else if (!workflow.empty() && function.empty()) {
    what = "workflow " + workflow;
    r = fire_workflow(client, ns, name, workflow, body);
  } else {
    what = "target";
    r.message = "spec.target: must name exactly one of function and workflow";
  }
  r.message = clip(r.message);
  Clock& clk = opts.clock ? *opts.clock : real_clock();
  const std::string now = format_rfc3339(clk.now());
  Json last = {{"result", r.ok ? "ok" : "error"}, {"id", r.id}, {"message", r.message}};
  Status st = patch_trigger_status(client, trigger, [&](const Json& cur) {
    return Json{{"firings", api::ifield(cur, "firings") + 1}, {"lastFired", now}, {"lastResult", last}};
  });
  if (!st) spdlog::warn("trigger {}/{}: recording a firing: {}", ns, name, st.to_string());
  std::string msg = "fired " + what + ": ";
  if (r.ok) {
    msg += "ok (" + std::string(function.empty() ? "run " : "request ") + r.id + ")";
  } else {
    msg += "error: " + r.message;
  }
  record_event(client, trigger, !r.ok, r.ok ? "Fired" : "FireFailed", msg, opts);
  if (!r.ok) spdlog::info("trigger {}/{}: {}", ns, name, msg);
  return r;
}

Status record_trigger_skipped(client::Client& client, const Json& trigger, const std::string& why,
                              const FireOptions& opts) {
  Status st = patch_trigger_status(client, trigger, [&](const Json& cur) {
    return Json{{"skipped", api::ifield(cur, "skipped") + 1}};
  });
  record_event(client, trigger, true, "Skipped", why, opts);
  return st;
}

Status validate_watch_path(const std::string& path) {
  // The API server's grammar again: the agent must not trust what it reads
  // before touching the disk.
  std::string why = api::watch_path_error(path);
  if (why.empty()) return Status::ok();
  return invalid("spec.fileChange.path: Invalid value: \"" + path.substr(0, 200) + "\": " + why);
}

bool file_pattern_match(std::string_view p, std::string_view s) {
  // Iterative glob with backtracking to the last '*'.
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
      continue;
    }
    if (pi < p.size()) {
      char c = p[pi];
      size_t width = 1;
      bool literal = false;
      if (c == '\\' && pi + 1 < p.size()) {
        c = p[pi + 1];
        width = 2;
        literal = true;
      }
      if ((!literal && c == '?') || c == s[si]) {
        pi += width;
        ++si;
        continue;
      }
    }
    if (star == std::string_view::npos) return false;
    pi = star + 1;
    si = ++mark;
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

// ---- FiringPool

FiringPool::FiringPool(int threads, size_t max_queued) : max_queued_(max_queued) {
  if (threads < 1) threads = 1;
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { loop(); });
}

FiringPool::~FiringPool() { stop(); }

bool FiringPool::submit(std::function<void()> task) {
  {
    std::lock_guard l(mu_);
    if (stopping_.load() || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

size_t FiringPool::in_flight() const {
  std::lock_guard l(mu_);
  return running_ + queue_.size();
}

void FiringPool::stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard l(mu_);
    stopping_ = true;
    queue_.clear();
    if (joined_) return;
    joined_ = true;
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (auto& t : threads) t.join();
}

void FiringPool::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock l(mu_);
      cv_.wait(l, [&] { return stopping_.load() || !queue_.empty(); });
      if (stopping_.load()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
    }
    try {
      task();
    } catch (const std::exception& e) {
      spdlog::error("trigger firing: {}", e.what());
    }
    std::lock_guard l(mu_);
    --running_;
  }
}

}  // namespace minik8s::serverless
