// Code and blob store uploads and downloads (minik8s/client/code.h): one
// implementation over the store's path and its noun for messages.
#include "minik8s/client/code.h"

#include <nlohmann/json.hpp>

namespace minik8s::client {

namespace {

constexpr const char* kCodePath = "/apis/serverless.minik8s.io/v1/code";
constexpr const char* kBlobPath = "/apis/minik8s.io/v1/blobs";

Result<std::string> upload(RestClient& rest, const char* path, const char* noun,
                           const std::string& bytes) {
  auto r = rest.request("POST", path, bytes, "application/octet-stream", "application/json");
  if (!r) return r.status();
  if (Status st = check_response(*r); !st.is_ok()) return st;
  auto j = nlohmann::json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("hash") || !j["hash"].is_string()) {
    return internal_error(std::string(noun) + " upload: the server's answer carries no hash: " +
                          r->body.substr(0, 200));
  }
  return j["hash"].get<std::string>();
}

Result<std::string> download(RestClient& rest, const char* path, const char* noun,
                             const std::string& hash) {
  // A hash is "sha256:<hex>": nothing in it needs escaping, and anything
  // else is the server's to refuse (400) — but never a path of our making.
  for (char c : hash) {
    if (c == '/' || c == '?' || c == '#' || c == '%' || static_cast<unsigned char>(c) <= ' ') {
      return bad_request("invalid " + std::string(noun) + " hash \"" + hash + "\"");
    }
  }
  if (hash.empty()) return bad_request("invalid " + std::string(noun) + " hash \"\"");
  auto r = rest.request("GET", std::string(path) + "/" + hash, "", "application/json",
                        "application/octet-stream");
  if (!r) return r.status();
  if (Status st = check_response(*r); !st.is_ok()) return st;
  return std::move(r->body);
}

}  // namespace

Result<std::string> upload_code(RestClient& rest, const std::string& bytes) {
  return upload(rest, kCodePath, "code", bytes);
}

Result<std::string> download_code(RestClient& rest, const std::string& hash) {
  return download(rest, kCodePath, "code", hash);
}

Result<std::string> upload_blob(RestClient& rest, const std::string& bytes) {
  return upload(rest, kBlobPath, "blob", bytes);
}

Result<std::string> download_blob(RestClient& rest, const std::string& hash) {
  return download(rest, kBlobPath, "blob", hash);
}

}  // namespace minik8s::client
