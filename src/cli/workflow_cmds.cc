// mkctl workflow …: see workflow_cmds.h and docs/workflows.md "CLI".
#include "workflow_cmds.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "cli_common.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/util/time.h"
#include "minik8s/util/url.h"
#include "printers.h"

namespace minik8s::cli {

using api::Json;

namespace {

constexpr const char* kGroupPath = "/apis/serverless.minik8s.io/v1";
constexpr const char* kApiVersion = "serverless.minik8s.io/v1";
constexpr const char* kWorkflowLabel = "serverless.minik8s.io/workflow";
constexpr const char* kWfPrefix = "workflow.serverless.minik8s.io";
constexpr const char* kRunPrefix = "workflowrun.serverless.minik8s.io";
constexpr int kMaxTreeDepth = 16;       // deeper nesting than validation allows is cut with "…"
constexpr size_t kMaxJsonShown = 2000;  // describe: Input/Output beyond this are cut

const Json& kNull() {
  static const Json n;
  return n;
}

const Json& member(const Json& obj, const char* key) {
  if (!obj.is_object()) return kNull();
  auto it = obj.find(key);
  return it == obj.end() ? kNull() : *it;
}

std::string str_of(const Json& obj, const char* key) {
  const Json& v = member(obj, key);
  return v.is_string() ? v.get<std::string>() : "";
}

// Compact JSON that never throws (invalid UTF-8 replaced), cut at max bytes.
std::string json_text(const Json& v, size_t max = std::string::npos) {
  std::string s = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (s.size() > max) s = s.substr(0, max) + "… (" + std::to_string(s.size()) + " bytes)";
  return s;
}

std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

// The states a state can go to, in the order a reader meets them.
std::vector<std::string> successors(const Json& st) {
  std::vector<std::string> out;
  auto add = [&](const Json& v) {
    if (v.is_string()) out.push_back(v.get<std::string>());
  };
  add(member(st, "next"));
  const Json& choices = member(st, "choices");
  if (choices.is_array()) {
    for (const auto& c : choices) add(member(c, "next"));
  }
  add(member(st, "default"));
  const Json& catches = member(st, "catch");
  if (catches.is_array()) {
    for (const auto& c : catches) add(member(c, "next"));
  }
  return out;
}

// Depth-first from startAt; states not reached come last (in name order).
std::vector<std::pair<std::string, bool>> reading_order(const Json& machine) {
  std::vector<std::pair<std::string, bool>> order;
  const Json& states = member(machine, "states");
  if (!states.is_object()) return order;
  std::set<std::string> seen;
  std::vector<std::string> stack;
  if (std::string start = str_of(machine, "startAt"); states.contains(start))
    stack.push_back(start);
  while (!stack.empty()) {
    std::string name = stack.back();
    stack.pop_back();
    if (!seen.insert(name).second) continue;
    order.emplace_back(name, true);
    auto next = successors(states[name]);
    for (auto it = next.rbegin(); it != next.rend(); ++it) {
      if (states.contains(*it) && !seen.count(*it)) stack.push_back(*it);
    }
  }
  for (auto it = states.begin(); it != states.end(); ++it) {
    if (!seen.count(it.key())) order.emplace_back(it.key(), false);
  }
  return order;
}

std::string errors_text(const Json& errors) {
  if (!errors.is_array() || errors.empty()) return "all errors";
  std::string s;
  for (const auto& e : errors) {
    if (!s.empty()) s += ", ";
    s += e.is_string() ? e.get<std::string>() : json_text(e, 80);
  }
  return s;
}

std::string number_text(const Json& v) {
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  return json_text(v, 40);
}

void render_machine(const Json& machine, int indent, int depth, std::string& out);

void render_state(const std::string& name, const Json& st, bool reachable, int indent, int depth,
                  std::string& out) {
  std::string pad(static_cast<size_t>(indent), ' ');
  std::string sub(static_cast<size_t>(indent) + 2, ' ');
  std::string type = str_of(st, "type");
  std::string line = pad + name + " (" + (type.empty() ? "?" : type) + ")";
  auto add = [&](const std::string& text) { line += " " + text; };
  if (type == "Task") add("function: " + or_dash(str_of(st, "function")));
  if (type == "Map") {
    std::string items = str_of(st, "itemsPath");
    add("items: " + (items.empty() ? std::string("$") : items));
    if (!member(st, "maxConcurrency").is_null())
      add("maxConcurrency: " + number_text(member(st, "maxConcurrency")));
  }
  if (type == "Wait") add("seconds: " + number_text(member(st, "seconds")));
  if (type == "Pass" && st.is_object() && st.contains("result"))
    add("result: " + json_text(st["result"], 60));
  if (type == "Fail") {
    std::string e = str_of(st, "error");
    add("error: " + (e.empty() ? std::string("States.Fail") : e));
    if (std::string c = str_of(st, "cause"); !c.empty()) add("cause: " + json_text(Json(c), 80));
  }
  for (const char* path : {"inputPath", "resultPath", "outputPath"}) {
    if (st.is_object() && st.contains(path)) {
      const Json& v = st[path];
      add(std::string(path) + ": " + (v.is_string() ? v.get<std::string>() : json_text(v, 40)));
    }
  }
  if (!member(st, "timeoutSeconds").is_null())
    add("timeout: " + number_text(member(st, "timeoutSeconds")) + "s");
  if (const Json& r = member(st, "retry"); r.is_object()) {
    std::string t =
        "retry: " +
        number_text(member(r, "maxAttempts").is_null() ? Json(1) : member(r, "maxAttempts")) +
        " attempts";
    if (!member(r, "backoffSeconds").is_null())
      t += ", backoff " + number_text(member(r, "backoffSeconds")) + "s";
    if (!member(r, "backoffRate").is_null()) t += " x" + number_text(member(r, "backoffRate"));
    if (member(r, "errors").is_array()) t += " on " + errors_text(member(r, "errors"));
    add("[" + t + "]");
  }
  if (std::string n = str_of(st, "next"); !n.empty()) {
    add("-> " + n);
  } else if (member(st, "end").is_boolean() && member(st, "end").get<bool>()) {
    add("(end)");
  } else if (type == "Succeed" || type == "Fail") {
    add("(terminal)");
  }
  if (!reachable) add("(unreachable)");
  if (std::string c = str_of(st, "comment"); !c.empty()) add("# " + first_line(c, 80));
  out += line + "\n";

  if (type == "Choice") {
    const Json& choices = member(st, "choices");
    if (choices.is_array()) {
      for (const auto& c : choices)
        out += sub + "if " + rule_text(c) + " -> " + or_dash(str_of(c, "next")) + "\n";
    }
    std::string d = str_of(st, "default");
    out += sub +
           (d.empty() ? std::string("otherwise: fail (States.NoChoiceMatched)")
                      : "otherwise -> " + d) +
           "\n";
  }
  if (const Json& catches = member(st, "catch"); catches.is_array()) {
    for (const auto& c : catches) {
      std::string t = sub + "catch " + errors_text(member(c, "errors"));
      if (c.is_object() && c.contains("resultPath")) {
        const Json& rp = c["resultPath"];
        t += " (resultPath: " + (rp.is_string() ? rp.get<std::string>() : json_text(rp, 40)) + ")";
      }
      out += t + " -> " + or_dash(str_of(c, "next")) + "\n";
    }
  }
  if (depth >= kMaxTreeDepth) {
    if (type == "Parallel" || type == "Map") out += sub + "…\n";
    return;
  }
  if (type == "Parallel") {
    const Json& branches = member(st, "branches");
    if (branches.is_array()) {
      for (size_t i = 0; i < branches.size(); ++i) {
        out += sub + "branch " + std::to_string(i) +
               " (start: " + or_dash(str_of(branches[i], "startAt")) + ")\n";
        render_machine(branches[i], indent + 4, depth + 1, out);
      }
    }
  }
  if (type == "Map") {
    const Json& it = member(st, "iterator");
    out += sub + "iterator (start: " + or_dash(str_of(it, "startAt")) + ")\n";
    render_machine(it, indent + 4, depth + 1, out);
  }
}

void render_machine(const Json& machine, int indent, int depth, std::string& out) {
  const Json& states = member(machine, "states");
  if (!states.is_object() || states.empty()) {
    out += std::string(static_cast<size_t>(indent), ' ') + "<no states>\n";
    return;
  }
  for (const auto& [name, reachable] : reading_order(machine))
    render_state(name, states[name], reachable, indent, depth, out);
}

std::string rule_text_at(const Json& rule, int depth) {
  if (depth > kMaxTreeDepth) return "…";
  auto compound = [&](const Json& r) {
    std::string t = rule_text_at(r, depth + 1);
    bool nested = r.is_object() && (r.contains("and") || r.contains("or"));
    return nested ? "(" + t + ")" : t;
  };
  for (const char* op : {"and", "or"}) {
    const Json& list = member(rule, op);
    if (list.is_null()) continue;
    if (!list.is_array() || list.empty()) return std::string(op) + " []";
    std::string s;
    for (const auto& r : list) {
      if (!s.empty()) s += std::string(" ") + op + " ";
      s += compound(r);
    }
    return s;
  }
  if (const Json& n = member(rule, "not"); !n.is_null()) return "not " + compound(n);
  std::string var = or_dash(str_of(rule, "variable"));
  std::string op = str_of(rule, "op");
  const Json& value = member(rule, "value");
  bool truth = !value.is_boolean() || value.get<bool>();
  if (op == "isPresent") return var + (truth ? " is present" : " is not present");
  if (op == "isNull") return var + (truth ? " is null" : " is not null");
  return var + " " + (op.empty() ? "?" : op) + " " + json_text(value, 80);
}

// Milliseconds between two RFC 3339 times; -1 when either is unusable.
double ms_between(const std::string& from, const std::string& to) {
  SysTime a, b;
  if (!parse_rfc3339(from, &a) || !parse_rfc3339(to, &b)) return -1;
  return std::chrono::duration<double, std::milli>(b - a).count();
}

std::string sys_now_rfc3339(long long now) {
  return format_rfc3339(SysTime(std::chrono::seconds(now)));
}

// A describe section's "Key:   value" lines, aligned.
std::string aligned(const std::vector<std::pair<std::string, std::string>>& rows) {
  size_t w = 0;
  for (const auto& [k, v] : rows) w = std::max(w, k.size() + 1);
  std::string out;
  for (const auto& [k, v] : rows)
    out += k + ":" + std::string(w + 2 - k.size() - 1, ' ') + v + "\n";
  return out;
}

std::string indent_lines(const std::string& text, const std::string& pad) {
  std::string out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) {
    l.erase(l.find_last_not_of(' ') + 1);
    out += pad + l + "\n";
  }
  return out;
}

class WorkflowCmd {
 public:
  WorkflowCmd(const client::HttpRestClientOptions& server, const std::string& ns, std::chrono::milliseconds timeout,
              const WorkflowOptions& o, std::istream& in, std::ostream& out, std::ostream& err)
      : ns_(ns), o_(o), in_(in), out_(out), err_(err), api_(server, timeout) {}

  int run() {
    const std::string& a = o_.action;
    bool run_target = o_.args.size() == 2 && o_.args[0] == "run";
    if ((a == "describe" || a == "delete") && o_.args.size() == 2 && !run_target)
      return fail("error: " + a + " takes NAME or \"run RUN\", not \"" + o_.args[0] + " " +
                  o_.args[1] + "\"");
    if (o_.args.size() > 2 || (o_.args.size() == 2 && !run_target))
      return fail("error: unexpected argument \"" + o_.args.back() + "\"");
    if (a == "create" || a == "apply") return create_or_apply(a == "apply");
    if (a == "get") return get();
    if (a == "describe") return run_target ? describe_run_cmd(o_.args[1]) : describe();
    if (a == "run") return start_run();
    if (a == "runs") return runs();
    if (a == "cancel") return cancel();
    if (a == "delete") return run_target ? remove(true, o_.args[1]) : remove(false, name());
    return fail("error: unknown workflow command \"" + a + "\"");
  }

 private:
  int fail(const std::string& line) {
    err_ << line << "\n";
    return 1;
  }
  std::string name() const { return o_.args.empty() ? "" : o_.args[0]; }
  std::string path(const char* plural, const std::string& n = "",
                   const std::string& ns = "") const {
    std::string p =
        std::string(kGroupPath) + "/namespaces/" + url_encode(ns.empty() ? ns_ : ns) + "/" + plural;
    if (!n.empty()) p += "/" + url_encode(n);
    return p;
  }

  int create_or_apply(bool apply) {
    if (o_.file.empty()) return fail("error: -f FILE is required");
    auto text = read_data_arg(o_.file == "-" ? "@-" : "@" + o_.file, in_);
    if (!text) return fail("error: " + text.status().message());
    std::string source = o_.file == "-" ? "STDIN" : o_.file;
    auto docs = api::parse_manifests(*text);
    if (!docs) return fail("error: error parsing " + source + ": " + docs.status().message());
    if (docs->size() != 1)
      return fail("error: " + source + ": expected one Workflow, found " +
                  std::to_string(docs->size()) + " documents");
    Json doc = std::move((*docs)[0]);
    if (Status s = normalize_workflow(doc); !s)
      return fail("error: " + source + ": " + s.message());
    std::string ns = jstr(doc, {"metadata", "namespace"});
    if (ns.empty()) ns = ns_;
    doc["metadata"]["namespace"] = ns;
    std::string n = doc["metadata"]["name"];
    for (int attempt = 0; attempt < 5; ++attempt) {
      Result<Json> live = Status(Code::kNotFound, "");
      if (apply) live = api_.call("GET", path("workflows", n, ns));
      if (!live && live.status().code() != Code::kNotFound)
        return fail(server_error(live.status()));
      if (!live) {
        auto created = api_.call("POST", path("workflows", "", ns), doc.dump());
        if (!created && apply && created.status().code() == Code::kAlreadyExists) continue;
        if (!created) return fail(server_error(created.status()));
        out_ << kWfPrefix << "/" << n << " created\n";
        return 0;
      }
      Json obj = std::move(*live);
      const Json before = obj;
      for (const char* m : {"labels", "annotations"}) {
        const Json& want = api::field_at(doc, {"metadata", m});
        if (!want.is_null()) obj["metadata"][m] = want;
      }
      obj["spec"] = doc["spec"];
      // The server fills defaults (maxSteps, timeoutSeconds, …): what it would
      // store (a dry run) is compared with what it has.
      auto dry = api_.call("PUT", path("workflows", n, ns) + "?dryRun=All", obj.dump());
      if (!dry && dry.status().code() == Code::kConflict) continue;
      if (!dry) return fail(server_error(dry.status()));
      bool same = api::field_at(*dry, {"spec"}) == api::field_at(before, {"spec"});
      for (const char* m : {"labels", "annotations"}) {
        if (api::field_at(*dry, {"metadata", m}) != api::field_at(before, {"metadata", m}))
          same = false;
      }
      if (same) {
        out_ << kWfPrefix << "/" << n << " unchanged\n";
        return 0;
      }
      auto updated = api_.call("PUT", path("workflows", n, ns), obj.dump());
      if (!updated && updated.status().code() == Code::kConflict) continue;
      if (!updated) return fail(server_error(updated.status()));
      out_ << kWfPrefix << "/" << n << " configured\n";
      return 0;
    }
    return fail("error: " + std::string(kWfPrefix) + "/" + n +
                ": giving up after 5 conflicting attempts");
  }

  // Prints the server's Table for path (or, without one with at least as
  // many columns as `headers`, the rows built from the objects by `row`);
  // `none` on stderr when empty.
  int print_table(const std::string& p, const std::vector<std::string>& headers,
                  const std::function<std::vector<std::string>(const Json&)>& row,
                  const std::string& none) {
    auto res = api_.call("GET", p, "", "application/json", kTableAccept);
    if (!res) return fail(server_error(res.status()));
    Json table = std::move(*res);
    std::vector<std::vector<std::string>> rows;
    const Json& cols = member(table, "columnDefinitions");
    if (table.value("kind", "") == "Table" && cols.is_array() && cols.size() >= headers.size()) {
      rows = table_rows(table, TableOptions{});
    } else {
      // No Table, or the server's generic NAME/AGE one (a server without
      // the kind's columns): the objects themselves, without Table.
      if (table.value("kind", "") == "Table") {
        auto plain = api_.call("GET", p);
        if (!plain) return fail(server_error(plain.status()));
        table = std::move(*plain);
      }
      Json items = table.contains("items") ? table["items"] : Json::array({table});
      if (!items.is_array()) items = Json::array();
      std::vector<const Json*> sorted;
      for (const auto& item : items) {
        if (item.is_object()) sorted.push_back(&item);
      }
      std::stable_sort(sorted.begin(), sorted.end(), [](const Json* a, const Json* b) {
        return jstr(*a, {"metadata", "creationTimestamp"}) <
               jstr(*b, {"metadata", "creationTimestamp"});
      });
      rows.push_back(headers);
      for (const Json* item : sorted) rows.push_back(row(*item));
    }
    if (rows.size() <= 1) {
      err_ << none << "\n";
      return 0;
    }
    out_ << format_columns(rows);
    return 0;
  }

  int get() {
    std::string p = name().empty() ? path("workflows") : path("workflows", name());
    if (o_.output == "yaml" || o_.output == "json") {
      auto res = api_.call("GET", p);
      if (!res) return fail(server_error(res.status()));
      if (o_.output == "json") {
        out_ << res->dump(4) << "\n";
      } else {
        out_ << api::to_yaml(*res);
      }
      return 0;
    }
    if (!o_.output.empty())
      return fail("error: -o must be yaml or json, not \"" + o_.output + "\"");
    long long now = now_unix();
    return print_table(
        p, {"NAME", "STATES", "START", "AGE"},
        [now](const Json& wf) -> std::vector<std::string> {
          const Json& states = api::field_at(wf, {"spec", "states"});
          return {jstr(wf, {"metadata", "name"}),
                  std::to_string(states.is_object() ? states.size() : 0),
                  jstr(wf, {"spec", "startAt"}),
                  human_age(jstr(wf, {"metadata", "creationTimestamp"}), now)};
        },
        "No resources found in " + ns_ + " namespace.");
  }

  int describe() {
    auto wf = api_.call("GET", path("workflows", name()));
    if (!wf) return fail(server_error(wf.status()));
    long long now = now_unix();
    out_ << describe_workflow(*wf, now);
    out_ << describe_events(events_for(api_, ns_, "Workflow", name()), now);
    return 0;
  }

  int describe_run_cmd(const std::string& run) {
    auto r = api_.call("GET", path("workflowruns", run));
    if (!r) return fail(server_error(r.status()));
    long long now = now_unix();
    out_ << describe_run(*r, now);
    out_ << describe_events(events_for(api_, ns_, "WorkflowRun", run), now);
    return 0;
  }

  int start_run() {
    Json input = Json::object();
    if (!o_.data.empty()) {
      auto data = read_data_arg(o_.data, in_);
      if (!data) return fail("error: " + data.status().message());
      auto parsed = api::parse_json(*data);
      if (!parsed)
        return fail("error: -d is not valid JSON: " + first_line(parsed.status().message()));
      input = std::move(*parsed);
    }
    long long timeout_ms = parse_timeout_ms(o_.timeout);
    if (timeout_ms < 0)
      return fail("error: invalid --timeout \"" + o_.timeout + "\" (e.g. 90s, 5m)");
    auto wf = api_.call("GET", path("workflows", name()));
    if (!wf) return fail(server_error(wf.status()));
    if (timeout_ms == 0) {
      const Json& ts = api::field_at(*wf, {"spec", "timeoutSeconds"});
      long long s = ts.is_number_integer() ? ts.get<long long>() : 600;
      timeout_ms = (std::max(s, 1LL) + 30) * 1000;
    }
    Json run = {{"apiVersion", kApiVersion},
                {"kind", "WorkflowRun"},
                {"metadata",
                 {{"generateName", name() + "-"},
                  {"namespace", ns_},
                  {"labels", {{kWorkflowLabel, name()}}}}},
                {"spec", {{"workflow", name()}, {"input", input}}}};
    auto created = api_.call("POST", path("workflowruns"), run.dump());
    if (!created) return fail(server_error(created.status()));
    std::string run_name = jstr(*created, {"metadata", "name"});
    if (!o_.wait) {
      out_ << run_name << "\n";
      return 0;
    }
    err_ << kRunPrefix << "/" << run_name << " created\n";
    return wait_for(run_name, *created, std::chrono::milliseconds(timeout_ms));
  }

  // 0 when obj is terminal and Succeeded (output printed), 1 when it ended
  // otherwise (reason printed), -1 while it runs.
  int settle(const Json& obj) {
    std::string phase = jstr(obj, {"status", "phase"});
    if (!is_terminal_phase(phase)) return -1;
    if (phase == "Succeeded") {
      out_ << json_text(api::field_at(obj, {"status", "output"})) << "\n";
      return 0;
    }
    err_ << run_failure_text(obj);
    return 1;
  }

  int wait_for(const std::string& run, Json obj, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    const api::ResourceType* t = api::find_kind(kApiVersion, "WorkflowRun");
    if (!t) return fail("error: the kind table lacks WorkflowRun");
    client::Client c(api_.rest());
    std::string phase;
    auto refresh = [&]() -> Status {
      auto g = c.get(*t, ns_, run);
      if (!g) return g.status();
      obj = std::move(*g);
      return Status::ok();
    };
    while (std::chrono::steady_clock::now() < deadline) {
      if (int rc = settle(obj); rc >= 0) return rc;
      phase = jstr(obj, {"status", "phase"});
      client::ListOptions lo;
      lo.field_selector = "metadata.name=" + run;
      lo.resource_version = jstr(obj, {"metadata", "resourceVersion"});
      lo.timeout_seconds = 60;
      auto w = c.watch(*t, ns_, lo);
      if (w) {
        auto& stream = *w.value();
        while (!stream.ended() && std::chrono::steady_clock::now() < deadline) {
          auto ev = stream.next(std::chrono::milliseconds(200));
          if (!ev || !ev->object) continue;
          if (ev->type == "DELETED") {
            stream.close();
            return fail("error: " + std::string(kRunPrefix) + "/" + run + " was deleted");
          }
          if (ev->type != "ADDED" && ev->type != "MODIFIED") continue;
          obj = *ev->object;
          if (int rc = settle(obj); rc >= 0) {
            stream.close();
            return rc;
          }
          phase = jstr(obj, {"status", "phase"});
        }
        stream.close();
      } else {
        // No watch (an old server, a dropped connection): poll.
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
      if (Status s = refresh(); !s) {
        if (s.code() == Code::kNotFound)
          return fail("error: " + std::string(kRunPrefix) + "/" + run + " was deleted");
        if (std::chrono::steady_clock::now() >= deadline) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
      }
    }
    if (int rc = settle(obj); rc >= 0) return rc;
    return fail("error: timed out after " + format_duration_ms(static_cast<double>(limit.count())) +
                " waiting for " + kRunPrefix + "/" + run + " (phase " +
                (phase.empty() ? std::string("Pending") : phase) + ")");
  }

  int runs() {
    long long now = now_unix();
    std::string p = path("workflowruns") +
                    "?labelSelector=" + url_encode(std::string(kWorkflowLabel) + "=" + name());
    return print_table(
        p, {"NAME", "WORKFLOW", "PHASE", "STEPS", "DURATION", "AGE"},
        [now](const Json& r) -> std::vector<std::string> {
          const Json& steps = api::field_at(r, {"status", "steps"});
          std::string phase = jstr(r, {"status", "phase"});
          return {jstr(r, {"metadata", "name"}),
                  jstr(r, {"spec", "workflow"}),
                  phase.empty() ? "Pending" : phase,
                  std::to_string(steps.is_array() ? steps.size() : 0),
                  run_duration(r, now).empty() ? "<none>" : run_duration(r, now),
                  human_age(jstr(r, {"metadata", "creationTimestamp"}), now)};
        },
        "No runs of workflow \"" + name() + "\" in " + ns_ + " namespace.");
  }

  int cancel() {
    auto r = api_.call("GET", path("workflowruns", name()));
    if (!r) return fail(server_error(r.status()));
    std::string phase = jstr(*r, {"status", "phase"});
    if (is_terminal_phase(phase)) {
      out_ << kRunPrefix << "/" << name() << " already " << phase << "\n";
      return 0;
    }
    Json patch = {{"spec", {{"cancel", true}}}};
    auto p = api_.call("PATCH", path("workflowruns", name()), patch.dump(),
                       "application/merge-patch+json");
    if (!p) return fail(server_error(p.status()));
    out_ << kRunPrefix << "/" << name() << " cancel requested\n";
    return 0;
  }

  int remove(bool run, const std::string& n) {
    auto res = api_.call("DELETE", path(run ? "workflowruns" : "workflows", n));
    if (!res) return fail(server_error(res.status()));
    out_ << (run ? kRunPrefix : kWfPrefix) << " \"" << n << "\" deleted\n";
    return 0;
  }

  std::string ns_;
  const WorkflowOptions& o_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  ApiCaller api_;
};

}  // namespace

Status normalize_workflow(Json& doc) {
  if (!doc.is_object()) return Status(Code::kInvalid, "the document is not an object");
  std::string kind = doc.value("kind", std::string());
  if (doc.contains("kind") && kind != "Workflow")
    return Status(Code::kInvalid, "kind is \"" +
                                      (doc["kind"].is_string() ? kind : doc["kind"].dump()) +
                                      "\", not Workflow (mkctl apply -f takes any kind)");
  std::string av = doc.value("apiVersion", std::string());
  if (doc.contains("apiVersion") && av != kApiVersion)
    return Status(Code::kInvalid, "apiVersion is \"" + av + "\", not " + kApiVersion);
  doc["kind"] = "Workflow";
  doc["apiVersion"] = kApiVersion;
  if (!doc.contains("metadata")) doc["metadata"] = Json::object();
  if (!doc["metadata"].is_object()) return Status(Code::kInvalid, "metadata: not an object");
  const Json& n = doc["metadata"].contains("name") ? doc["metadata"]["name"] : kNull();
  if (!n.is_string() || n.get<std::string>().empty())
    return Status(Code::kInvalid, "metadata.name: Required value");
  if (!doc.contains("spec") || !doc["spec"].is_object())
    return Status(Code::kInvalid, "spec: Required value (an object with startAt and states)");
  return Status::ok();
}

std::string rule_text(const Json& rule) { return rule_text_at(rule, 0); }

std::string workflow_tree(const Json& machine, int indent) {
  std::string out;
  render_machine(machine, indent, 0, out);
  return out;
}

std::string describe_workflow(const Json& wf, long long now) {
  const Json& spec = api::field_at(wf, {"spec"});
  const Json& states = member(spec, "states");
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Name", jstr(wf, {"metadata", "name"})},
      {"Namespace", jstr(wf, {"metadata", "namespace"})},
      {"Labels", labels_string(api::field_at(wf, {"metadata", "labels"}))},
      {"Created", jstr(wf, {"metadata", "creationTimestamp"}) + " (" +
                      human_age(jstr(wf, {"metadata", "creationTimestamp"}), now) + " ago)"},
      {"Generation", jnum(wf, {"metadata", "generation"}, "1")},
      {"Start At", or_dash(str_of(spec, "startAt"))},
      {"States", std::to_string(states.is_object() ? states.size() : 0)},
      {"Max Steps", jnum(spec, {"maxSteps"}, "1000")},
      {"Timeout", jnum(spec, {"timeoutSeconds"}, "600") + "s"},
  };
  if (std::string c = str_of(spec, "comment"); !c.empty())
    rows.push_back({"Comment", first_line(c)});
  return aligned(rows) + "State Machine:\n" + workflow_tree(spec, 2);
}

std::string step_table(const Json& steps) {
  std::vector<std::vector<std::string>> rows{
      {"KEY", "STATE", "TYPE", "FUNCTION", "INSTANCE", "ATTEMPT", "STATUS", "DURATION"}};
  if (steps.is_array()) {
    for (const auto& s : steps) {
      const Json& d = member(s, "durationMs");
      rows.push_back({or_dash(str_of(s, "key")), or_dash(str_of(s, "state")),
                      or_dash(str_of(s, "type")), or_dash(str_of(s, "function")),
                      or_dash(str_of(s, "instance")), jnum(s, {"attempt"}, "-"),
                      or_dash(str_of(s, "status")),
                      d.is_number() ? format_duration_ms(d.get<double>()) : "-"});
    }
  }
  return format_columns(rows);
}

bool is_terminal_phase(const std::string& phase) {
  return phase == "Succeeded" || phase == "Failed" || phase == "Cancelled";
}

std::string run_duration(const Json& run, long long now) {
  std::string start = jstr(run, {"status", "startTime"});
  if (start.empty()) return "";
  std::string end = jstr(run, {"status", "completionTime"});
  double ms = ms_between(start, end.empty() ? sys_now_rfc3339(now) : end);
  return ms < 0 ? "" : format_duration_ms(ms < 0 ? 0 : ms);
}

std::string run_failure_text(const Json& run) {
  std::string phase = jstr(run, {"status", "phase"});
  std::string out = "error: " + std::string(kRunPrefix) + "/" + jstr(run, {"metadata", "name"}) +
                    " " + (phase.empty() ? std::string("ended") : phase) + "\n";
  const Json& e = api::field_at(run, {"status", "error"});
  std::string state = str_of(e, "state");
  if (state.empty()) {
    // The last step that did not succeed names the state when the error does not.
    const Json& steps = api::field_at(run, {"status", "steps"});
    if (steps.is_array()) {
      for (auto it = steps.rbegin(); it != steps.rend(); ++it) {
        std::string st = str_of(*it, "status");
        if (st == "Failed" || st == "Running") {
          state = str_of(*it, "state");
          break;
        }
      }
    }
  }
  if (!state.empty()) out += "  state: " + state + "\n";
  if (std::string err = str_of(e, "error"); !err.empty()) out += "  error: " + err + "\n";
  if (const Json& cause = member(e, "cause"); !cause.is_null())
    out += "  cause: " + (cause.is_string() ? cause.get<std::string>() : json_text(cause, 2000)) +
           "\n";
  if (e.is_string()) out += "  error: " + e.get<std::string>() + "\n";
  return out;
}

std::string describe_run(const Json& run, long long now) {
  const Json& status = api::field_at(run, {"status"});
  std::string phase = str_of(status, "phase");
  std::string wf = jstr(run, {"spec", "workflow"});
  if (!member(status, "workflowGeneration").is_null())
    wf += " (generation " + number_text(member(status, "workflowGeneration")) + ")";
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Name", jstr(run, {"metadata", "name"})},
      {"Namespace", jstr(run, {"metadata", "namespace"})},
      {"Workflow", wf},
      {"Phase", phase.empty() ? "Pending" : phase},
      {"Created", jstr(run, {"metadata", "creationTimestamp"})},
      {"Start Time", or_dash(str_of(status, "startTime"))},
      {"Completion Time", or_dash(str_of(status, "completionTime"))},
      {"Duration", or_dash(run_duration(run, now))},
  };
  const Json& cancel = api::field_at(run, {"spec", "cancel"});
  if (cancel.is_boolean() && cancel.get<bool>()) rows.push_back({"Cancel", "requested"});
  rows.push_back({"Input", json_text(api::field_at(run, {"spec", "input"}).is_null()
                                         ? Json::object()
                                         : api::field_at(run, {"spec", "input"}),
                                     kMaxJsonShown)});
  rows.push_back({"Output", status.is_object() && status.contains("output")
                                ? json_text(status["output"], kMaxJsonShown)
                                : "<none>"});
  const Json& e = member(status, "error");
  if (!e.is_null()) {
    std::string err = e.is_string() ? e.get<std::string>() : str_of(e, "error");
    std::string state = str_of(e, "state");
    rows.push_back({"Error", or_dash(err) + (state.empty() ? "" : " (state " + state + ")")});
    const Json& cause = member(e, "cause");
    if (!cause.is_null())
      rows.push_back({"Cause", cause.is_string() ? first_line(cause.get<std::string>(), 1000)
                                                 : json_text(cause, 1000)});
  }
  std::string out = aligned(rows);
  const Json& steps = member(status, "steps");
  if (!steps.is_array() || steps.empty()) {
    out += "Steps:  <none>\n";
    return out;
  }
  out += "Steps:\n" + indent_lines(step_table(steps), "  ");
  std::string errors;
  for (const auto& s : steps) {
    std::string e2 = str_of(s, "error");
    if (e2.empty()) continue;
    errors += "  " + or_dash(str_of(s, "key")) + " (attempt " + jnum(s, {"attempt"}, "1") + ", " +
              or_dash(str_of(s, "status")) + "): " + first_line(e2, 500) + "\n";
  }
  if (!errors.empty()) out += "Step Errors:\n" + errors;
  return out;
}

CLI::App* add_workflow_commands(CLI::App& app, WorkflowOptions& o) {
  auto* wf = app.add_subcommand(
      "workflow", "Workflows: create, describe, run and watch, list runs, cancel (alias wf)");
  wf->alias("wf");
  wf->alias("workflows");
  wf->require_subcommand(1);
  auto sub = [&](const char* action, const char* help, const char* args_help, bool required) {
    auto* s = wf->add_subcommand(action, help);
    auto* opt = s->add_option("args", o.args, args_help);
    if (required) opt->required();
    s->callback([&o, action] { o.action = action; });
    return s;
  };
  for (const char* action : {"create", "apply"}) {
    auto* s = wf->add_subcommand(
        action,
        std::string(action) + " a Workflow from a YAML or JSON file: " + action + " -f FILE");
    s->add_option("-f,--filename", o.file, "FILE (YAML or JSON, one Workflow; - for stdin)")
        ->required()
        ->allow_extra_args(false);
    s->callback([&o, action] { o.action = action; });
  }
  auto* get = sub("get", "List Workflows (NAME STATES START AGE), or one", "[NAME]", false);
  get->alias("list");
  get->alias("ls");
  get->add_option("-o,--output", o.output, "yaml|json");
  sub("describe", "A Workflow's states as a tree (describe NAME), or a run (describe run RUN)",
      "NAME | run RUN", true);
  auto* run =
      sub("run", "Start a run: run NAME [-d JSON|@FILE|@-] [--wait [--timeout DUR]]", "NAME", true);
  run->add_option("-d,--data", o.data, "The input: JSON, @FILE or @- (stdin); default {}")
      ->allow_extra_args(false);
  run->add_flag("-w,--wait", o.wait,
                "Wait for the run to end; print its output (exit 1 when it failed)");
  run->add_option("--timeout", o.timeout,
                  "With --wait: give up after this long (e.g. 90s, 5m; default the "
                  "workflow's timeoutSeconds + 30s)");
  sub("runs", "A workflow's runs (NAME WORKFLOW PHASE STEPS DURATION AGE)", "NAME", true);
  sub("cancel", "Cancel a run (spec.cancel=true: it stops at the next step)", "RUN", true);
  sub("delete", "Delete a Workflow and its runs (delete NAME), or one run (delete run RUN)",
      "NAME | run RUN", true);
  return wf;
}

int run_workflow(const client::HttpRestClientOptions& server, const std::string& ns,
                 std::chrono::milliseconds request_timeout, const WorkflowOptions& o,
                 std::istream& in, std::ostream& out, std::ostream& err) {
  try {
    WorkflowCmd cmd(server, ns, request_timeout, o, in, out, err);
    return cmd.run();
  } catch (const std::exception& e) {
    err << "error: " << first_line(e.what()) << "\n";
    return 1;
  }
}

}  // namespace minik8s::cli
