// Small helpers shared by mkctl's command groups (function, workflow, ...):
// JSON field access, error lines in kubectl's style, durations, -d bodies,
// and an API caller that turns non-2xx answers into a Status. Pure functions
// never throw; ApiCaller is one per command run (not thread-safe).
#pragma once

#include <chrono>
#include <initializer_list>
#include <iosfwd>
#include <memory>
#include <string>

#include "minik8s/api/json.h"
#include "minik8s/client/rest_client.h"
#include "minik8s/util/status.h"

namespace minik8s::cli {

inline constexpr const char* kTableAccept =
    "application/json;as=Table;v=v1;g=meta.k8s.io,application/json";

// The first non-blank line of s, cut at max bytes (with "…").
std::string first_line(const std::string& s, size_t max = 300);
// A string field at path ("" when absent or not a string).
std::string jstr(const api::Json& obj, std::initializer_list<const char*> path);
// A number (or string) field at path as text, dflt when absent.
std::string jnum(const api::Json& obj, std::initializer_list<const char*> path,
                 const std::string& dflt);
long long now_unix();
// "error: dial tcp …" for an unreachable server, else
// "Error from server (Reason): <first line>".
std::string server_error(const Status& s);
// "30s", "2m", "1h30m", "500ms", or a bare number of seconds → milliseconds;
// "" → 0; -1 when malformed.
long long parse_timeout_ms(const std::string& t);
// A -d argument: "@-" reads `in`, "@FILE" the file, else the text itself.
// kNotFound naming the path when the file cannot be read.
Result<std::string> read_data_arg(const std::string& data, std::istream& in);
// As the WorkflowRun table: 12.3 → "12.3ms", 1234 → "1.2s", 12000 → "12s",
// 184000 → "3m4s", 3605000 → "1h0m5s"; "-" for a negative or NaN.
std::string format_duration_ms(double ms);

// One HTTP client to the API server, created on first use.
class ApiCaller {
 public:
  ApiCaller(client::HttpRestClientOptions server, std::chrono::milliseconds timeout)
      : server_(std::move(server)), timeout_(timeout) {}
  Status connect();
  client::RestClient& rest() { return *rest_; }  // after connect()
  // One call; a non-2xx answer becomes its Status, the body parsed as JSON.
  Result<api::Json> call(const std::string& method, const std::string& path,
                         const std::string& body = "",
                         const std::string& content_type = "application/json",
                         const std::string& accept = "application/json");

 private:
  client::HttpRestClientOptions server_;  // server URL and credentials
  std::chrono::milliseconds timeout_;
  std::unique_ptr<client::RestClient> rest_;
};

// The Events about one object (what `describe` prints under "Events:"); an
// empty object when the server cannot list them.
api::Json events_for(ApiCaller& api, const std::string& ns, const std::string& kind,
                     const std::string& name);

}  // namespace minik8s::cli
