// mkctl gpujob … (alias gj): GPU jobs run through Slurm (docs/gpu.md "CLI").
//
// submit reads one GPUJob from a YAML or JSON file, packs --source (a
// directory as a deterministic tar.gz, see pack.h; a file as it is, under
// its own name), uploads it to the API server's blob store
// (client::upload_blob), sets spec.source = {hash, filename} and creates the
// job. get/list print the table NAME PHASE JOBID NODE SUBMITTED DURATION AGE
// and, below it, the Slurm job id, submit time, reason and query command of
// each job still waiting in Slurm (and, for `get NAME` of a failed job, its
// reason, message and build log tail); describe prints the spec, the Slurm
// settings, the status, conditions and events; logs prints (or follows) the
// submitter pod's log through pods/log; download fetches status.result and
// unpacks it safely into a directory; cancel sets spec.cancel (merge patch);
// delete removes the job (--wait: until its finalizer let it go).
//
// Errors: one line on `err` ("error: …" for the client's own checks,
// "Error from server (Reason): …" for the API server) and exit code 1.
// Thread safety: run_gpujob is self-contained per call.
#pragma once

#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#include "minik8s/client/rest_client.h"
#include "minik8s/api/json.h"
#include "minik8s/util/status.h"

namespace CLI {
class App;
}

namespace minik8s::cli {

inline constexpr uint64_t kMaxBlobBytes = 64ull << 20;  // the server's blob-store limit

struct GpuJobOptions {
  // submit | get | describe | logs | download | cancel | delete
  std::string action;
  std::string name;
  std::string file;             // submit: -f
  std::string source;           // submit: --source DIR|FILE
  std::string output;           // get: "" | yaml | json
  bool follow = false;          // logs -f
  std::string out_dir;          // download -o; "" = ./NAME-results
  bool wait = false;            // delete --wait
  std::string timeout = "60s";  // delete --wait
};

// Adds the `gpujob` group (alias `gj`) to app; the subcommands fill o.
CLI::App* add_gpujob_commands(CLI::App& app, GpuJobOptions& o);

// server: "http://host:port"; ns: the namespace to act in.
int run_gpujob(const client::HttpRestClientOptions& server, const std::string& ns,
               std::chrono::milliseconds request_timeout, const GpuJobOptions& o, std::istream& in,
               std::ostream& out, std::ostream& err);

// ---- pure parts, exposed for tests; never throw on any JSON ----

// A GPUJob document checked for what the CLI needs before sending it: an
// object, kind GPUJob and apiVersion minik8s.io/v1 (filled in when absent),
// metadata.name present, spec an object. kInvalid naming the field.
Status normalize_gpujob(api::Json& doc);

struct PackedSource {
  std::string bytes;
  std::string filename;  // spec.source.filename
};
// --source PATH: a directory → tar_gz_directory, named "<dir>.tar.gz" (the
// directory's name with characters outside [A-Za-z0-9._-] replaced by '-');
// a file → its bytes under its base name, which must match the API's
// grammar [A-Za-z0-9._-]{1,100}. kInvalid (one line naming the path) for a
// missing path, a bad name, nothing to pack, or over limit bytes.
Result<PackedSource> pack_source(const std::string& path, uint64_t limit = kMaxBlobBytes);

// Phases after which a job never changes.
bool is_terminal_gpujob_phase(const std::string& phase);
// start → end (or → now while Running) as "12s", "3m4s"; "" when not started.
std::string gpujob_duration(const api::Json& job, long long now_unix);
// The table NAME PHASE JOBID NODE SUBMITTED DURATION AGE over a list of
// GPUJobs (an array; header only when empty).
std::string gpujob_table(const api::Json& items, long long now_unix);
// What follows the table: for every job with a Slurm job id that has not
// started (Submitted, Queued, or Pending with a jobId) the block
//   "\n<name> is waiting in Slurm (Queued):\n  Job ID:       42\n …"
// with Job ID, Submit Time, Reason and Query; with failures=true also, for
// a Failed job, its reason, message and build log tail.
std::string gpujob_notes(const api::Json& items, bool failures);
// kubectl-describe-like text of a GPUJob (events rendered separately).
std::string describe_gpujob(const api::Json& job, long long now_unix);
// The error for `download` of a job without status.result: names the phase
// (and the reason of a failed job).
std::string no_result_error(const api::Json& job);

}  // namespace minik8s::cli
