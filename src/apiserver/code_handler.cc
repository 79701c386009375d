// RestHandler: the content-addressed stores' endpoints, one handler for the
// code store (docs/serverless.md "The code store") and the blob store
// (docs/gpu.md "Blob store"); the store itself is
// minik8s/apiserver/code_store.h.
#include <spdlog/spdlog.h>

#include "handler.h"

namespace minik8s::apiserver {

namespace {

const StoreSpec* const kStoreSpecs[] = {&kCodeStoreSpec, &kBlobStoreSpec};

bool under(std::string_view path, std::string_view base) {
  if (path.substr(0, base.size()) != base) return false;
  return path.size() == base.size() || path[base.size()] == '/';
}

// The collection itself (with or without a trailing '/').
bool is_collection(std::string_view path, std::string_view base) {
  return path == base ||
         (path.size() == base.size() + 1 && under(path, base) && path.back() == '/');
}

}  // namespace

const StoreSpec* RestHandler::store_spec_for(std::string_view path) {
  for (const StoreSpec* s : kStoreSpecs) {
    if (under(path, s->api_path)) return s;
  }
  return nullptr;
}

const CodeStore* RestHandler::store_for(const StoreSpec& spec) const {
  if (&spec == &kCodeStoreSpec) return code_.get();
  if (&spec == &kBlobStoreSpec) return blob_.get();
  return nullptr;
}

size_t RestHandler::upload_limit(std::string_view method, std::string_view path) const {
  if (method != "POST") return 0;
  const StoreSpec* spec = store_spec_for(path);
  if (!spec || !store_for(*spec) || !is_collection(path, spec->api_path)) return 0;
  return spec->max_bytes;
}

size_t RestHandler::max_upload_bytes() const {
  size_t m = 0;
  for (const StoreSpec* s : kStoreSpecs) {
    if (store_for(*s)) m = std::max(m, s->max_bytes);
  }
  return m;
}

std::string RestHandler::upload_too_large_message(std::string_view path,
                                                  std::optional<uint64_t> n) const {
  const StoreSpec* spec = store_spec_for(path);
  if (!spec) return "the upload is too large";
  return n ? too_large_message(*spec, *n) : too_large_message(*spec);
}

HttpResponse RestHandler::handle_store(const StoreSpec& spec, const HttpRequest& req,
                                       std::string* verb) {
  const CodeStore* store = store_for(spec);
  if (!store) return not_served_response();
  const std::string base = spec.api_path;
  std::string rest = req.path.size() > base.size() ? req.path.substr(base.size() + 1) : "";
  if (rest.empty()) {  // the collection: uploads only
    if (req.method != "POST") return method_not_allowed_response();
    *verb = "create";
    if (req.body.size() > spec.max_bytes) {
      return error_response(Status(Code::kTooLarge, too_large_message(spec, req.body.size())));
    }
    auto put = store->put(req.body);
    if (!put) {
      spdlog::error("apiserver: {} upload failed: {}", spec.noun, put.status().message());
      return error_response(put.status());
    }
    HttpResponse r;
    r.code = put->created ? 201 : 200;
    r.body = json{{"hash", put->hash}, {"size", put->size}}.dump();
    return r;
  }
  if (req.method != "GET") return method_not_allowed_response();
  *verb = "get";
  auto data = store->get(rest);  // kInvalid-style 400 for a malformed hash, 404 when absent
  if (!data) {
    if (data.status().code() == Code::kInternal) {
      spdlog::error("apiserver: {} download failed: {}", spec.noun, data.status().message());
    }
    return error_response(data.status());
  }
  HttpResponse r;
  r.content_type = "application/octet-stream";
  r.body = std::move(*data);
  return r;
}

}  // namespace minik8s::apiserver
