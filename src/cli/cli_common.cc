// Shared mkctl helpers: see cli_common.h.
#include "cli_common.h"

#include "minik8s/util/url.h"

#include <cctype>
#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "minik8s/api/resource.h"
#include "minik8s/client/client.h"
#include "minik8s/util/url.h"

namespace minik8s::cli {

using api::Json;

std::string first_line(const std::string& s, size_t max) {
  size_t start = s.find_first_not_of(" \t\r\n");
  if (start == std::string::npos) return "";
  std::string line = s.substr(start, s.find_first_of("\r\n", start) - start);
  if (line.size() > max) line = line.substr(0, max) + "…";
  return line;
}

std::string jstr(const Json& obj, std::initializer_list<const char*> path) {
  const Json& v = api::field_at(obj, path);
  return v.is_string() ? v.get<std::string>() : "";
}

std::string jnum(const Json& obj, std::initializer_list<const char*> path,
                 const std::string& dflt) {
  const Json& v = api::field_at(obj, path);
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_number()) return v.dump();
  if (v.is_string()) return v.get<std::string>();
  return dflt;
}

long long now_unix() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string server_error(const Status& s) {
  if ((s.code() == Code::kUnavailable || s.code() == Code::kTimeout) &&
      (s.message().rfind("dial tcp", 0) == 0 ||
       s.message().find("timed out") != std::string::npos)) {
    return "error: " + first_line(s.message(), 500);
  }
  return std::string("Error from server (") + s.reason() + "): " + first_line(s.message(), 500);
}

long long parse_timeout_ms(const std::string& t) {
  if (t.empty()) return 0;
  size_t i = 0;
  long long total = 0;
  while (i < t.size()) {
    size_t j = i;
    while (j < t.size() && std::isdigit(static_cast<unsigned char>(t[j])) != 0) ++j;
    if (j == i || j - i > 12) return -1;
    long long n = std::stoll(t.substr(i, j - i));
    std::string unit;
    while (j < t.size() && std::isalpha(static_cast<unsigned char>(t[j])) != 0) unit += t[j++];
    if (unit == "ms") {
      total += n;
    } else if (unit == "s" || unit.empty()) {
      total += n * 1000;
    } else if (unit == "m") {
      total += n * 60000;
    } else if (unit == "h") {
      total += n * 3600000;
    } else {
      return -1;
    }
    i = j;
  }
  return total;
}

Result<std::string> read_data_arg(const std::string& data, std::istream& in) {
  if (data == "@-") {
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  if (!data.empty() && data[0] == '@') {
    std::ifstream f(data.substr(1), std::ios::binary);
    if (!f) return Status(Code::kNotFound, "the path \"" + data.substr(1) + "\" does not exist");
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }
  return data;
}

std::string format_duration_ms(double ms) {
  if (!std::isfinite(ms) || ms < 0) return "-";
  char buf[64];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, ms < 10 ? "%.2fms" : "%.1fms", ms);
    return buf;
  }
  if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%.1f", ms / 1000);
    std::string t = buf;
    if (t.ends_with(".0")) t.resize(t.size() - 2);
    return t + "s";
  }
  long long s = static_cast<long long>(ms / 1000);
  if (s < 3600) return std::to_string(s / 60) + "m" + std::to_string(s % 60) + "s";
  return std::to_string(s / 3600) + "h" + std::to_string((s % 3600) / 60) + "m" +
         std::to_string(s % 60) + "s";
}

Status ApiCaller::connect() {
  if (rest_) return Status::ok();
  client::HttpRestClientOptions ro = server_;
  ro.timeout = timeout_;
  auto r = client::make_http_rest_client(ro);
  if (!r) return r.status();
  rest_ = std::move(*r);
  return Status::ok();
}

Result<Json> ApiCaller::call(const std::string& method, const std::string& path,
                             const std::string& body, const std::string& content_type,
                             const std::string& accept) {
  if (Status s = connect(); !s) return s;
  auto res = rest_->request(method, path, body, content_type, accept);
  if (!res) return res.status();
  if (Status s = client::check_response(*res); !s) return s;
  auto parsed = api::parse_json_response(res->body);
  if (!parsed)
    return Status(Code::kInternal, "the server sent invalid JSON: " + parsed.status().message());
  return std::move(parsed.value());
}

Json events_for(ApiCaller& api, const std::string& ns, const std::string& kind,
                const std::string& name) {
  std::string fs = "involvedObject.name=" + name + ",involvedObject.namespace=" + ns +
                   ",involvedObject.kind=" + kind;
  auto ev = api.call(
      "GET", "/api/v1/namespaces/" + url_encode(ns) + "/events?fieldSelector=" + url_encode(fs));
  return ev ? std::move(*ev) : Json::object();
}

}  // namespace minik8s::cli
