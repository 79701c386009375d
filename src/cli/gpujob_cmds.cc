// mkctl gpujob …: see gpujob_cmds.h and docs/gpu.md "CLI".
#include "gpujob_cmds.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "cli_common.h"
#include "minik8s/api/resource.h"
#include "minik8s/api/slurm_rules.h"
#include "minik8s/client/code.h"
#include "minik8s/util/time.h"
#include "minik8s/util/url.h"
#include "pack.h"
#include "printers.h"
#include "stream_cmds.h"

namespace minik8s::cli {

using api::Json;
namespace fs = std::filesystem;

namespace {

constexpr const char* kGroupPath = "/apis/minik8s.io/v1";
constexpr const char* kApiVersion = "minik8s.io/v1";
constexpr const char* kPrefix = "gpujob.minik8s.io";
constexpr const char* kSubmitterContainer = "submitter";

const Json& kNull() {
  static const Json n;
  return n;
}

std::string or_none(const std::string& s) { return s.empty() ? "<none>" : s; }
std::string or_dash(const std::string& s) { return s.empty() ? "-" : s; }

std::string phase_of(const Json& job) {
  std::string p = jstr(job, {"status", "phase"});
  return p.empty() ? "Pending" : p;
}

// "Key:   value" lines, aligned, with `pad` before each.
std::string aligned(const std::vector<std::pair<std::string, std::string>>& rows,
                    const std::string& pad = "") {
  size_t w = 0;
  for (const auto& [k, v] : rows) w = std::max(w, k.size() + 1);
  std::string out;
  for (const auto& [k, v] : rows)
    out += pad + k + ":" + std::string(w + 2 - k.size() - 1, ' ') + v + "\n";
  return out;
}

std::string indent_lines(const std::string& text, const std::string& pad) {
  std::string out;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) {
    while (!l.empty() && (l.back() == ' ' || l.back() == '\r')) l.pop_back();
    out += pad + l + "\n";
  }
  return out;
}

// The last n lines of text.
std::string tail_lines(const std::string& text, size_t n) {
  std::vector<std::string> lines;
  std::stringstream ss(text);
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  while (!lines.empty() && lines.back().find_first_not_of(" \t\r") == std::string::npos)
    lines.pop_back();
  size_t from = lines.size() > n ? lines.size() - n : 0;
  std::string out;
  for (size_t i = from; i < lines.size(); ++i) out += lines[i] + "\n";
  return out;
}

std::string query_of(const Json& job) {
  std::string q = jstr(job, {"status", "queryCommand"});
  std::string id = jstr(job, {"status", "jobId"});
  if (q.empty() && !id.empty()) q = "scontrol show job " + id;
  return q;
}

std::string number_or(const Json& v, const std::string& dflt) {
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number()) return v.dump();
  return dflt;
}

std::string build_log_block(const Json& job, const std::string& pad) {
  std::string log = jstr(job, {"status", "buildLog"});
  if (log.empty()) return "";
  return pad + "Build Log (last lines):\n" + indent_lines(tail_lines(log, 20), pad + "  ");
}

class GpuJobCmd {
 public:
  GpuJobCmd(const client::HttpRestClientOptions& server, const std::string& ns, std::chrono::milliseconds timeout,
            const GpuJobOptions& o, std::istream& in, std::ostream& out, std::ostream& err)
      : server_(server), ns_(ns), o_(o), in_(in), out_(out), err_(err), api_(server, timeout) {}

  int run() {
    const std::string& a = o_.action;
    if (a == "submit") return submit();
    if (a == "get") return get();
    if (a == "describe") return describe();
    if (a == "logs") return logs();
    if (a == "download") return download();
    if (a == "cancel") return cancel();
    if (a == "delete") return remove();
    return fail("error: unknown gpujob command \"" + a + "\"");
  }

 private:
  int fail(const std::string& line) {
    err_ << line << "\n";
    return 1;
  }
  std::string path(const std::string& n = "", const std::string& ns = "") const {
    std::string p =
        std::string(kGroupPath) + "/namespaces/" + url_encode(ns.empty() ? ns_ : ns) + "/gpujobs";
    if (!n.empty()) p += "/" + url_encode(n);
    return p;
  }
  Result<Json> get_job() { return api_.call("GET", path(o_.name)); }

  int submit() {
    if (o_.file.empty()) return fail("error: -f FILE is required");
    auto text = read_data_arg(o_.file == "-" ? "@-" : "@" + o_.file, in_);
    if (!text) return fail("error: " + text.status().message());
    std::string src = o_.file == "-" ? "STDIN" : o_.file;
    auto docs = api::parse_manifests(*text);
    if (!docs) return fail("error: error parsing " + src + ": " + docs.status().message());
    if (docs->size() != 1)
      return fail("error: " + src + ": expected one GPUJob, found " + std::to_string(docs->size()) +
                  " documents");
    Json doc = std::move((*docs)[0]);
    if (Status s = normalize_gpujob(doc); !s) return fail("error: " + src + ": " + s.message());
    bool has_source = doc["spec"].contains("source") && !doc["spec"]["source"].is_null();
    if (has_source && !o_.source.empty())
      return fail("error: " + src +
                  " sets spec.source and --source was given: use one (--source uploads the "
                  "program and sets spec.source)");
    std::string ns = jstr(doc, {"metadata", "namespace"});
    if (ns.empty()) ns = ns_;
    doc["metadata"]["namespace"] = ns;
    std::string n = doc["metadata"]["name"];
    if (!o_.source.empty()) {
      auto packed = pack_source(o_.source);
      if (!packed) return fail("error: " + packed.status().message());
      // The server judges the rest of the job (a taken name, a bad field)
      // before up to 64 MiB travel: a dry run without the source.
      auto dry = api_.call("POST", path("", ns) + "?dryRun=All", doc.dump());
      if (!dry) return fail(server_error(dry.status()));
      // This server's dry run does not look for a job of the same name.
      if (api_.call("GET", path(n, ns)))
        return fail(
            server_error(already_exists("gpujobs.minik8s.io \"" + n + "\" already exists")));
      auto hash = client::upload_blob(api_.rest(), packed->bytes);
      if (!hash) return fail(server_error(hash.status()));
      doc["spec"]["source"] = {{"hash", *hash}, {"filename", packed->filename}};
    }
    auto created = api_.call("POST", path("", ns), doc.dump());
    if (!created) return fail(server_error(created.status()));
    out_ << kPrefix << "/" << n << " submitted\n";
    return 0;
  }

  int get() {
    std::string p = o_.name.empty() ? path() : path(o_.name);
    if (!o_.output.empty() && o_.output != "yaml" && o_.output != "json")
      return fail("error: -o must be yaml or json, not \"" + o_.output + "\"");
    auto res = api_.call("GET", p);
    if (!res) return fail(server_error(res.status()));
    if (o_.output == "json") {
      out_ << res->dump(4) << "\n";
      return 0;
    }
    if (o_.output == "yaml") {
      out_ << api::to_yaml(*res);
      return 0;
    }
    Json items = o_.name.empty() ? res->value("items", Json::array()) : Json::array({*res});
    if (!items.is_array() || items.empty()) {
      err_ << "No resources found in " << ns_ << " namespace.\n";
      return 0;
    }
    long long now = now_unix();
    out_ << gpujob_table(items, now) << gpujob_notes(items, !o_.name.empty());
    return 0;
  }

  int describe() {
    auto job = get_job();
    if (!job) return fail(server_error(job.status()));
    out_ << describe_gpujob(*job, now_unix());
    out_ << describe_events(events_for(api_, ns_, "GPUJob", o_.name), now_unix());
    return 0;
  }

  int logs() {
    auto job = get_job();
    if (!job) return fail(server_error(job.status()));
    std::string pod = jstr(*job, {"status", "submitterPod"});
    if (pod.empty()) pod = o_.name + "-submitter";
    auto p = api_.call("GET", "/api/v1/namespaces/" + url_encode(ns_) + "/pods/" + url_encode(pod));
    if (!p && p.status().code() == Code::kNotFound) {
      std::string reason = jstr(*job, {"status", "reason"});
      return fail("error: gpujob \"" + o_.name + "\" has no submitter pod (" + pod +
                  " not found; phase " + phase_of(*job) +
                  (reason.empty() ? "" : ", reason " + reason) + ")");
    }
    if (!p) return fail(server_error(p.status()));
    LogsOptions lo;
    lo.pod = pod;
    lo.container = kSubmitterContainer;
    lo.follow = o_.follow;
    return run_logs(server_, ns_, lo, out_, err_);
  }

  int download() {
    auto job = get_job();
    if (!job) return fail(server_error(job.status()));
    std::string hash = jstr(*job, {"status", "result", "hash"});
    if (hash.empty()) return fail(no_result_error(*job));
    if (Status s = api_.connect(); !s) return fail(server_error(s));
    auto bytes = client::download_blob(api_.rest(), hash);
    if (!bytes) return fail(server_error(bytes.status()));
    std::string dir = o_.out_dir.empty() ? "./" + o_.name + "-results" : o_.out_dir;
    auto res = unpack_tar_gz(*bytes, dir);
    if (!res)
      return fail("error: unpacking the result of gpujob \"" + o_.name + "\" into " + dir + ": " +
                  res.status().message());
    for (const auto& s : res->skipped) err_ << "note: not written: " << s << "\n";
    out_ << kPrefix << "/" << o_.name << ": " << res->files.size()
         << (res->files.size() == 1 ? " file" : " files") << " written to " << dir << "\n";
    for (const auto& f : res->files) out_ << "  " << f << "\n";
    return 0;
  }

  int cancel() {
    auto job = get_job();
    if (!job) return fail(server_error(job.status()));
    std::string phase = phase_of(*job);
    if (is_terminal_gpujob_phase(phase)) {
      out_ << kPrefix << "/" << o_.name << " already " << phase << "\n";
      return 0;
    }
    const Json& c = api::field_at(*job, {"spec", "cancel"});
    if (c.is_boolean() && c.get<bool>()) {
      out_ << kPrefix << "/" << o_.name << " cancel already requested (phase " << phase << ")\n";
      return 0;
    }
    Json patch = {{"spec", {{"cancel", true}}}};
    auto p = api_.call("PATCH", path(o_.name), patch.dump(), "application/merge-patch+json");
    if (!p) return fail(server_error(p.status()));
    out_ << kPrefix << "/" << o_.name << " cancel requested\n";
    return 0;
  }

  int remove() {
    long long limit_ms = parse_timeout_ms(o_.timeout);
    if (o_.wait && limit_ms <= 0)
      return fail("error: --timeout wants a duration such as 90s or 5m, not \"" + o_.timeout +
                  "\"");
    auto res = api_.call("DELETE", path(o_.name));
    if (!res) return fail(server_error(res.status()));
    if (o_.wait) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(limit_ms);
      for (;;) {
        auto g = get_job();
        if (!g && g.status().code() == Code::kNotFound) break;
        if (std::chrono::steady_clock::now() >= deadline) {
          std::string fin;
          if (g) {
            for (const auto& f : api::field_at(*g, {"metadata", "finalizers"}))
              if (f.is_string()) fin += (fin.empty() ? "" : ", ") + f.get<std::string>();
          }
          return fail("error: timed out after " + o_.timeout + " waiting for gpujob \"" + o_.name +
                      "\" to go" + (fin.empty() ? "" : " (finalizers: " + fin + ")"));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
    }
    out_ << kPrefix << " \"" << o_.name << "\" deleted\n";
    return 0;
  }

  client::HttpRestClientOptions server_;
  std::string ns_;
  const GpuJobOptions& o_;
  std::istream& in_;
  std::ostream& out_;
  std::ostream& err_;
  ApiCaller api_;
};

}  // namespace

Status normalize_gpujob(Json& doc) {
  if (!doc.is_object()) return invalid("the document is not an object");
  if (doc.contains("kind") && doc["kind"] != "GPUJob")
    return invalid("kind is " + doc["kind"].dump() +
                   ", not GPUJob (mkctl apply -f takes any kind)");
  if (doc.contains("apiVersion") && doc["apiVersion"] != kApiVersion)
    return invalid("apiVersion is " + doc["apiVersion"].dump() + ", not " + kApiVersion);
  doc["kind"] = "GPUJob";
  doc["apiVersion"] = kApiVersion;
  if (!doc.contains("metadata")) doc["metadata"] = Json::object();
  if (!doc["metadata"].is_object()) return invalid("metadata: not an object");
  const Json& n = doc["metadata"].contains("name") ? doc["metadata"]["name"] : kNull();
  if (!n.is_string() || n.get<std::string>().empty())
    return invalid("metadata.name: Required value");
  if (!doc.contains("spec") || !doc["spec"].is_object())
    return invalid("spec: Required value (an object with at least run)");
  return Status::ok();
}

Result<PackedSource> pack_source(const std::string& path, uint64_t limit) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  if (ec || !fs::exists(st)) return invalid("--source " + path + ": no such file or directory");
  PackedSource out;
  if (fs::is_directory(st)) {
    auto bytes = tar_gz_directory(path, limit);
    if (!bytes) return bytes.status();
    out.bytes = std::move(*bytes);
    std::string name = fs::weakly_canonical(fs::path(path), ec).filename().string();
    for (char& c : name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') c = '-';
    }
    if (name.empty() || name[0] == '.' || name[0] == '-') name = "source" + name;
    if (name.size() > 93) name.resize(93);  // + ".tar.gz" ≤ 100
    out.filename = name + ".tar.gz";
    return out;
  }
  if (!fs::is_regular_file(st)) return invalid("--source " + path + ": not a file or a directory");
  std::string base = fs::path(path).filename().string();
  // The API's rule for spec.source.filename, checked before the upload.
  if (auto why = api::slurm_file_name_error(base, false); !why.empty())
    return invalid("--source " + path + ": the file name \"" + base + "\" " + why +
                   " (it becomes spec.source.filename): rename the file");
  auto size = fs::file_size(path, ec);
  if (ec) return invalid("--source " + path + ": " + ec.message());
  if (size > limit)
    return invalid("--source " + path + " is " + std::to_string(size) + " bytes; the limit is " +
                   std::to_string(limit) + " bytes (" + std::to_string(limit >> 20) + " MiB)");
  std::ifstream f(path, std::ios::binary);
  if (!f) return invalid("--source " + path + ": cannot be read");
  out.bytes.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  out.filename = base;
  return out;
}

bool is_terminal_gpujob_phase(const std::string& phase) {
  return phase == "Completed" || phase == "Failed" || phase == "Cancelled";
}

std::string gpujob_duration(const Json& job, long long now) {
  SysTime start, end;
  if (!parse_rfc3339(jstr(job, {"status", "startTime"}), &start)) return "";
  std::string e = jstr(job, {"status", "endTime"});
  if (e.empty() || !parse_rfc3339(e, &end)) {
    if (phase_of(job) != "Running") return "";
    end = SysTime(std::chrono::seconds(now));
  }
  // Slurm's times have whole seconds: "0s", "42s", "3m5s" as the server's
  // Table (and kubectl) print them.
  auto d = std::chrono::duration_cast<std::chrono::seconds>(end - start);
  return human_duration(d < std::chrono::seconds(0) ? std::chrono::seconds(0) : d);
}

std::string gpujob_table(const Json& items, long long now) {
  std::vector<std::vector<std::string>> rows{
      {"NAME", "PHASE", "JOBID", "NODE", "SUBMITTED", "DURATION", "AGE"}};
  if (items.is_array()) {
    for (const auto& j : items) {
      if (!j.is_object()) continue;
      std::string submitted = jstr(j, {"status", "submitTime"});
      rows.push_back({jstr(j, {"metadata", "name"}), phase_of(j),
                      or_none(jstr(j, {"status", "jobId"})),
                      or_none(jstr(j, {"status", "nodeList"})),
                      submitted.empty() ? "<none>" : human_age(submitted, now),
                      or_none(gpujob_duration(j, now)),
                      human_age(jstr(j, {"metadata", "creationTimestamp"}), now)});
    }
  }
  return format_columns(rows);
}

std::string gpujob_notes(const Json& items, bool failures) {
  std::string out;
  if (!items.is_array()) return out;
  for (const auto& j : items) {
    if (!j.is_object()) continue;
    std::string phase = phase_of(j);
    std::string name = jstr(j, {"metadata", "name"});
    std::string id = jstr(j, {"status", "jobId"});
    if (!id.empty() && (phase == "Queued" || phase == "Submitted" || phase == "Pending")) {
      out += "\n" + name + " is waiting in Slurm (" + phase + "):\n" +
             aligned({{"Job ID", id},
                      {"Submit Time", or_none(jstr(j, {"status", "submitTime"}))},
                      {"Reason", or_none(jstr(j, {"status", "reason"}))},
                      {"Query", query_of(j)}},
                     "  ");
    } else if (failures && phase == "Failed") {
      std::vector<std::pair<std::string, std::string>> rows = {
          {"Reason", or_none(jstr(j, {"status", "reason"}))},
          {"Message", or_none(first_line(jstr(j, {"status", "message"}), 500))}};
      if (!id.empty()) rows.push_back({"Job ID", id});
      if (std::string q = query_of(j); !q.empty()) rows.push_back({"Query", q});
      out += "\n" + name + " failed:\n" + aligned(rows, "  ") + build_log_block(j, "  ");
    }
  }
  return out;
}

std::string describe_gpujob(const Json& job, long long now) {
  const Json& spec = api::field_at(job, {"spec"});
  const Json& status = api::field_at(job, {"status"});
  std::string created = jstr(job, {"metadata", "creationTimestamp"});
  std::vector<std::pair<std::string, std::string>> rows = {
      {"Name", jstr(job, {"metadata", "name"})},
      {"Namespace", jstr(job, {"metadata", "namespace"})},
      {"Labels", labels_string(api::field_at(job, {"metadata", "labels"}))},
      {"Created", created.empty() ? "<none>" : created + " (" + human_age(created, now) + " ago)"},
  };
  std::string hash = jstr(spec, {"source", "hash"});
  rows.push_back({"Source", hash.empty()
                                ? "<none>"
                                : hash + " (" + or_dash(jstr(spec, {"source", "filename"})) + ")"});
  rows.push_back({"Build", or_none(jstr(spec, {"build"}))});
  rows.push_back({"Run", or_none(jstr(spec, {"run"}))});
  const Json& cancel = api::field_at(spec, {"cancel"});
  if (cancel.is_boolean() && cancel.get<bool>()) rows.push_back({"Cancel", "requested"});
  std::string out = aligned(rows);

  const Json& slurm = api::field_at(spec, {"slurm"});
  std::vector<std::pair<std::string, std::string>> srows;
  std::string cluster = jstr(slurm, {"cluster"});
  srows.push_back({"Cluster", cluster.empty() ? "default" : cluster});
  // {label, field}: the label first (scripts/check_deps.py reads a
  // {"word", "..."} list as a command line, and "time" is a program).
  for (const auto& [label, key] :
       std::vector<std::pair<const char*, const char*>>{{"Partition", "partition"},
                                                        {"Nodes", "nodes"},
                                                        {"Tasks Per Node", "ntasksPerNode"},
                                                        {"CPUs Per Task", "cpusPerTask"},
                                                        {"GPUs", "gpus"},
                                                        {"Memory", "mem"},
                                                        {"Time Limit", "time"},
                                                        {"Account", "account"},
                                                        {"QOS", "qos"},
                                                        {"Output", "output"},
                                                        {"Error", "error"}}) {
    const Json& v = api::field_at(slurm, {key});
    if (!v.is_null()) srows.push_back({label, number_or(v, v.dump())});
  }
  const Json& extra = api::field_at(slurm, {"sbatchArgs"});
  if (extra.is_array() && !extra.empty()) {
    std::string a;
    for (const auto& x : extra)
      a += (a.empty() ? "" : " ") + (x.is_string() ? x.get<std::string>() : x.dump());
    srows.push_back({"Extra Args", a});
  }
  out += "Slurm:\n" + aligned(srows, "  ");

  std::vector<std::pair<std::string, std::string>> st = {
      {"Phase", phase_of(job)},
  };
  auto add = [&](const char* label, const std::string& v) {
    if (!v.empty()) st.push_back({label, v});
  };
  add("Reason", jstr(status, {"reason"}));
  add("Message", first_line(jstr(status, {"message"}), 500));
  st.push_back({"Job ID", or_none(jstr(status, {"jobId"}))});
  add("Submit Time", jstr(status, {"submitTime"}));
  add("Start Time", jstr(status, {"startTime"}));
  add("End Time", jstr(status, {"endTime"}));
  add("Duration", gpujob_duration(job, now));
  const Json& ec = api::field_at(status, {"exitCode"});
  if (!ec.is_null()) st.push_back({"Exit Code", number_or(ec, ec.dump())});
  add("Node List", jstr(status, {"nodeList"}));
  add("Query", query_of(job));
  add("Work Dir", jstr(status, {"workDir"}));
  add("Submitter Pod", jstr(status, {"submitterPod"}));
  std::string rhash = jstr(status, {"result", "hash"});
  if (!rhash.empty()) {
    std::string files;
    const Json& fl = api::field_at(status, {"result", "files"});
    size_t shown = 0;
    if (fl.is_array()) {
      for (const auto& f : fl) {
        if (!f.is_string()) continue;
        if (++shown > 10) {
          files += ", …";
          break;
        }
        files += (files.empty() ? "" : ", ") + f.get<std::string>();
      }
    }
    const Json& size = api::field_at(status, {"result", "size"});
    std::string detail =
        size.is_number_integer() ? std::to_string(size.get<long long>()) + " bytes" : "";
    if (!files.empty()) detail += (detail.empty() ? "" : ": ") + files;
    st.push_back({"Result", rhash + (detail.empty() ? "" : " (" + detail + ")")});
  } else {
    st.push_back({"Result", "<none>"});
  }
  out += "Status:\n" + aligned(st, "  ");
  out += build_log_block(job, "");

  const Json& conds = api::field_at(status, {"conditions"});
  if (conds.is_array() && !conds.empty()) {
    out += "Conditions:\n";
    std::vector<std::vector<std::string>> table{{"Type", "Status", "Reason", "Message"}};
    for (const auto& c : conds) {
      table.push_back({jstr(c, {"type"}), jstr(c, {"status"}), jstr(c, {"reason"}),
                       first_line(jstr(c, {"message"}))});
    }
    out += indent_lines(format_columns(table), "  ");
  } else {
    out += "Conditions:  <none>\n";
  }
  return out;
}

std::string no_result_error(const Json& job) {
  std::string name = jstr(job, {"metadata", "name"});
  std::string phase = phase_of(job);
  std::string reason = jstr(job, {"status", "reason"});
  std::string tail;
  if (phase == "Failed" || phase == "Cancelled") {
    tail = " and will have none" + (reason.empty() ? std::string() : " (reason " + reason + ")") +
           ": see mkctl gpujob describe " + name;
  } else {
    tail = " yet (phase " + phase + "): it comes once the job ends";
  }
  return "error: gpujob \"" + name + "\" has no result" + tail;
}

CLI::App* add_gpujob_commands(CLI::App& app, GpuJobOptions& o) {
  auto* gj = app.add_subcommand(
      "gpujob", "GPU jobs through Slurm: submit, get, describe, logs, download, cancel (alias gj)");
  gj->alias("gj");
  gj->alias("gpujobs");
  gj->require_subcommand(1);
  auto sub = [&](const char* action, const char* help, bool name_required) {
    auto* s = gj->add_subcommand(action, help);
    auto* opt = s->add_option("name", o.name, "NAME");
    if (name_required) opt->required();
    s->callback([&o, action] { o.action = action; });
    return s;
  };
  auto* submit = gj->add_subcommand(
      "submit", "Upload the program and create a GPUJob: submit -f job.yaml [--source DIR|FILE]");
  submit->add_option("-f,--filename", o.file, "FILE (YAML or JSON, one GPUJob; - for stdin)")
      ->required()
      ->allow_extra_args(false);
  submit
      ->add_option("--source", o.source,
                   "The program: a directory (packed as a tar.gz) or one file (.cu, .c, .sh, "
                   ".tar.gz, .zip …) uploaded as it is")
      ->allow_extra_args(false);
  submit->callback([&o] { o.action = "submit"; });
  auto* get =
      sub("get", "List GPUJobs (NAME PHASE JOBID NODE SUBMITTED DURATION AGE), or one", false);
  get->alias("list");
  get->alias("ls");
  get->add_option("-o,--output", o.output, "yaml|json");
  sub("describe", "Spec, Slurm settings, status, build log, conditions and events", true);
  sub("logs", "The submitter pod's log: the job's output as it runs", true)
      ->add_flag("-f,--follow", o.follow, "Stream until the submitter ends");
  sub("download", "Fetch the result files into a directory (default ./NAME-results)", true)
      ->add_option("-o,--output-dir", o.out_dir, "DIR")
      ->allow_extra_args(false);
  sub("cancel", "Cancel a job (spec.cancel=true: scancel once submitted)", true);
  auto* del = sub("delete", "Delete a GPUJob (its submitter pod and blobs go with it)", true);
  del->add_flag("-w,--wait", o.wait, "Wait until the job is gone (its Slurm job cancelled)");
  del->add_option("--timeout", o.timeout, "With --wait: give up after this long (default 60s)");
  return gj;
}

int run_gpujob(const client::HttpRestClientOptions& server, const std::string& ns,
               std::chrono::milliseconds request_timeout, const GpuJobOptions& o, std::istream& in,
               std::ostream& out, std::ostream& err) {
  try {
    GpuJobCmd cmd(server, ns, request_timeout, o, in, out, err);
    return cmd.run();
  } catch (const std::exception& e) {
    err << "error: " << first_line(e.what()) << "\n";
    return 1;
  }
}

}  // namespace minik8s::cli
