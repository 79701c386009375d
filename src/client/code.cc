// Code store uploads and downloads (minik8s/client/code.h).
#include "minik8s/client/code.h"

#include <nlohmann/json.hpp>

namespace minik8s::client {

namespace {
constexpr const char* kCodePath = "/apis/serverless.minik8s.io/v1/code";
constexpr const char* kBlobPath = "/apis/minik8s.io/v1/blobs";

Result<std::string> upload_to(RestClient& rest, const char* path, const std::string& bytes) {
  auto r = rest.request("POST", path, bytes, "application/octet-stream", "application/json");
  if (!r) return r.status();
  if (Status st = check_response(*r); !st.is_ok()) return st;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("hash") || !j["hash"].is_string()) {
    return internal_error(std::string(path) + " upload: the server's answer carries no hash: " +
                          r->body.substr(0, 200));
  }
  return j["hash"].get<std::string>();
}

Result<std::string> download_from(RestClient& rest, const char* path, const std::string& hash) {
  // A hash is "sha256:<hex>": nothing in it needs escaping, and anything
  // else is the server's to refuse (400) — but never a path of our making.
  for (char c : hash) {
    if (c == '/' || c == '?' || c == '#' || c == '%' || static_cast<unsigned char>(c) <= ' ') {
      return bad_request("invalid code hash \"" + hash + "\"");
    }
  }
  if (hash.empty()) return bad_request("invalid code hash \"\"");
  auto r = rest.request("GET", std::string(path) + "/" + hash, "", "application/json",
                        "application/octet-stream");
  if (!r) return r.status();
  if (Status st = check_response(*r); !st.is_ok()) return st;
  return std::move(r->body);
}

}  // namespace

Result<std::string> upload_code(RestClient& rest, const std::string& bytes) {
  return upload_to(rest, kCodePath, bytes);
}
Result<std::string> download_code(RestClient& rest, const std::string& hash) {
  return download_from(rest, kCodePath, hash);
}
Result<std::string> upload_blob(RestClient& rest, const std::string& bytes) {
  return upload_to(rest, kBlobPath, bytes);
}
Result<std::string> download_blob(RestClient& rest, const std::string& hash) {
  return download_from(rest, kBlobPath, hash);
}

}  // namespace minik8s::client
