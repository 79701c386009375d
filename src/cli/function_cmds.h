// mkctl function … (alias fn): serverless Functions (docs/serverless.md).
//
// create/update check the code on the client before anything is sent (file
// present, .py UTF-8 text or a .zip by its magic, at most 8 MiB, and — with a
// local python3 — the syntax of every module, the handler module present and
// a top-level definition of the handler function), upload it to the server's
// code store (POST /apis/serverless.minik8s.io/v1/code) and write the
// Function with spec.code = {hash, filename}. get/list, describe, url,
// delete talk to the API server; invoke calls the gateway at status.url;
// logs streams the function's instance pods through pods/log.
//
// Errors: one line on `err` ("error: …" for the client's own checks,
// "Error from server (Reason): …" for the API server, "error: HTTP <code>:
// <first body line>" for a failed invocation) and exit code 1.
// Thread safety: run_function is self-contained per call; logs -f runs one
// reader thread per instance pod, writing whole lines under one mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "minik8s/client/rest_client.h"
#include "minik8s/api/json.h"
#include "minik8s/util/status.h"

namespace CLI {
class App;
}

namespace minik8s::cli {

inline constexpr uint64_t kMaxCodeBytes = 8ull << 20;  // the server's code-store limit

struct FunctionOptions {
  std::string action;  // create | update | get | describe | invoke | url | logs | delete
  std::string name;
  // create / update
  std::string file;  // FILE.py, FILE.zip, or a directory (zipped on the fly)
  std::string handler;
  std::string runtime;  // "" (create: python3) | python3 | python3-ml
  std::optional<long long> min_scale, max_scale, concurrency, idle, timeout;
  std::vector<std::string> env;  // K=V sets, K- removes (update)
  // get
  std::string output;  // "" | yaml | json
  // invoke
  std::string data;                // JSON, @file or @- (stdin); empty: GET
  std::vector<std::string> query;  // k=v
  bool verbose = false;
  int url_wait = 10;  // invoke/url: seconds to wait for status.url of a new Function
  // logs
  bool follow = false;
  // The interpreter for the client-side code check; "" = /usr/bin/python3,
  // else python3 on PATH, else the check is skipped with a note.
  std::string python;
};

// Adds the `function` group (alias `fn`) with its subcommands to app; the
// subcommands fill o. Returns the group, for parsed().
CLI::App* add_function_commands(CLI::App& app, FunctionOptions& o);

// server: "http://host:port"; ns: the namespace to act in.
int run_function(const client::HttpRestClientOptions& server, const std::string& ns,
                 std::chrono::milliseconds request_timeout, const FunctionOptions& o,
                 std::istream& in, std::ostream& out, std::ostream& err);

// ---- pure parts, exposed for tests ----

// hello.py → "hello.handler"; pkg.zip → "main.handler".
std::string default_handler(const std::string& path);
// "module.function" with a non-empty module (dots allowed) and a Python identifier as function.
Status check_handler(const std::string& handler);
// Reads and checks a code file without Python: exists, .py/.zip by extension
// and content, size ≤ limit. kInvalid with one user-facing line.
Result<std::string> read_code_file(const std::string& path, uint64_t limit = kMaxCodeBytes);
// A directory's files as a zip (stored entries, sorted names, fixed
// timestamps: the same files give the same bytes), without dot files,
// __pycache__ and .pyc. kInvalid for no directory, no files, or over limit.
Result<std::string> zip_directory(const std::string& dir, uint64_t limit = kMaxCodeBytes);
// Runs the embedded checker with `python` on the code at path (a .py or
// .zip, named filename): syntax of every module, handler module present,
// function defined at top level. kInvalid with one line ("hello.py:3:
// SyntaxError: …") on a problem; kUnavailable when python could not run.
Status python_check(const std::string& python, const std::string& path, const std::string& filename,
                    const std::string& handler);
// The interpreter python_check should use ("" when none was found).
std::string find_python(const std::string& preferred);
// Applies K=V / K- items to a spec.env list ([{name, value}]); kInvalid on a malformed item.
Status apply_env(api::Json& env, const std::vector<std::string>& items);
// The create/update settings in o applied to spec (scale, timeout, handler, env).
Status apply_settings(api::Json& spec, const FunctionOptions& o);
// kubectl-describe-like text of a Function; code_size < 0 when unknown.
std::string describe_function(const api::Json& fn, long long code_size, long long now_unix);
// "error: HTTP 500: <first line of body>".
std::string invoke_error_line(int code, const std::string& body);

}  // namespace minik8s::cli
