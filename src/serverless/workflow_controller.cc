// WorkflowController: the workflow executor (docs/workflows.md "Executor").
// A client::Controller keyed by WorkflowRun ("ns/name") on the shared
// WorkflowRun and Workflow informers; handlers only enqueue.
//
// reconcile(key):
//   - gone → a run executing here is abandoned (no more writes);
//   - terminal phase → nothing;
//   - executing here → forwards spec.cancel to the run thread;
//   - Pending (no status) → claims it: status.definition (the Workflow's
//     spec), workflowGeneration, phase Running, startTime, written with the
//     cached resourceVersion (a conflict is a requeue), then runs it;
//   - Running, not executing here (a restart) → resumes it.
// At most max_runs execute at once; the others wait (Pending, or Running
// not resumed yet) in `waiting` and are enqueued when a run ends.
//
// A run thread calls workflow::run() with a RunHost that invokes Tasks
// through the gateway (GatewayClient: kept-alive connections shared by the
// executor's threads) and persists the steps: a merge patch of the status
// subresource with the whole steps array, serialized per run (the executor
// is the only writer of a run's status). Resume is a replay: recorded()
// answers from the steps found in status; records left Running are marked
// Interrupted and their state runs again with attempt + 1.
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>
#include <vector>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/client/informer.h"
#include "minik8s/serverless/controllers.h"
#include "minik8s/serverless/workflows.h"
#include "minik8s/util/url.h"
#include "minik8s/util/utf8.h"

namespace minik8s::serverless {

using api::field;
using api::Json;
using api::sfield;
using client::ObjectPtr;
using workflow::StepRecord;
using workflow::TaskCall;
using workflow::TaskResult;
namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Steady = std::chrono::steady_clock;

namespace {

constexpr size_t kHeadBytes = 1024;
constexpr size_t kRunOutputLimit = 1024 * 1024;
constexpr size_t kMaxIdleConns = 64;
constexpr size_t kMaxAnswerBytes = 64 * 1024 * 1024;
constexpr int kWriteTries = 8;
constexpr size_t kCompactLimit = 256;

std::string ns_of(const Json& obj) { return sfield(field(obj, "metadata"), "namespace"); }
std::string name_of(const Json& obj) { return sfield(field(obj, "metadata"), "name"); }
std::string phase_of(const Json& run) { return sfield(field(run, "status"), "phase"); }
bool terminal(const std::string& phase) {
  return phase == "Succeeded" || phase == "Failed" || phase == "Cancelled";
}
bool cancel_requested(const Json& run) {
  const Json& c = field(field(run, "spec"), "cancel");
  return c.is_boolean() && c.get<bool>();
}

// A string as valid UTF-8 (invalid bytes → U+FFFD): stored objects are JSON.
std::string clean_utf8(const std::string& s) {
  if (valid_utf8(s)) return s;
  return Json::parse(Json(s).dump(-1, ' ', false, Json::error_handler_t::replace)).get<std::string>();
}

double ms_between(std::chrono::system_clock::time_point a, std::chrono::system_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
double round1(double v) { return static_cast<double>(static_cast<int64_t>(v * 10 + 0.5)) / 10; }

// JSON as stored in a step: past `limit` bytes serialized, the marker.
Json limit_data(const Json& v, size_t limit = kStepDataLimit, size_t head = kHeadBytes) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() <= limit) return v;
  size_t n = std::min(head, s.size());
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // whole code points
  return Json{{"truncated", true}, {"bytes", s.size()}, {"head", clean_utf8(s.substr(0, n))}};
}

bool is_truncated(const Json& v) {
  return v.is_object() && v.size() == 3 && v.contains("truncated") && v["truncated"] == true &&
         v.contains("bytes") && v.contains("head");
}

Json step_json(const StepRecord& s) {
  Json j = {{"key", s.key},
            {"state", s.state},
            {"type", workflow::to_string(s.type)},
            {"attempt", s.attempt},
            {"status", s.status}};
  if (!s.function.empty()) j["function"] = s.function;
  if (!s.instance.empty()) j["instance"] = s.instance;
  j["input"] = limit_data(s.input);
  if (s.status == "Succeeded" || s.status == "Caught" || !s.output.is_null()) j["output"] = limit_data(s.output);
  if (!s.error.empty()) j["error"] = clean_utf8(s.error);
  using Sys = std::chrono::system_clock;
  if (s.start != Sys::time_point{}) j["startTime"] = format_rfc3339_micro(s.start);
  if (s.end != Sys::time_point{}) {
    j["endTime"] = format_rfc3339_micro(s.end);
    if (s.start != Sys::time_point{}) j["durationMs"] = round1(ms_between(s.start, s.end));
  }
  if (s.function_ms >= 0) j["functionMs"] = round1(s.function_ms);
  if (s.steps > 1) j["countedSteps"] = s.steps;
  return j;
}

std::optional<workflow::StateType> state_type(const std::string& s) {
  using T = workflow::StateType;
  for (T t : {T::kTask, T::kChoice, T::kParallel, T::kMap, T::kPass, T::kWait, T::kSucceed,
              T::kFail}) {
    if (s == workflow::to_string(t)) return t;
  }
  return std::nullopt;
}

StepRecord step_record(const Json& j) {
  StepRecord s;
  s.key = sfield(j, "key");
  s.state = sfield(j, "state");
  s.function = sfield(j, "function");
  s.instance = sfield(j, "instance");
  s.error = sfield(j, "error");
  s.status = sfield(j, "status");
  if (auto t = state_type(sfield(j, "type"))) s.type = *t;
  const Json& a = field(j, "attempt");
  s.attempt = a.is_number_integer() ? a.get<int>() : 1;
  s.input = j.contains("input") ? j["input"] : Json();
  s.output = j.contains("output") ? j["output"] : Json();
  s.output_truncated = is_truncated(s.output);
  SysTime t;
  if (parse_rfc3339(sfield(j, "startTime"), &t)) s.start = t;
  if (parse_rfc3339(sfield(j, "endTime"), &t)) s.end = t;
  const Json& f = field(j, "functionMs");
  if (f.is_number()) s.function_ms = f.get<double>();
  const Json& n = field(j, "countedSteps");
  if (n.is_number_integer()) s.steps = std::max(1, n.get<int>());
  return s;
}

// ---- the gateway client: kept-alive HTTP/1.1 connections, shared

struct Answer {
  int status = 0;
  std::string content_type, body, instance, duration_ms;
};

// One connection with its own io_context; used by one thread at a time.
struct Conn {
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  int fd() { return stream.socket().native_handle(); }
};

class GatewayClient {
 public:
  // url "http://HOST:PORT" (HOST may be [v6]). An empty url: every call fails.
  explicit GatewayClient(const std::string& url) {
    std::string rest = url;
    if (rest.starts_with("http://")) rest = rest.substr(7);
    auto slash = rest.find('/');
    if (slash != std::string::npos) rest = rest.substr(0, slash);
    auto colon = rest.rfind(':');
    if (colon == std::string::npos || rest.empty()) {
      host_ = rest;
      port_ = "80";
    } else {
      host_ = rest.substr(0, colon);
      port_ = rest.substr(colon + 1);
    }
    if (host_.size() >= 2 && host_.front() == '[' && host_.back() == ']')
      host_ = host_.substr(1, host_.size() - 2);
    host_header_ = rest;
  }
  ~GatewayClient() { close_all(); }

  // hook(fd, true) before the exchange, hook(fd, false) after: the run
  // registers the descriptor so that a cancel can shut it down.
  Result<Answer> post(const std::string& target, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers,
                      Steady::time_point deadline, const std::function<bool(int, bool)>& hook) {
    if (host_.empty()) return Status(Code::kUnavailable, "no gateway URL configured");
    http::request<http::string_body> req{http::verb::post, target, 11};
    req.set(http::field::host, host_header_);
    req.set(http::field::content_type, "application/json");
    for (const auto& [k, v] : headers) req.set(k, v);
    req.body() = body;
    req.prepare_payload();
    for (int attempt = 0; attempt < 2; ++attempt) {
      std::unique_ptr<Conn> c = attempt == 0 ? take() : nullptr;
      const bool reused = c != nullptr;
      if (!c) {
        auto fresh = connect(deadline);
        if (!fresh.is_ok()) return fresh.status();
        c = std::move(*fresh);
      }
      if (hook && !hook(c->fd(), true)) return Status(Code::kUnavailable, "cancelled");
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxAnswerBytes);
      beast::error_code ec;
      c->stream.expires_at(deadline);
      http::async_write(c->stream, req, [&](beast::error_code e, size_t) {
        ec = e;
        if (e) return;
        http::async_read(c->stream, c->buffer, parser, [&](beast::error_code e2, size_t) { ec = e2; });
      });
      c->ioc.restart();
      c->ioc.run();
      if (hook) hook(c->fd(), false);
      if (ec) {
        // A kept-alive connection the gateway closed while idle: nothing was
        // read, so the request was not served; once more on a fresh one.
        if (reused && !parser.got_some() && ec != beast::error::timeout) continue;
        if (ec == beast::error::timeout) return Status(Code::kTimeout, "no answer from the gateway in time");
        return Status(Code::kUnavailable, "gateway: " + ec.message());
      }
      auto& res = parser.get();
      Answer a;
      a.status = static_cast<int>(res.result_int());
      a.content_type = std::string(res[http::field::content_type]);
      a.instance = std::string(res["X-Instance"]);
      a.duration_ms = std::string(res["X-Duration-Ms"]);
      a.body = std::move(res.body());
      if (res.keep_alive()) put(std::move(c));
      return a;
    }
    return Status(Code::kUnavailable, "gateway: connection closed");
  }

  void close_all() {
    std::lock_guard lock(mu_);
    idle_.clear();
  }

 private:
  std::unique_ptr<Conn> take() {
    std::lock_guard lock(mu_);
    while (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      pollfd p{c->fd(), POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) == 0) return c;  // readable while idle: closed by the gateway
    }
    return nullptr;
  }
  void put(std::unique_ptr<Conn> c) {
    std::lock_guard lock(mu_);
    if (idle_.size() < kMaxIdleConns) idle_.push_back(std::move(c));
  }
  Result<std::unique_ptr<Conn>> connect(Steady::time_point deadline) {
    auto c = std::make_unique<Conn>();
    beast::error_code ec;
    tcp::resolver resolver(c->ioc);
    auto eps = resolver.resolve(host_, port_, ec);
    if (ec) return Status(Code::kUnavailable, "gateway " + host_header_ + ": " + ec.message());
    c->stream.expires_at(std::min(deadline, Steady::now() + std::chrono::seconds(5)));
    c->stream.async_connect(eps, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
    c->ioc.run();
    if (ec) return Status(Code::kUnavailable, "gateway " + host_header_ + ": " + ec.message());
    c->stream.socket().set_option(tcp::no_delay(true), ec);
    return c;
  }

  std::string host_, port_, host_header_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Conn>> idle_;  // guarded by mu_
};

}  // namespace

TaskResult task_result_from_answer(int status, const std::string& content_type, const std::string& body) {
  TaskResult r;
  const bool is_json = content_type.empty() || content_type.starts_with("application/json");
  if (status >= 200 && status < 300) {
    r.ok = true;
    if (is_json) {
      auto parsed = api::parse_json(body);
      if (parsed.is_ok()) {
        r.output = std::move(*parsed);
        return r;
      }
      if (body.find_first_not_of(" \t\r\n") == std::string::npos) {
        r.output = Json();
        return r;
      }
    }
    r.output = clean_utf8(body);
    return r;
  }
  std::string err, msg;
  auto parsed = api::parse_json(body);
  if (parsed.is_ok() && parsed->is_object()) {
    err = sfield(*parsed, "error");
    msg = sfield(*parsed, "message");
    if (msg.empty()) msg = sfield(*parsed, "cause");
  }
  if (msg.empty()) msg = clean_utf8(body.substr(0, 512));
  if (status == 504) {
    r.error = "States.Timeout";
    r.cause = msg;
  } else if (status == 500 && !err.empty()) {
    r.error = err;
    r.cause = msg;
  } else {
    r.error = "States.TaskFailed";
    r.cause = "HTTP " + std::to_string(status) + (err.empty() ? "" : " " + err) + ": " + msg;
  }
  return r;
}

struct WorkflowController::Impl : client::Controller {
  Impl(client::SharedInformerFactory& f, WorkflowControllerOptions o, Clock& clk)
      : client::Controller(
            f, {"workflow-executor", 2, std::chrono::milliseconds(20), std::chrono::seconds(10)}, clk),
        opts(std::move(o)),
        gateway(opts.gateway_url) {
    if (opts.max_runs < 1) opts.max_runs = 1;
  }
  ~Impl() override { stop(); }

  // One executing run. The thread, the reconcile worker (cancel, delete) and
  // the interpreter's threads share it.
  struct Run {
    std::string key, ns, name;
    std::shared_ptr<const workflow::Machine> machine;
    Json input;
    int64_t generation = 0;
    std::atomic<bool> cancel{false};   // spec.cancel: ends Cancelled
    std::atomic<bool> abandon{false};  // stop or deleted: no more writes

    std::mutex mu;
    std::condition_variable cv;  // sleep_for wakes on cancel/abandon
    std::set<int> in_flight;     // guarded by mu: sockets of Tasks in flight

    std::mutex write_mu;  // serializes the status writes, guards:
    std::vector<Json> steps;
    std::vector<size_t> step_bytes;  // serialized size of each record
    size_t total_bytes = 0;
    size_t budget = 2 * 1024 * 1024;  // opts.steps_budget_bytes
    std::map<std::string, size_t> last;         // key → index of its last record
    bool interrupted = false;  // resumed with records left Running: marked

    bool stopped() const { return cancel || abandon; }
    // Sets (index < size) or appends a record. Caller holds write_mu.
    void put_step(size_t index, Json rec) {
      size_t bytes = rec.dump(-1, ' ', false, Json::error_handler_t::replace).size();
      if (index >= steps.size()) {
        last[sfield(rec, "key")] = steps.size();
        steps.push_back(std::move(rec));
        step_bytes.push_back(bytes);
      } else {
        total_bytes -= step_bytes[index];
        steps[index] = std::move(rec);
        step_bytes[index] = bytes;
      }
      total_bytes += bytes;
      if (total_bytes > budget) compact();
    }
    // Keeps the steps under the budget (the API server takes 3 MiB a
    // request): the oldest records' inputs shrink first (only informative),
    // then their outputs (a truncated output runs again on a resume).
    void compact() {
      for (const char* what : {"input", "output"}) {
        for (size_t i = 0; i < steps.size() && total_bytes > budget; ++i) {
          Json& rec = steps[i];
          if (!rec.contains(what) || is_truncated(rec[what])) continue;
          rec[what] = limit_data(rec[what], kCompactLimit, kCompactLimit / 2);
          size_t bytes = rec.dump(-1, ' ', false, Json::error_handler_t::replace).size();
          total_bytes = total_bytes - step_bytes[i] + bytes;
          step_bytes[i] = bytes;
        }
      }
    }
    void interrupt() {
      std::lock_guard lock(mu);
      for (int fd : in_flight) ::shutdown(fd, SHUT_RDWR);
      cv.notify_all();
    }
  };

  WorkflowControllerOptions opts;
  GatewayClient gateway;
  const api::ResourceType* runs_type = nullptr;
  const api::ResourceType* workflows_type = nullptr;
  client::Informer* runs = nullptr;
  client::Informer* workflows = nullptr;

  mutable std::mutex mu;
  // Guarded by mu:
  std::map<std::string, std::shared_ptr<Run>> active;  // executing here
  std::set<std::string> waiting;                       // over max_runs
  std::set<std::string> finished;  // ended here; the cache may still say Running
  std::map<std::string, std::thread> threads;
  std::vector<std::thread> done;  // ended threads to join
  bool shutting_down = false;

  Status setup() override {
    runs_type = api::find_kind(kApiVersion, "WorkflowRun");
    workflows_type = api::find_kind(kApiVersion, "Workflow");
    if (!runs_type || !workflows_type) return internal_error("the kind table lacks Workflow or WorkflowRun");
    runs = &factory().informer(*runs_type);
    workflows = &factory().informer(*workflows_type);
    auto on_run = [this](const ObjectPtr& o) { enqueue(client::object_key(*o)); };
    watch(*runs, {on_run,
                  [this](const ObjectPtr& old_obj, const ObjectPtr& new_obj) {
                    if (sfield(field(*old_obj, "metadata"), "resourceVersion") ==
                        sfield(field(*new_obj, "metadata"), "resourceVersion"))
                      return;
                    enqueue(client::object_key(*new_obj));
                  },
                  on_run});
    wait_for(*workflows);
    return Status::ok();
  }

  void on_stopped() override {
    {
      std::lock_guard lock(mu);
      shutting_down = true;
      for (auto& [key, run] : active) {
        run->abandon = true;
        run->interrupt();
      }
    }
    for (;;) {
      std::vector<std::thread> join;
      {
        std::lock_guard lock(mu);
        for (auto& [k, t] : threads) join.push_back(std::move(t));
        threads.clear();
        for (auto& t : done) join.push_back(std::move(t));
        done.clear();
      }
      if (join.empty()) break;
      for (auto& t : join) {
        if (t.joinable()) t.join();
      }
    }
    gateway.close_all();
  }

  int active_count() const {
    std::lock_guard lock(mu);
    return static_cast<int>(active.size());
  }

  client::ReconcileResult reconcile(const std::string& key) override {
    reap();
    ObjectPtr obj = runs->indexer().get(key);
    std::shared_ptr<Run> running;
    {
      std::lock_guard lock(mu);
      if (!obj || terminal(phase_of(*obj))) {
        finished.erase(key);
        waiting.erase(key);
      }
      auto it = active.find(key);
      if (it != active.end()) running = it->second;
      if (!running && obj && finished.count(key)) return client::ReconcileResult::done();
    }
    if (!obj) {
      if (running) {  // deleted while executing
        running->abandon = true;
        running->interrupt();
      }
      return client::ReconcileResult::done();
    }
    if (running) {
      if (cancel_requested(*obj) && !running->cancel.exchange(true)) {
        spdlog::info("workflow run {}: cancel requested", key);
        running->interrupt();
      }
      return client::ReconcileResult::done();
    }
    const std::string phase = phase_of(*obj);
    if (terminal(phase)) return client::ReconcileResult::done();
    const Json cancelled = {{"error", "States.Cancelled"}, {"cause", "the run was cancelled"}};
    // Cancelled while not executing here (before it started, or waiting to
    // be resumed): ends at once.
    if (cancel_requested(*obj)) return finish_unstarted(*obj, "Cancelled", cancelled);
    if (phase.empty() || phase == "Pending") {
      if (!slot_free(key)) return client::ReconcileResult::done();
      return claim(*obj);
    }
    if (phase == "Running") {
      if (!slot_free(key)) return client::ReconcileResult::done();
      return resume(*obj);
    }
    spdlog::warn("workflow run {}: unknown phase \"{}\"", key, phase);
    return client::ReconcileResult::done();
  }

  // Joins threads that ended.
  void reap() {
    std::vector<std::thread> join;
    {
      std::lock_guard lock(mu);
      join.swap(done);
    }
    for (auto& t : join) {
      if (t.joinable()) t.join();
    }
  }

  // True when the run may execute now; else it waits for a slot.
  bool slot_free(const std::string& key) {
    std::lock_guard lock(mu);
    if (static_cast<int>(active.size()) < opts.max_runs) {
      waiting.erase(key);
      return true;
    }
    waiting.insert(key);
    return false;
  }

  // A run that cannot start (cancelled before it started, its Workflow gone
  // or invalid): its terminal status at once.
  client::ReconcileResult finish_unstarted(const Json& obj, const std::string& phase, const Json& error) {
    Json o = obj;
    Json& st = o["status"];
    if (!st.is_object()) st = Json::object();
    std::string now = format_rfc3339_micro(clock().now());
    st["phase"] = phase;
    if (!st.contains("startTime")) st["startTime"] = now;
    st["completionTime"] = now;
    if (!error.is_null()) st["error"] = error;
    if (!st.contains("steps") || !st["steps"].is_array()) st["steps"] = Json::array();
    for (Json& rec : st["steps"]) {  // in flight when the server stopped: never finished
      if (rec.is_object() && sfield(rec, "status") == "Running") rec["status"] = "Aborted";
    }
    st["observedGeneration"] = field(o["metadata"], "generation");
    auto r = api_client().update_status(*runs_type, o);
    if (!r.is_ok()) {
      if (r.status().code() == Code::kNotFound) return client::ReconcileResult::done();
      return r.status();
    }
    spdlog::info("workflow run {}: {}{}", client::object_key(obj), phase,
                 error.is_null() ? "" : " (" + sfield(error, "cause") + ")");
    return client::ReconcileResult::done();
  }

  client::ReconcileResult claim(const Json& obj) {
    const std::string ns = ns_of(obj);
    const std::string wf_name = sfield(field(obj, "spec"), "workflow");
    Json wf;
    if (ObjectPtr w = workflows->indexer().get(ns, wf_name)) {
      wf = *w;
    } else {
      auto g = api_client().get(*workflows_type, ns, wf_name);
      if (!g.is_ok()) {
        if (g.status().code() != Code::kNotFound) return g.status();
        return finish_unstarted(obj, "Failed",
                                {{"error", "States.Runtime"},
                                 {"cause", "workflow \"" + wf_name + "\" not found in namespace " + ns}});
      }
      wf = *g;
    }
    const Json& spec = field(wf, "spec");
    auto machine = workflow::parse_machine(spec);
    if (!machine.is_ok()) {
      return finish_unstarted(obj, "Failed",
                              {{"error", "States.Runtime"},
                               {"cause", "workflow \"" + wf_name + "\" is invalid: " + machine.status().message()}});
    }
    Json o = obj;
    o["status"] = {{"phase", "Running"},
                   {"startTime", format_rfc3339_micro(clock().now())},
                   {"definition", spec},
                   {"workflowGeneration", field(wf["metadata"], "generation")},
                   {"observedGeneration", field(o["metadata"], "generation")},
                   {"steps", Json::array()}};
    auto r = api_client().update_status(*runs_type, o);
    if (!r.is_ok()) {
      if (r.status().code() == Code::kNotFound) return client::ReconcileResult::done();
      return r.status();  // a conflict: the cache was behind; requeued
    }
    spdlog::info("workflow run {}: started (workflow {} generation {})", client::object_key(obj), wf_name,
                 field(wf["metadata"], "generation").dump());
    launch(*r, *machine, false);
    return client::ReconcileResult::done();
  }

  client::ReconcileResult resume(const Json& obj) {
    auto machine = workflow::parse_machine(field(field(obj, "status"), "definition"));
    if (!machine.is_ok()) {
      return finish_unstarted(obj, "Failed",
                              {{"error", "States.Runtime"},
                               {"cause", "status.definition is invalid: " + machine.status().message()}});
    }
    spdlog::info("workflow run {}: resuming ({} step records)", client::object_key(obj),
                 api::afield(field(obj, "status"), "steps").size());
    launch(obj, *machine, true);
    return client::ReconcileResult::done();
  }

  void launch(const Json& obj, std::shared_ptr<const workflow::Machine> machine, bool resumed) {
    auto run = std::make_shared<Run>();
    run->key = client::object_key(obj);
    run->ns = ns_of(obj);
    run->name = name_of(obj);
    run->machine = std::move(machine);
    const Json& in = field(field(obj, "spec"), "input");
    run->input = in.is_null() ? Json::object() : in;
    run->generation = api::ifield(field(obj, "metadata"), "generation");
    run->cancel = cancel_requested(obj);
    run->budget = opts.steps_budget_bytes;
    if (resumed) {
      for (const Json& s : api::afield(field(obj, "status"), "steps")) {
        Json rec = s;
        if (sfield(rec, "status") == "Running") {
          rec["status"] = "Interrupted";
          run->interrupted = true;
        }
        run->put_step(run->steps.size(), std::move(rec));
      }
    }
    std::lock_guard lock(mu);
    if (shutting_down) return;
    active[run->key] = run;
    finished.erase(run->key);
    if (auto it = threads.find(run->key); it != threads.end()) {  // an ended thread of an earlier try
      done.push_back(std::move(it->second));
      threads.erase(it);
    }
    threads[run->key] = std::thread([this, run, resumed] { execute(run, resumed); });
  }

  // ---- the run thread

  class RunHost : public workflow::Host {
   public:
    RunHost(Impl& c, Run& r) : c_(c), r_(r) {}

    TaskResult invoke(const TaskCall& call) override {
      if (r_.stopped()) return cancelled_result();
      if (c_.opts.invoke) return c_.opts.invoke(r_.ns, call);
      return c_.invoke_http(r_, call);
    }

    void step_started(const StepRecord& step) override {
      std::lock_guard lock(r_.write_mu);
      const StepRecord& s = step;
      r_.put_step(r_.steps.size(), step_json(s));
      // States that finish at once are written when they end.
      using T = workflow::StateType;
      if (s.type == T::kTask || s.type == T::kWait || s.type == T::kParallel || s.type == T::kMap)
        c_.persist_locked(r_, Json::object());
    }

    void step_finished(const StepRecord& step) override {
      std::lock_guard lock(r_.write_mu);
      const StepRecord& s = step;
      auto it = r_.last.find(s.key);
      if (it != r_.last.end() && sfield(r_.steps[it->second], "status") == "Running") {
        r_.put_step(it->second, step_json(s));
      } else {
        r_.put_step(r_.steps.size(), step_json(s));
      }
      c_.persist_locked(r_, Json::object());
    }

    std::optional<StepRecord> recorded(const std::string& key) override {
      std::lock_guard lock(r_.write_mu);
      auto it = r_.last.find(key);
      if (it == r_.last.end()) return std::nullopt;
      StepRecord s = step_record(r_.steps[it->second]);
      if (s.status != "Succeeded" && s.status != "Failed" && s.status != "Caught") return std::nullopt;
      if (s.output_truncated) return std::nullopt;
      return s;
    }

    // The latest record, whatever its state: a Task in flight at a restart
    // (Interrupted) runs again with its attempt + 1.
    std::optional<StepRecord> previous_attempt(const std::string& key) override {
      std::lock_guard lock(r_.write_mu);
      auto it = r_.last.find(key);
      if (it == r_.last.end()) return std::nullopt;
      return step_record(r_.steps[it->second]);
    }

    bool sleep_for(std::chrono::milliseconds d) override {
      std::unique_lock lock(r_.mu);
      return !r_.cv.wait_for(lock, d, [&] { return r_.stopped(); });
    }

    bool cancelled() override { return r_.stopped(); }

   private:
    static TaskResult cancelled_result() {
      TaskResult t;
      t.error = "States.TaskFailed";
      t.cause = "the run was cancelled";
      return t;
    }
    Impl& c_;
    Run& r_;
  };

  TaskResult invoke_http(Run& r, const TaskCall& call) {
    const std::string target = "/functions/" + url_encode(r.ns) + "/" + url_encode(call.function);
    auto wait = call.timeout.count() > 0 ? call.timeout : opts.task_timeout;
    if (call.remaining.count() > 0) wait = std::min(wait, call.remaining);  // the run's own timeout
    auto deadline = Steady::now() + wait;
    std::vector<std::pair<std::string, std::string>> headers = {
        {"X-Workflow-Run", r.name}, {"X-Workflow-Step", call.key}, {"X-Workflow-Attempt", std::to_string(call.attempt)}};
    auto hook = [&r](int fd, bool add) {
      std::lock_guard lock(r.mu);
      if (!add) {
        r.in_flight.erase(fd);
        return true;
      }
      if (r.stopped()) return false;
      r.in_flight.insert(fd);
      return true;
    };
    auto a = gateway.post(target, call.input.dump(-1, ' ', false, Json::error_handler_t::replace), headers,
                          deadline, hook);
    TaskResult t;
    if (!a.is_ok()) {
      if (r.stopped()) {
        t.error = "States.TaskFailed";
        t.cause = "the run was cancelled";
      } else if (a.status().code() == Code::kTimeout) {
        t.error = "States.Timeout";
        t.cause = "function " + call.function + " did not answer within " + std::to_string(wait.count()) + " ms";
      } else {
        t.error = "States.TaskFailed";
        t.cause = a.status().message();
      }
      return t;
    }
    t = task_result_from_answer(a->status, a->content_type, a->body);
    t.instance = a->instance;
    if (!a->duration_ms.empty()) {
      try {
        t.function_ms = std::stod(a->duration_ms);
      } catch (const std::exception&) {
      }
    }
    return t;
  }

  // Writes status (steps + `extra`) with a merge patch of the status
  // subresource. Caller holds r.write_mu. A run deleted meanwhile is
  // abandoned; other failures are retried a few times, then logged (the run
  // goes on: a lost write only costs a re-execution after a restart).
  bool persist_locked(Run& r, Json extra) {
    if (r.abandon) return false;
    extra["steps"] = r.steps;
    Json patch = {{"status", std::move(extra)}};
    auto backoff = std::chrono::milliseconds(20);
    for (int i = 0; i < kWriteTries; ++i) {
      auto res = api_client().patch(*runs_type, r.ns, r.name, client::PatchType::kMerge, patch, "status");
      if (res.is_ok()) return true;
      if (res.status().code() == Code::kNotFound) {
        r.abandon = true;
        r.interrupt();
        return false;
      }
      if (r.abandon) return false;
      if (i + 1 == kWriteTries || res.status().code() == Code::kTooLarge ||
          res.status().code() == Code::kInvalid) {
        spdlog::warn("workflow run {}: cannot write status: {}", r.key, res.status().to_string());
        break;
      }
      std::unique_lock lock(r.mu);
      r.cv.wait_for(lock, backoff, [&] { return r.abandon.load(); });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
    }
    return false;
  }

  void execute(const std::shared_ptr<Run>& run, bool resumed) {
    RunHost host(*this, *run);
    if (resumed && !run->abandon) {
      std::lock_guard lock(run->write_mu);
      if (run->interrupted) persist_locked(*run, Json::object());  // the Interrupted marks
    }
    workflow::RunOutcome out;
    try {
      if (!run->abandon) out = workflow::run(*run->machine, run->input, host);
    } catch (const std::exception& e) {  // a bug, not the workflow's fault: fail the run, keep the server
      spdlog::error("workflow run {}: internal error: {}", run->key, e.what());
      out = workflow::RunOutcome{};
      out.phase = workflow::RunOutcome::Phase::kFailed;
      out.error = "States.Runtime";
      out.cause = std::string("internal error: ") + e.what();
    }
    bool wrote = false;
    if (!run->abandon) wrote = write_outcome(*run, out);
    std::lock_guard lock(mu);
    active.erase(run->key);
    if (wrote) finished.insert(run->key);
    if (auto it = threads.find(run->key); it != threads.end()) {
      done.push_back(std::move(it->second));
      threads.erase(it);
    }
    if (!shutting_down) {
      for (const std::string& k : waiting) enqueue(k);
    }
  }

  bool write_outcome(Run& r, const workflow::RunOutcome& out) {
    using P = workflow::RunOutcome::Phase;
    Json st;
    std::string phase;
    if (out.phase == P::kSucceeded) {
      phase = "Succeeded";
      st["output"] = limit_data(out.output, kRunOutputLimit);
    } else if (out.phase == P::kCancelled || r.cancel) {
      phase = "Cancelled";
      st["error"] = {{"error", "States.Cancelled"}, {"cause", "the run was cancelled"}};
    } else {
      phase = "Failed";
      st["error"] = {{"error", out.error}, {"cause", clean_utf8(out.cause)}, {"state", out.state}};
    }
    st["phase"] = phase;
    st["completionTime"] = format_rfc3339_micro(clock().now());
    if (ObjectPtr cur = runs->indexer().get(r.key)) st["observedGeneration"] = field(field(*cur, "metadata"), "generation");
    std::lock_guard lock(r.write_mu);
    bool ok = persist_locked(r, std::move(st));
    if (ok) {
      spdlog::info("workflow run {}: {}{} ({} steps)", r.key, phase,
                   phase == "Failed" ? " " + out.error + " in " + out.state + ": " + out.cause : "", out.steps);
    }
    return ok;
  }
};

WorkflowController::WorkflowController(client::SharedInformerFactory& factory, WorkflowControllerOptions opts,
                                       Clock& clock) {
  auto impl = std::make_unique<Impl>(factory, std::move(opts), clock);
  impl_ = impl.get();
  set_impl(std::move(impl));
}

int WorkflowController::active_runs() const { return impl_->active_count(); }

bool WorkflowController::stopping() const {
  std::lock_guard lock(impl_->mu);
  return impl_->shutting_down;
}

}  // namespace minik8s::serverless
