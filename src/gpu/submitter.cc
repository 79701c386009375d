// The GPUJob submitter (minik8s/gpu/submitter.h, docs/gpu.md "The submitter").
#include "minik8s/gpu/submitter.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "minik8s/api/resource.h"
#include "minik8s/client/code.h"
#include "minik8s/client/event_recorder.h"
#include "minik8s/gpu/slurm.h"
#include "minik8s/util/base64.h"
#include "minik8s/util/file.h"
#include "minik8s/util/time.h"

namespace minik8s::gpu {

namespace fs = std::filesystem;
using api::Json;

namespace {

constexpr const char* kComponent = "minik8s-submitter";
std::string str(const Json& obj, std::initializer_list<const char*> path) {
  const Json* cur = &obj;
  for (const char* p : path) {
    if (!cur->is_object()) return "";
    auto it = cur->find(p);
    if (it == cur->end()) return "";
    cur = &*it;
  }
  return cur->is_string() ? cur->get<std::string>() : "";
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return not_found("cannot read " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string trim(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' ' || s.back() == '\t'))
    s.pop_back();
  size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
  return s.substr(i);
}

std::string last_lines(const std::string& text, size_t n) {
  std::string t = text;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  size_t pos = t.size();
  for (size_t k = 0; k < n; ++k) {
    size_t nl = t.rfind('\n', pos == 0 ? 0 : pos - 1);
    if (nl == std::string::npos || pos == 0) return t.empty() ? t : t + "\n";
    pos = nl;
  }
  return t.substr(pos + 1) + "\n";
}

// One human line from a command's stderr: the last line that says
// "error", else the last non-empty line.
std::string error_line(const std::string& err) {
  std::string best, last;
  std::istringstream in(err);
  for (std::string l; std::getline(in, l);) {
    l = trim(l);
    if (l.empty()) continue;
    last = l;
    if (l.find("error") != std::string::npos) best = l;
  }
  return best.empty() ? last : best;
}

}  // namespace

Status check_archive_listing(const std::string& listing) {
  std::istringstream in(listing);
  for (std::string name; std::getline(in, name);) {
    if (name.empty()) continue;
    if (name[0] == '/')
      return invalid("spec.source: archive member \"" + name + "\" is an absolute path");
    size_t i = 0;
    while (i <= name.size()) {
      size_t j = name.find('/', i);
      if (j == std::string::npos) j = name.size();
      if (name.compare(i, j - i, "..") == 0 && j - i == 2)
        return invalid("spec.source: archive member \"" + name +
                       "\" leaves the job directory (..)");
      i = j + 1;
    }
  }
  return Status::ok();
}

Status check_links_inside(const std::string& dir) {
  std::error_code ec;
  fs::path root = fs::path(dir).lexically_normal();
  for (auto it = fs::recursive_directory_iterator(dir, fs::directory_options::none, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_symlink(ec)) continue;
    fs::path target = fs::read_symlink(it->path(), ec);
    if (ec) return invalid("spec.source: cannot read link " + it->path().string());
    fs::path resolved = target.is_absolute()
                            ? target.lexically_normal()
                            : (it->path().parent_path() / target).lexically_normal();
    auto rel = resolved.lexically_relative(root);
    if (target.is_absolute() || rel.empty() || *rel.begin() == "..")
      return invalid("spec.source: link " + it->path().lexically_relative(root).string() + " -> " +
                     target.string() + " points outside the job directory");
  }
  if (ec) return internal_error("cannot walk " + dir + ": " + ec.message());
  return Status::ok();
}

Status stage_source(Runner& runner, const std::string& bytes, const std::string& filename,
                    const std::string& dir, const std::string& scratch) {
  const bool name_ok =
      !filename.empty() && filename.size() <= 100 && filename != "." && filename != ".." &&
      std::all_of(filename.begin(), filename.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
      });
  if (!name_ok) return invalid("spec.source.filename: not a plain file name: \"" + filename + "\"");
  const bool is_tar =
      ends_with(filename, ".tar") || ends_with(filename, ".tar.gz") || ends_with(filename, ".tgz");
  const bool is_zip = ends_with(filename, ".zip");
  if (!is_tar && !is_zip) return write_file_atomically(dir + "/" + filename, bytes);
  const std::string staged = scratch + "/source-" + filename;
  if (Status w = write_file_atomically(staged, bytes); !w) return w;
  struct Unlink {
    const std::string& p;
    ~Unlink() { ::unlink(p.c_str()); }
  } unlink_staged{staged};
  auto list = is_tar ? runner.run({"tar", "-tf", staged}) : runner.run({"unzip", "-Z1", staged});
  if (!list) return list.status();
  if (list->exit_code != 0)
    return invalid("spec.source: cannot read " + filename + ": " + error_line(list->err));
  if (Status c = check_archive_listing(list->out); !c) return c;
  auto x = is_tar ? runner.run({"tar", "-xf", staged, "-C", dir, "--no-same-owner"})
                  : runner.run({"unzip", "-q", "-o", staged, "-d", dir});
  if (!x) return x.status();
  if (x->exit_code != 0)
    return invalid("spec.source: cannot unpack " + filename + ": " + error_line(x->err));
  return check_links_inside(dir);
}

// Everything one run of the submitter knows.
struct Submitter::State {
  const api::ResourceType* gpujob_type = nullptr;
  const api::ResourceType* cluster_type = nullptr;
  const api::ResourceType* secret_type = nullptr;
  std::unique_ptr<client::EventRecorder> events;
  Json job;      // the latest GPUJob we read or wrote
  Json cluster;  // the SlurmCluster
  std::string dir;
  std::map<std::string, std::string> env;  // SLURM_CONF
  std::string job_id;
  std::string munged_pid_file;
  bool cancel_sent = false;
  std::string stdout_path, stderr_path;
  std::map<std::string, uint64_t> copied;  // path -> bytes copied to out
  std::chrono::milliseconds poll{1000};
};

Submitter::Submitter(client::Client& client, Runner& runner, SubmitterOptions options)
    : client_(client),
      runner_(runner),
      options_(std::move(options)),
      st_(std::make_unique<State>()) {}

Submitter::~Submitter() = default;

namespace {

// The status fields the submitter owns, written over what the API holds.
struct Desired {
  std::string phase, reason, message;
  Json fields =
      Json::object();  // jobId, times, exitCode, nodeList, queryCommand, workDir, buildLog, result
};

std::string condition_type(const std::string& phase) {
  if (phase == "Submitted" || phase == "Queued") return "Submitted";
  if (phase == "Running") return "Running";
  if (phase == "Completed") return "Complete";
  if (phase == "Failed" || phase == "Cancelled") return "Failed";
  return "";
}

void set_condition(Json& status, const std::string& type, const std::string& value,
                   const std::string& reason, const std::string& message, const std::string& now) {
  if (!status.contains("conditions") || !status["conditions"].is_array())
    status["conditions"] = Json::array();
  for (auto& c : status["conditions"]) {
    if (c.value("type", "") != type) continue;
    if (c.value("status", "") != value) c["lastTransitionTime"] = now;
    c["status"] = value;
    c["reason"] = reason;
    c["message"] = message;
    return;
  }
  status["conditions"].push_back({{"type", type},
                                  {"status", value},
                                  {"reason", reason},
                                  {"message", message},
                                  {"lastTransitionTime", now}});
}

}  // namespace

Status Submitter::run() {
  State& s = *st_;
  s.gpujob_type = api::find_kind("minik8s.io/v1", "GPUJob");
  s.cluster_type = api::find_kind("minik8s.io/v1", "SlurmCluster");
  s.secret_type = api::find_kind("v1", "Secret");
  if (!s.gpujob_type || !s.cluster_type || !s.secret_type)
    return internal_error("the GPUJob/SlurmCluster/Secret kinds are not registered");
  std::ostream& out = options_.out ? *options_.out : std::cout;
  auto wait = [&](std::chrono::milliseconds d) {
    if (options_.wait) return options_.wait(d);
    std::this_thread::sleep_for(d);
    return false;
  };
  s.events = std::make_unique<client::EventRecorder>(client_, client::EventSource{kComponent, ""});
  s.events->start();
  struct Cleanup {
    State& s;
    ~Cleanup() {
      s.events->stop();
      if (!s.munged_pid_file.empty()) {
        auto pid = read_file(s.munged_pid_file);
        if (pid) {
          int p = std::atoi(pid->c_str());
          if (p > 1) ::kill(p, SIGTERM);
        }
      }
    }
  } cleanup{s};

  // --- helpers over the API -------------------------------------------------
  auto get_job = [&]() -> Status {
    Status last;
    for (int attempt = 0; attempt < 30; ++attempt) {
      auto j = client_.get(*s.gpujob_type, options_.ns, options_.name);
      if (j) {
        s.job = std::move(*j);
        return Status::ok();
      }
      if (j.status().code() == Code::kNotFound) return j.status();
      last = j.status();
      if (wait(std::chrono::milliseconds(500))) return Status(Code::kUnavailable, "stopped");
    }
    return last;
  };
  auto record = [&](const std::string& type, const std::string& reason,
                    const std::string& message) {
    s.events->record(s.job, "minik8s.io/v1", "GPUJob", type, reason, message);
  };
  // Writes d over the job's status (conflict retry); Events and conditions
  // for a phase change; a terminal phase is never replaced.
  auto write = [&](const Desired& d) -> Status {
    for (int attempt = 0; attempt < 20; ++attempt) {
      Json obj = s.job;
      Json& status = obj["status"];
      if (!status.is_object()) status = Json::object();
      const Json before = status;
      const std::string old_phase = status.value("phase", "");
      const bool frozen = slurm::is_terminal_phase(old_phase);
      for (auto& [k, v] : d.fields.items()) {
        if (v.is_null())
          status.erase(k);
        else
          status[k] = v;
      }
      bool changed_phase = false;
      if (!frozen && !d.phase.empty()) {
        changed_phase = old_phase != d.phase;
        status["phase"] = d.phase;
        if (d.reason.empty())
          status.erase("reason");
        else
          status["reason"] = d.reason;
        if (d.message.empty())
          status.erase("message");
        else
          status["message"] = d.message;
      } else if (d.phase.empty() && !d.message.empty()) {
        status["message"] = d.message;
      }
      if (obj.contains("metadata") && obj["metadata"].contains("generation"))
        status["observedGeneration"] = obj["metadata"]["generation"];
      const std::string now = format_rfc3339(real_clock().now());
      if (changed_phase) {
        std::string type = condition_type(d.phase);
        std::string creason = d.reason.empty() ? d.phase : d.reason;
        if (!type.empty()) set_condition(status, type, "True", creason, d.message, now);
        if (slurm::is_terminal_phase(d.phase) && status.contains("conditions")) {
          for (auto& c : status["conditions"])
            if (c.value("type", "") == "Running" && c.value("status", "") == "True")
              set_condition(status, "Running", "False", d.phase, "", now);
        }
      }
      if (status == before) return Status::ok();
      auto r = client_.update_status(*s.gpujob_type, obj);
      if (r) {
        s.job = std::move(*r);
        if (changed_phase) {
          std::string ereason =
              (d.reason == "BuildFailed" || d.reason == "SubmitRejected") ? d.reason : d.phase;
          bool warn = d.phase == "Failed";
          std::string msg = d.message;
          if (msg.empty()) msg = "Slurm job " + s.job_id + " is " + d.phase;
          record(warn ? "Warning" : "Normal", ereason, msg);
        }
        return Status::ok();
      }
      const Code code = r.status().code();
      if (code == Code::kNotFound) return r.status();
      // Only a conflict or an unreachable server can succeed on a retry; a
      // refused status (422) would be refused 20 times.
      if (code != Code::kConflict && code != Code::kUnavailable && code != Code::kTimeout)
        return r.status();
      if (code != Code::kConflict) {
        if (wait(std::chrono::milliseconds(500))) return Status(Code::kUnavailable, "stopped");
      }
      if (Status g = get_job(); !g) return g;
    }
    return conflict("status write: too many conflicts");
  };
  auto remove_finalizer = [&]() -> Status {
    for (int attempt = 0; attempt < 20; ++attempt) {
      Json obj = s.job;
      auto& fins = obj["metadata"]["finalizers"];
      if (!fins.is_array()) return Status::ok();
      Json kept = Json::array();
      for (auto& f : fins)
        if (!(f.is_string() && f.get<std::string>() == slurm::kFinalizer)) kept.push_back(f);
      if (kept.size() == fins.size()) return Status::ok();
      fins = kept;
      auto r = client_.update(*s.gpujob_type, obj);
      if (r || r.status().code() == Code::kNotFound) return Status::ok();
      if (r.status().code() != Code::kConflict && wait(std::chrono::milliseconds(500)))
        return Status(Code::kUnavailable, "stopped");
      if (Status g = get_job(); !g) return g.code() == Code::kNotFound ? Status::ok() : g;
    }
    return conflict("finalizer removal: too many conflicts");
  };
  auto slurm_cmd = [&](std::vector<std::string> argv) { return runner_.run(argv, s.env); };
  auto deleting = [&] {
    return s.job.contains("metadata") && s.job["metadata"].contains("deletionTimestamp");
  };
  auto cancel_requested = [&] {
    return s.job.contains("spec") && s.job["spec"].value("cancel", false) == true;
  };
  auto phase = [&] { return str(s.job, {"status", "phase"}); };

  // --- 1. the GPUJob, the SlurmCluster, munge ---------------------------------
  if (Status g = get_job(); !g) return g.code() == Code::kNotFound ? Status::ok() : g;
  s.job_id = str(s.job, {"status", "jobId"});
  const std::string uid = str(s.job, {"metadata", "uid"});
  if (slurm::is_terminal_phase(phase()) &&
      (s.job_id.empty() || s.job["status"].contains("result"))) {
    if (deleting()) return remove_finalizer();
    return Status::ok();
  }
  if (deleting() && s.job_id.empty()) return remove_finalizer();
  if (cancel_requested() && s.job_id.empty()) {
    Desired d{"Cancelled", "", "cancelled before submission", Json::object()};
    return write(d);
  }

  std::string cluster_name = str(s.job, {"spec", "slurm", "cluster"});
  if (cluster_name.empty()) cluster_name = "default";
  while (true) {
    auto c = client_.get(*s.cluster_type, "", cluster_name);
    if (c) {
      s.cluster = std::move(*c);
      break;
    }
    if (c.status().code() == Code::kNotFound && s.job_id.empty()) {
      Desired d{"Pending", "SlurmClusterNotFound",
                "SlurmCluster \"" + cluster_name + "\" not found", Json::object()};
      if (Status w = write(d); !w && w.code() == Code::kNotFound) return Status::ok();
    }
    if (wait(std::chrono::seconds(2))) return Status(Code::kUnavailable, "stopped");
    if (Status g = get_job(); !g) return g.code() == Code::kNotFound ? Status::ok() : g;
    if (deleting()) {
      // Without its SlurmCluster the job cannot be cancelled from here.
      if (!s.job_id.empty())
        record("Warning", "SlurmJobNotCancelled",
               "Slurm job " + s.job_id + " may still run; cancel it with scancel " + s.job_id);
      return remove_finalizer();
    }
  }
  if (options_.poll_interval.count() > 0) {
    s.poll = options_.poll_interval;
  } else if (s.cluster["spec"].contains("pollIntervalSeconds") &&
             s.cluster["spec"]["pollIntervalSeconds"].is_number_integer()) {
    s.poll = std::chrono::seconds(
        std::clamp<int64_t>(s.cluster["spec"]["pollIntervalSeconds"].get<int64_t>(), 1, 60));
  }

  std::error_code ec;
  fs::create_directories(options_.run_dir + "/munge", ec);
  if (ec) return internal_error("cannot create " + options_.run_dir + "/munge: " + ec.message());
  ::chmod(options_.run_dir.c_str(), 0755);
  ::chmod((options_.run_dir + "/munge").c_str(), 0755);
  const std::string socket = options_.run_dir + "/munge/munge.socket";
  auto conf = slurm::render_slurm_conf(s.cluster, socket);
  if (!conf) {
    Desired d{"Pending", "SlurmClusterInvalid",
              "SlurmCluster \"" + cluster_name + "\": " + conf.status().message(), Json::object()};
    (void)write(d);
    return conf.status();
  }
  const std::string conf_path = options_.run_dir + "/slurm.conf";
  if (Status w = write_file_atomically(conf_path, *conf); !w) return w;
  s.env["SLURM_CONF"] = conf_path;

  if (options_.start_munge) {
    const std::string sns = str(s.cluster, {"spec", "auth", "secretRef", "namespace"});
    const std::string sname = str(s.cluster, {"spec", "auth", "secretRef", "name"});
    std::string skey = str(s.cluster, {"spec", "auth", "secretRef", "key"});
    if (skey.empty()) skey = "munge.key";
    auto secret = client_.get(*s.secret_type, sns.empty() ? "kube-system" : sns, sname);
    if (!secret)
      return Status(secret.status().code(),
                    "munge key Secret " + sns + "/" + sname + ": " + secret.status().message());
    std::string b64 = str(*secret, {"data", skey.c_str()});
    auto key = base64_decode_lenient(b64);
    if (!key || key->empty())
      return invalid("munge key Secret " + sns + "/" + sname + " has no data key \"" + skey + "\"");
    const std::string key_path = options_.run_dir + "/munge/munge.key";
    ::unlink(key_path.c_str());
    int fd = ::open(key_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0400);
    if (fd < 0) return internal_error("cannot write " + key_path);
    bool ok = ::write(fd, key->data(), key->size()) == static_cast<ssize_t>(key->size());
    ::close(fd);
    if (!ok) return internal_error("cannot write " + key_path);
    s.munged_pid_file = options_.run_dir + "/munge/munged.pid";
    // A pid file left by an earlier run (a restarted container) must not
    // name the process we stop at the end.
    ::unlink(s.munged_pid_file.c_str());
    auto m = runner_.run({"munged", "--force", "--socket=" + socket, "--key-file=" + key_path,
                          "--pid-file=" + s.munged_pid_file,
                          "--log-file=" + options_.run_dir + "/munge/munged.log",
                          "--seed-file=" + options_.run_dir + "/munge/munged.seed"});
    if (!m) return m.status();
    if (m->exit_code != 0)
      return internal_error("munged did not start: " + error_line(m->err + m->out));
  }

  // --- 2. the job directory ----------------------------------------------------
  const std::string work_dir = str(s.cluster, {"spec", "workDir"});
  auto dir = slurm::job_dir(work_dir.empty() ? "/var/tmp/minik8s-slurm/work" : work_dir,
                            options_.ns, options_.name, uid);
  if (!dir) return dir.status();
  s.dir = *dir;
  const std::string meta = s.dir + "/.minik8s";

  // --- 3. follow, adopt or submit -----------------------------------------------
  if (s.job_id.empty()) {
    auto q = slurm_cmd({"squeue", "-h", "-a", "-t", "all", "-n", slurm::job_name(uid), "-o",
                        slurm::kSqueueFormat});
    if (!q) return q.status();
    if (q->exit_code != 0)
      return Status(Code::kUnavailable, "squeue: " + error_line(q->err + q->out));
    auto jobs = slurm::parse_squeue(q->out);
    if (!jobs) return jobs.status();
    for (const auto& j : *jobs)
      if (j.name == slurm::job_name(uid)) s.job_id = j.job_id;
    if (s.job_id.empty()) {
      if (auto saved = read_file(meta + "/job_id"); saved && !trim(*saved).empty())
        s.job_id = trim(*saved);
    }
  }
  if (s.job_id.empty()) {
    // Stage: the source, the batch script.
    fs::create_directories(meta, ec);
    if (ec) return internal_error("cannot create " + meta + ": " + ec.message());
    auto fail = [&](const std::string& reason, const std::string& message) -> Status {
      Desired d{"Failed", reason, message, Json::object()};
      d.fields["workDir"] = s.dir;
      Status w = write(d);
      return w.code() == Code::kNotFound ? Status::ok() : w;
    };
    const std::string hash = str(s.job, {"spec", "source", "hash"});
    const std::string filename = str(s.job, {"spec", "source", "filename"});
    if (!hash.empty()) {
      auto bytes = client::download_blob(client_.rest(), hash);
      if (!bytes) {
        if (bytes.status().code() == Code::kNotFound)
          return fail("SourceInvalid", "spec.source.hash: blob " + hash + " not found");
        return bytes.status();
      }
      Status staged = stage_source(runner_, *bytes, filename, s.dir, options_.run_dir);
      if (staged.code() == Code::kInvalid) return fail("SourceInvalid", staged.message());
      if (!staged) return staged;
    }
    auto script = slurm::render_batch_script(s.job, s.dir);
    if (!script) return fail("SubmitRejected", script.status().message());
    if (Status w = write_file_atomically(meta + "/job.sh", *script); !w) return w;
    ::chmod((meta + "/job.sh").c_str(), 0755);
    for (const char* stale : {"build.rc", "build.log", "built", "exit_code", "result.tar.gz"})
      ::unlink((meta + "/" + stale).c_str());
    auto args = slurm::sbatch_args(s.job, s.dir);
    if (!args) return fail("SubmitRejected", args.status().message());
    std::vector<std::string> argv = {"sbatch"};
    argv.insert(argv.end(), args->begin(), args->end());
    auto sb = slurm_cmd(argv);
    if (!sb) return sb.status();
    std::string id = trim(sb->out);
    id = id.substr(0, id.find(';'));
    if (sb->exit_code != 0 || id.empty() || !std::all_of(id.begin(), id.end(), ::isdigit)) {
      std::string msg = error_line(sb->err + "\n" + sb->out);
      if (msg.empty()) msg = "exit code " + std::to_string(sb->exit_code);
      if (msg.rfind("sbatch:", 0) != 0) msg = "sbatch: " + msg;
      return fail("SubmitRejected", msg);
    }
    s.job_id = id;
    (void)write_file_atomically(meta + "/job_id", id + "\n");
    Desired d{"Submitted", "", "", Json::object()};
    d.fields["jobId"] = id;
    d.fields["workDir"] = s.dir;
    d.fields["queryCommand"] = "scontrol show job " + id;
    if (Status w = write(d); !w) return w.code() == Code::kNotFound ? Status::ok() : w;
  } else if (str(s.job, {"status", "jobId"}).empty()) {
    Desired d{"Submitted", "", "adopted Slurm job " + s.job_id, Json::object()};
    d.fields["jobId"] = s.job_id;
    d.fields["workDir"] = s.dir;
    d.fields["queryCommand"] = "scontrol show job " + s.job_id;
    if (Status w = write(d); !w) return w.code() == Code::kNotFound ? Status::ok() : w;
  }

  // --- 4. follow ------------------------------------------------------------------
  auto resolve = [&](const std::string& spec_name) {
    std::string r;
    for (size_t i = 0; i < spec_name.size(); ++i) {
      if (spec_name[i] == '%' && i + 1 < spec_name.size()) {
        char c = spec_name[++i];
        if (c == 'j' || c == 'A')
          r += s.job_id;
        else if (c == 'x')
          r += slurm::job_name(uid);
        else if (c == '%')
          r += '%';
        else
          r += std::string("%") + c;
      } else {
        r += spec_name[i];
      }
    }
    return s.dir + "/" + r;
  };
  {
    std::string o = str(s.job, {"spec", "slurm", "output"});
    std::string e = str(s.job, {"spec", "slurm", "error"});
    s.stdout_path = o.empty() ? s.dir + "/slurm-" + s.job_id + ".out" : resolve(o);
    s.stderr_path = e.empty() ? "" : resolve(e);
  }
  // The job's output files, copied to our stdout as they grow. Only regular
  // files inside the job directory, opened without following a link: the
  // job could replace its output file with a link to the munge key, and the
  // submitter runs as root.
  auto inside_dir = [&](const std::string& p) {
    std::string rel = fs::path(p).lexically_normal().lexically_relative(s.dir).string();
    return !rel.empty() && rel != "." && rel.rfind("..", 0) != 0;
  };
  auto copy_output = [&] {
    for (const std::string& p : {s.stdout_path, s.stderr_path}) {
      if (p.empty() || !inside_dir(p)) continue;
      int fd = ::open(p.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) continue;
      struct stat st {};
      uint64_t& off = s.copied[p];
      if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
          ::lseek(fd, static_cast<off_t>(off), SEEK_SET) >= 0) {
        char buf[65536];
        ssize_t k;
        while ((k = ::read(fd, buf, sizeof buf)) > 0) {
          out.write(buf, k);
          off += static_cast<uint64_t>(k);
        }
        out.flush();
      }
      ::close(fd);
    }
  };
  // What Slurm says about the job; the files when slurmctld forgot it.
  auto query = [&]() -> Result<slurm::JobInfo> {
    auto r = slurm_cmd({"scontrol", "show", "job", "-o", s.job_id});
    if (!r) return r.status();
    if (r->exit_code == 0) return slurm::parse_scontrol_job(r->out);
    if ((r->err + r->out).find("Invalid job id") == std::string::npos)
      return Status(Code::kUnavailable, "scontrol: " + error_line(r->err + r->out));
    auto a = slurm_cmd({"sacct", "-n", "-P", "-X", "-j", s.job_id, "-o", slurm::kSacctFields});
    if (a && a->exit_code == 0) {
      auto jobs = slurm::parse_sacct(a->out);
      if (jobs && !jobs->empty()) return jobs->front();
    }
    slurm::JobInfo info;
    info.job_id = s.job_id;
    auto brc = read_file(meta + "/build.rc");
    auto ec_file = read_file(meta + "/exit_code");
    if (ec_file) {
      info.exit_code = std::atoi(trim(*ec_file).c_str());
      info.state = *info.exit_code == 0 ? "COMPLETED" : "FAILED";
      if (*info.exit_code != 0) info.reason = "NonZeroExitCode";
    } else if (brc && trim(*brc) != "0") {
      info.state = "FAILED";
      info.exit_code = 1;
    } else if (s.cancel_sent) {
      info.state = "CANCELLED";
    } else {
      info.state = "FAILED";
      info.reason = "SlurmJobLost";
    }
    return info;
  };

  slurm::JobInfo info;
  int failures = 0;
  while (true) {
    if (Status g = get_job(); !g) {
      if (g.code() == Code::kNotFound) {
        if (!s.cancel_sent) (void)slurm_cmd({"scancel", s.job_id});
        return Status::ok();
      }
      return g;
    }
    if (deleting()) {
      if (!slurm::is_terminal_phase(phase())) (void)slurm_cmd({"scancel", s.job_id});
      return remove_finalizer();
    }
    if (cancel_requested() && !s.cancel_sent) {
      auto c = slurm_cmd({"scancel", s.job_id});
      if (c && c->exit_code == 0) {
        s.cancel_sent = true;
        record("Normal", "Cancelling", "scancel " + s.job_id);
      }
    }
    auto q = query();
    if (!q) {
      if (++failures == 10) {
        Desired d{"", "", "cannot ask Slurm about job " + s.job_id + ": " + q.status().message(),
                  Json::object()};
        (void)write(d);
      }
    } else {
      failures = 0;
      info = *q;
      if (!info.std_out.empty()) s.stdout_path = info.std_out;
      if (!info.std_err.empty() && info.std_err != info.std_out) s.stderr_path = info.std_err;
      copy_output();
      std::string ph = slurm::phase_for_state(info.state);
      if (slurm::is_terminal_phase(ph)) break;
      Desired d{ph, ph == "Queued" ? info.reason : "", "", Json::object()};
      d.fields["jobId"] = s.job_id;
      d.fields["queryCommand"] = "scontrol show job " + s.job_id;
      d.fields["workDir"] = s.dir;
      if (!info.submit_time.empty()) d.fields["submitTime"] = info.submit_time;
      if (!info.start_time.empty()) d.fields["startTime"] = info.start_time;
      if (!info.node_list.empty()) d.fields["nodeList"] = info.node_list;
      if (Status w = write(d); !w) {
        if (w.code() == Code::kNotFound) continue;  // gone: the next get says so
        return w;
      }
    }
    if (wait(s.poll)) return Status(Code::kUnavailable, "stopped");
  }

  // --- 5. the end ----------------------------------------------------------------------
  copy_output();
  std::string ph = slurm::phase_for_state(info.state);
  Desired d{ph, "", "", Json::object()};
  d.fields["jobId"] = s.job_id;
  d.fields["queryCommand"] = "scontrol show job " + s.job_id;
  d.fields["workDir"] = s.dir;
  if (!info.submit_time.empty()) d.fields["submitTime"] = info.submit_time;
  if (!info.start_time.empty()) d.fields["startTime"] = info.start_time;
  if (!info.end_time.empty()) d.fields["endTime"] = info.end_time;
  if (!info.node_list.empty()) d.fields["nodeList"] = info.node_list;
  if (info.exit_code) d.fields["exitCode"] = *info.exit_code;
  auto brc = read_file(meta + "/build.rc");
  if (brc && trim(*brc) != "0" && !trim(*brc).empty()) {
    auto log = read_file(meta + "/build.log");
    std::string tail = log ? last_lines(*log, 20) : "";
    d.phase = "Failed";
    d.reason = "BuildFailed";
    std::string last = error_line(tail);
    d.message = "the build failed (exit " + trim(*brc) + ")" + (last.empty() ? "" : ": " + last);
    d.fields["buildLog"] = tail;
  } else if (ph == "Failed") {
    d.reason = info.reason.empty() ? info.state : info.reason;
    d.message = "Slurm job " + s.job_id + " ended " + info.state +
                (info.exit_code ? " with exit code " + std::to_string(*info.exit_code) : "");
  } else if (ph == "Cancelled") {
    d.message = s.cancel_sent ? "cancelled (scancel " + s.job_id + ")"
                              : "Slurm job " + s.job_id + " was cancelled";
  } else {
    d.message = "Slurm job " + s.job_id + " completed";
  }
  if (Status w = write(d); !w) return w.code() == Code::kNotFound ? Status::ok() : w;

  // The result archive.
  std::vector<std::string> files;
  std::set<std::string> seen;
  uint64_t total = 0;
  bool truncated = false;
  auto add = [&](const fs::path& p) {
    std::error_code e2;
    if (!fs::is_regular_file(fs::symlink_status(p, e2))) return;
    auto rel = p.lexically_normal().lexically_relative(fs::path(s.dir).lexically_normal()).string();
    if (rel.empty() || rel.rfind("..", 0) == 0 || seen.count(rel)) return;
    uint64_t size = fs::file_size(p, e2);
    if (e2) return;
    if (total + size > options_.max_result_bytes) {
      truncated = true;
      return;
    }
    total += size;
    seen.insert(rel);
    files.push_back(rel);
  };
  add(s.stdout_path);
  if (!s.stderr_path.empty()) add(s.stderr_path);
  add(meta + "/build.log");
  std::error_code e1;
  auto built_time = fs::last_write_time(meta + "/built", e1);
  if (!e1) {
    std::vector<fs::path> changed;
    for (auto it = fs::recursive_directory_iterator(
             s.dir, fs::directory_options::skip_permission_denied, e1);
         !e1 && it != fs::recursive_directory_iterator(); it.increment(e1)) {
      if (it->path().filename() == ".minik8s" && it.depth() == 0) {
        it.disable_recursion_pending();
        continue;
      }
      std::error_code e3;
      if (!it->is_regular_file(e3) || it->is_symlink(e3)) continue;
      if (fs::last_write_time(it->path(), e3) >= built_time && !e3) changed.push_back(it->path());
    }
    std::sort(changed.begin(), changed.end());
    for (const auto& p : changed) add(p);
  }
  if (files.empty()) return Status::ok();
  std::string list;
  for (const auto& f : files) list += f + '\0';
  const std::string list_path = options_.run_dir + "/result.list";
  const std::string archive = meta + "/result.tar.gz";
  if (Status w = write_file_atomically(list_path, list); !w) return w;
  auto t = runner_.run({"tar", "-czf", archive, "-C", s.dir, "--null", "-T", list_path});
  Desired rd{"", "", "", Json::object()};
  // A note about the result goes after the job's own message.
  auto note = [&](const std::string& n) {
    std::string m = str(s.job, {"status", "message"});
    return m.empty() ? n : m + "; " + n;
  };
  if (!t || t->exit_code != 0) {
    rd.message =
        note("packing the result failed: " + (t ? error_line(t->err) : t.status().message()));
    (void)write(rd);
    return Status::ok();
  }
  auto bytes = read_file(archive);
  if (!bytes) return bytes.status();
  if (bytes->size() > options_.max_result_bytes) {
    rd.message = note("the result archive is larger than 64 MiB; the files stay in " + s.dir);
    (void)write(rd);
    return Status::ok();
  }
  Status up;
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto b = client::upload_blob(client_.rest(), *bytes);
    if (b) {
      Json files_json = files;
      rd.fields["result"] = {
          {"hash", *b}, {"size", static_cast<int64_t>(bytes->size())}, {"files", files_json}};
      if (truncated)
        rd.message = note("some result files were left out (64 MiB limit); all stay in " + s.dir);
      Status w = write(rd);
      return w.code() == Code::kNotFound ? Status::ok() : w;
    }
    up = b.status();
    if (up.code() != Code::kUnavailable && up.code() != Code::kTimeout) break;
    if (wait(std::chrono::seconds(1))) break;
  }
  rd.message =
      note("uploading the result failed: " + up.message() + "; the files stay in " + s.dir);
  (void)write(rd);
  return Status::ok();
}

}  // namespace minik8s::gpu
