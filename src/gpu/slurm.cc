// The Slurm model (minik8s/gpu/slurm.h): pure rendering and parsing.
#include "minik8s/gpu/slurm.h"

#include <time.h>

#include <ctime>
#include <nlohmann/json.hpp>
#include <set>

#include "minik8s/api/slurm_rules.h"

namespace minik8s::gpu::slurm {

namespace {

bool all_of(std::string_view s, bool (*ok)(char)) {
  for (char c : s)
    if (!ok(c)) return false;
  return true;
}
bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool name_char(char c) { return alnum(c) || c == '.' || c == '_' || c == '-'; }
bool plain_name(std::string_view s, size_t max) {
  return !s.empty() && s.size() <= max && s != "." && s != ".." && all_of(s, name_char);
}

const api::Json* field(const api::Json& obj, std::initializer_list<const char*> path) {
  const api::Json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(p);
    if (it == cur->end() || it->is_null()) return nullptr;
    cur = &*it;
  }
  return cur;
}

Result<std::string> string_field(const api::Json& obj, std::initializer_list<const char*> path,
                                 const std::string& name) {
  const api::Json* f = field(obj, path);
  if (!f) return std::string();
  if (!f->is_string()) return invalid(name + ": must be a string");
  return f->get<std::string>();
}

// An integer in [lo, hi]; 0 (absent) when missing.
Result<int64_t> int_field(const api::Json& obj, std::initializer_list<const char*> path,
                          const std::string& name, int64_t lo, int64_t hi) {
  const api::Json* f = field(obj, path);
  if (!f) return int64_t{0};
  if (!f->is_number_integer()) return invalid(name + ": must be an integer");
  int64_t v = f->get<int64_t>();
  if (v < lo || v > hi)
    return invalid(name + ": must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

bool digits(std::string_view s) {
  return !s.empty() && s.size() <= 9 && all_of(s, [](char c) { return c >= '0' && c <= '9'; });
}

// The API's directory grammar (slurm_rules.h), with room for the job
// directory under a workDir of the longest allowed length.
bool valid_absolute_dir(std::string_view d) {
  return api::slurm_work_dir_error(std::string(d), 1024).empty();
}

}  // namespace

std::string shell_quote(std::string_view s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  out += '\'';
  return out;
}

std::string job_name(const std::string& uid) { return "mk-" + uid; }

Result<std::string> job_dir(const std::string& work_dir, const std::string& ns,
                            const std::string& name, const std::string& uid) {
  std::string wd = work_dir;
  while (wd.size() > 1 && wd.back() == '/') wd.pop_back();
  if (!valid_absolute_dir(wd))
    return invalid("spec.workDir: must be an absolute path of plain names, got \"" + work_dir +
                   "\"");
  if (!plain_name(ns, 63)) return invalid("metadata.namespace: not a plain name: \"" + ns + "\"");
  if (!plain_name(name, 253)) return invalid("metadata.name: not a plain name: \"" + name + "\"");
  if (uid.size() < 8 || !plain_name(uid, 64))
    return invalid("metadata.uid: not a plain uid: \"" + uid + "\"");
  return (wd == "/" ? std::string() : wd) + "/" + ns + "/" + name + "-" + uid.substr(0, 8);
}

Result<std::vector<std::string>> sbatch_args(const api::Json& gpujob, const std::string& dir) {
  if (!valid_absolute_dir(dir))
    return invalid("job directory: not an absolute path of plain names: \"" + dir + "\"");
  auto uid = string_field(gpujob, {"metadata", "uid"}, "metadata.uid");
  if (!uid) return uid.status();
  if (!plain_name(*uid, 64)) return invalid("metadata.uid: not a plain uid");
  std::vector<std::string> args = {"--parsable", "--job-name=" + job_name(*uid), "--chdir=" + dir};
  const api::Json empty = api::Json::object();
  const api::Json* sl = field(gpujob, {"spec", "slurm"});
  if (!sl) sl = &empty;
  if (!sl->is_object()) return invalid("spec.slurm: must be an object");

  auto name_opt = [&](const char* key, const char* opt) -> Status {
    auto v = string_field(*sl, {key}, std::string("spec.slurm.") + key);
    if (!v) return v.status();
    if (v->empty()) return Status::ok();
    if (auto why = api::slurm_token_error(*v); !why.empty())
      return invalid(std::string("spec.slurm.") + key + ": " + why);
    args.push_back(std::string(opt) + "=" + *v);
    return Status::ok();
  };
  auto int_opt = [&](const char* key, const char* opt, int64_t lo, int64_t hi) -> Status {
    auto v = int_field(*sl, {key}, std::string("spec.slurm.") + key, lo, hi);
    if (!v) return v.status();
    if (*v > 0) args.push_back(std::string(opt) + "=" + std::to_string(*v));
    return Status::ok();
  };
  if (Status s = name_opt("partition", "--partition"); !s) return s;
  if (Status s = int_opt("nodes", "--nodes", 1, 1024); !s) return s;
  if (Status s = int_opt("ntasksPerNode", "--ntasks-per-node", 1, 1024); !s) return s;
  if (Status s = int_opt("cpusPerTask", "--cpus-per-task", 1, 1024); !s) return s;
  {
    auto g = int_field(*sl, {"gpus"}, "spec.slurm.gpus", 0, 64);
    if (!g) return g.status();
    if (*g > 0) args.push_back("--gres=gpu:" + std::to_string(*g));
  }
  {
    auto m = string_field(*sl, {"mem"}, "spec.slurm.mem");
    if (!m) return m.status();
    if (!m->empty()) {
      if (auto why = api::slurm_mem_error(*m); !why.empty())
        return invalid("spec.slurm.mem: " + why + ", got \"" + *m + "\"");
      args.push_back("--mem=" + *m);
    }
  }
  {
    auto t = string_field(*sl, {"time"}, "spec.slurm.time");
    if (!t) return t.status();
    if (!t->empty()) {
      if (auto why = api::slurm_time_error(*t); !why.empty())
        return invalid("spec.slurm.time: " + why + ", got \"" + *t + "\"");
      args.push_back("--time=" + *t);
    }
  }
  if (Status s = name_opt("account", "--account"); !s) return s;
  if (Status s = name_opt("qos", "--qos"); !s) return s;
  for (const char* key : {"output", "error"}) {
    auto v = string_field(*sl, {key}, std::string("spec.slurm.") + key);
    if (!v) return v.status();
    if (v->empty()) continue;
    if (auto why = api::slurm_file_name_error(*v, true); !why.empty())
      return invalid(std::string("spec.slurm.") + key + ": " + why);
    args.push_back(std::string("--") + key + "=" + dir + "/" + *v);
  }
  if (const api::Json* extra = field(*sl, {"sbatchArgs"})) {
    if (!extra->is_array()) return invalid("spec.slurm.sbatchArgs: must be a list of strings");
    for (size_t i = 0; i < extra->size(); ++i) {
      const std::string fname = "spec.slurm.sbatchArgs[" + std::to_string(i) + "]";
      if (!(*extra)[i].is_string()) return invalid(fname + ": must be a string");
      std::string a = (*extra)[i].get<std::string>();
      if (auto why = api::sbatch_arg_error(a); !why.empty())
        return invalid(fname + ": " + why + ", got \"" + a + "\"");
      args.push_back(a);
    }
  }
  args.push_back(dir + "/.minik8s/job.sh");
  return args;
}

Result<std::string> render_batch_script(const api::Json& gpujob, const std::string& dir) {
  if (!valid_absolute_dir(dir))
    return invalid("job directory: not an absolute path of plain names: \"" + dir + "\"");
  auto run = string_field(gpujob, {"spec", "run"}, "spec.run");
  if (!run) return run.status();
  if (run->empty()) return invalid("spec.run: required");
  auto build = string_field(gpujob, {"spec", "build"}, "spec.build");
  if (!build) return build.status();
  for (const std::string* s : {&*run, &*build})
    if (s->find('\0') != std::string::npos)
      return invalid("spec.run/spec.build: must not contain NUL");
  std::string out;
  out += "#!/bin/bash\n";
  out += "# minik8s GPUJob batch script (docs/gpu.md \"The batch script\")\n";
  out += "cd " + shell_quote(dir) + " || exit 1\n";
  out += "mkdir -p .minik8s\n";
  if (!build->empty()) {
    out += "bash -c " + shell_quote(*build) + " > .minik8s/build.log 2>&1 < /dev/null\n";
    out += "rc=$?\n";
  } else {
    out += ": > .minik8s/build.log\n";
    out += "rc=0\n";
  }
  out += "echo \"$rc\" > .minik8s/build.rc\n";
  out += "if [ \"$rc\" -ne 0 ]; then\n";
  out +=
      "  echo \"minik8s: the build failed (exit $rc); the last lines of .minik8s/build.log:\" "
      ">&2\n";
  out += "  tail -n 20 .minik8s/build.log >&2\n";
  out += "  exit 1\n";
  out += "fi\n";
  out += "touch .minik8s/built\n";
  out += "bash -c " + shell_quote(*run) + "\n";
  out += "rc=$?\n";
  out += "echo \"$rc\" > .minik8s/exit_code\n";
  out += "exit \"$rc\"\n";
  return out;
}

Result<std::string> render_slurm_conf(const api::Json& cluster, const std::string& munge_socket) {
  auto host = string_field(cluster, {"spec", "controller", "host"}, "spec.controller.host");
  if (!host) return host.status();
  auto name = string_field(cluster, {"spec", "controller", "name"}, "spec.controller.name");
  if (!name) return name.status();
  auto port = int_field(cluster, {"spec", "controller", "port"}, "spec.controller.port", 1, 65535);
  if (!port) return port.status();
  auto cname = string_field(cluster, {"spec", "clusterName"}, "spec.clusterName");
  if (!cname) return cname.status();
  auto auth = string_field(cluster, {"spec", "auth", "type"}, "spec.auth.type");
  if (!auth) return auth.status();
  if (!auth->empty() && *auth != "munge")
    return invalid("spec.auth.type: only \"munge\" is supported, got \"" + *auth + "\"");
  auto host_ok = [](std::string_view h) {
    return !h.empty() && h.size() <= 253 &&
           all_of(h, [](char c) { return alnum(c) || c == '.' || c == '-' || c == ':'; });
  };
  if (!host_ok(*host))
    return invalid("spec.controller.host: must be a host name or IP address, got \"" + *host +
                   "\"");
  std::string n = name->empty() ? *host : *name;
  if (!plain_name(n, 64))
    return invalid("spec.controller.name: must match [A-Za-z0-9._-]{1,64}, got \"" + n + "\"");
  std::string c = cname->empty() ? "minik8s" : *cname;
  if (!plain_name(c, 64))
    return invalid("spec.clusterName: must match [A-Za-z0-9._-]{1,64}, got \"" + c + "\"");
  if (!valid_absolute_dir(munge_socket))
    return invalid("munge socket: not an absolute path of plain names");
  std::string out;
  out += "# client slurm.conf written by minik8s-submitter (docs/gpu.md)\n";
  out += "ClusterName=" + c + "\n";
  out += "SlurmctldHost=" + n + "(" + *host + ")\n";
  out += "SlurmctldPort=" + std::to_string(*port == 0 ? 6817 : *port) + "\n";
  out += "AuthType=auth/munge\n";
  out += "AuthInfo=socket=" + munge_socket + "\n";
  // Without it sbatch refuses every --gres=gpu:N on the client side
  // ("Invalid generic resource (gres) specification"), also on clusters
  // that have GPUs.
  out += "GresTypes=gpu\n";
  return out;
}

std::map<std::string, std::string> parse_kv_line(std::string_view line) {
  std::map<std::string, std::string> out;
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  auto key_ok = [](std::string_view k) {
    if (k.empty() || !((k[0] >= 'a' && k[0] <= 'z') || (k[0] >= 'A' && k[0] <= 'Z'))) return false;
    return all_of(k, [](char c) { return alnum(c) || c == '_' || c == ':' || c == '/'; });
  };
  // Key starts: position 0 and every position after a space where
  // [key]= follows.
  std::vector<std::pair<size_t, size_t>> starts;  // (key start, '=' position)
  for (size_t i = 0; i < line.size(); ++i) {
    if (i != 0 && line[i - 1] != ' ') continue;
    if (line[i] == ' ') continue;
    size_t eq = line.find('=', i);
    if (eq == std::string_view::npos) break;
    size_t sp = line.find(' ', i);
    if (sp != std::string_view::npos && sp < eq) continue;
    if (key_ok(line.substr(i, eq - i))) starts.emplace_back(i, eq);
  }
  for (size_t k = 0; k < starts.size(); ++k) {
    size_t vstart = starts[k].second + 1;
    size_t vend = k + 1 < starts.size() ? starts[k + 1].first : line.size();
    std::string_view v = line.substr(vstart, vend - vstart);
    while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
    out[std::string(line.substr(starts[k].first, starts[k].second - starts[k].first))] =
        std::string(v);
  }
  return out;
}

namespace {

std::string clean_state(std::string s) {
  // sacct: "CANCELLED by 0"; squeue may print "CANCELLED+".
  if (auto sp = s.find(' '); sp != std::string::npos) s.resize(sp);
  while (!s.empty() && s.back() == '+') s.pop_back();
  return s;
}
std::string clean_none(const std::string& s) {
  if (s == "None" || s == "(null)" || s == "None assigned" || s == "N/A") return "";
  return s;
}

Status fill_times_and_exit(JobInfo& info, const std::string& submit, const std::string& start,
                           const std::string& end, const std::string& exit_code, bool terminal) {
  auto s = to_rfc3339(submit);
  if (!s) return s.status();
  auto b = to_rfc3339(start);
  if (!b) return b.status();
  auto e = to_rfc3339(end);
  if (!e) return e.status();
  info.submit_time = *s;
  info.start_time = *b;
  info.end_time = *e;
  // Slurm prints an EndTime (the time limit) for running jobs; only a
  // finished job's EndTime is its end.
  if (!terminal) info.end_time.clear();
  if (!exit_code.empty() && terminal) {
    auto ec = parse_exit_code(exit_code);
    if (!ec) return ec.status();
    info.exit_code = ec->first;
    info.exit_signal = ec->second;
  }
  return Status::ok();
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t i = 0;
  while (true) {
    size_t j = s.find(sep, i);
    out.emplace_back(s.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

std::vector<std::string_view> lines(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find('\n', i);
    if (j == std::string_view::npos) j = s.size();
    std::string_view l = s.substr(i, j - i);
    while (!l.empty() && (l.back() == '\r' || l.back() == ' ')) l.remove_suffix(1);
    if (!l.empty()) out.push_back(l);
    i = j + 1;
  }
  return out;
}

}  // namespace

Result<JobInfo> parse_scontrol_job(std::string_view out) {
  if (out.find("Invalid job id specified") != std::string_view::npos)
    return not_found("slurm: invalid job id (the job is gone)");
  for (std::string_view l : lines(out)) {
    if (l.rfind("JobId=", 0) != 0) continue;
    auto kv = parse_kv_line(l);
    JobInfo info;
    info.job_id = kv["JobId"];
    if (info.job_id.empty() || !digits(info.job_id))
      return invalid("scontrol: bad JobId in \"" + std::string(l.substr(0, 80)) + "\"");
    info.name = kv["JobName"];
    info.state = clean_state(kv["JobState"]);
    info.reason = clean_none(kv["Reason"]);
    info.node_list = clean_none(kv["NodeList"]);
    info.std_out = kv["StdOut"];
    info.std_err = kv["StdErr"];
    bool terminal = is_terminal_phase(phase_for_state(info.state));
    if (Status s = fill_times_and_exit(info, kv["SubmitTime"], kv["StartTime"], kv["EndTime"],
                                       kv["ExitCode"], terminal);
        !s)
      return s;
    return info;
  }
  return invalid("scontrol: no JobId= line in the output: \"" + std::string(out.substr(0, 200)) +
                 "\"");
}

Result<std::vector<JobInfo>> parse_squeue(std::string_view out) {
  std::vector<JobInfo> jobs;
  for (std::string_view l : lines(out)) {
    auto f = split(l, '|');
    if (f.size() != 4 || !digits(f[0]))
      return invalid("squeue: unexpected line \"" + std::string(l.substr(0, 200)) + "\"");
    JobInfo info;
    info.job_id = f[0];
    info.name = f[1];
    info.state = clean_state(f[2]);
    info.reason = clean_none(f[3]);
    jobs.push_back(std::move(info));
  }
  return jobs;
}

Result<std::vector<JobInfo>> parse_sacct(std::string_view out) {
  std::vector<JobInfo> jobs;
  for (std::string_view l : lines(out)) {
    auto f = split(l, '|');
    if (f.size() != 9)
      return invalid("sacct: unexpected line \"" + std::string(l.substr(0, 200)) + "\"");
    if (f[0].find('.') != std::string::npos) continue;  // a step (42.batch)
    if (!digits(f[0])) return invalid("sacct: bad JobID \"" + f[0] + "\"");
    JobInfo info;
    info.job_id = f[0];
    info.name = f[1];
    info.state = clean_state(f[2]);
    info.node_list = clean_none(f[7]);
    info.reason = clean_none(f[8]);
    bool terminal = is_terminal_phase(phase_for_state(info.state));
    if (Status s = fill_times_and_exit(info, f[4], f[5], f[6], f[3], terminal); !s) return s;
    jobs.push_back(std::move(info));
  }
  return jobs;
}

Result<std::string> to_rfc3339(std::string_view t) {
  if (t.empty() || t == "Unknown" || t == "None" || t == "N/A" || t == "(null)")
    return std::string();
  std::tm tm{};
  std::string s(t);
  const char* end = ::strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (!end || *end != '\0') return invalid("slurm: not a time: \"" + s + "\"");
  tm.tm_isdst = -1;
  std::time_t epoch = std::mktime(&tm);
  if (epoch == static_cast<std::time_t>(-1)) return invalid("slurm: not a time: \"" + s + "\"");
  std::tm utc{};
  ::gmtime_r(&epoch, &utc);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &utc);
  return std::string(buf);
}

Result<std::pair<int, int>> parse_exit_code(std::string_view s) {
  auto colon = s.find(':');
  if (colon == std::string_view::npos || !digits(s.substr(0, colon)) ||
      !digits(s.substr(colon + 1)))
    return invalid("slurm: not an exit code \"N:S\": \"" + std::string(s) + "\"");
  return std::pair<int, int>{std::stoi(std::string(s.substr(0, colon))),
                             std::stoi(std::string(s.substr(colon + 1)))};
}

std::string phase_for_state(std::string_view state) {
  std::string st = clean_state(std::string(state));
  if (st == "PENDING" || st == "REQUEUE_HOLD" || st == "REQUEUE_FED") return "Queued";
  if (st == "COMPLETED") return "Completed";
  if (st == "CANCELLED") return "Cancelled";
  if (st == "FAILED" || st == "TIMEOUT" || st == "NODE_FAIL" || st == "OUT_OF_MEMORY" ||
      st == "BOOT_FAIL" || st == "DEADLINE" || st == "PREEMPTED")
    return "Failed";
  return "Running";
}

bool is_terminal_phase(std::string_view phase) {
  return phase == "Completed" || phase == "Failed" || phase == "Cancelled";
}

}  // namespace minik8s::gpu::slurm
