// Uploading and downloading function code through the API server's code
// store (docs/serverless.md "The code store"), for mkctl and the function
// controller; and GPU job sources and results through its blob store
// (docs/gpu.md "Blob store"), for mkctl gpujob and the submitter.
//
// upload_code sends the bytes to POST /apis/serverless.minik8s.io/v1/code
// and returns the content address ("sha256:<64 hex>") the server stored them
// under (the same for the same bytes; uploading twice is harmless).
// download_code returns the bytes of GET .../code/<hash>.
// upload_blob / download_blob: the same with POST /apis/minik8s.io/v1/blobs
// and GET .../blobs/<hash> (uploads up to 64 MiB).
// Errors: the server's answer as a Status (kTooLarge for an upload over
// 8 MiB (64 MiB for blobs), with the limit in the message; kNotFound for an unknown hash, also
// when the server has no code store; kBadRequest for a malformed hash), a
// transport failure as RestClient reports it, kInternal for an upload answer
// without a hash.
// Thread safety: as the RestClient (safe from any thread).
#pragma once

#include <string>

#include "minik8s/client/rest_client.h"
#include "minik8s/util/status.h"

namespace minik8s::client {

Result<std::string> upload_code(RestClient& rest, const std::string& bytes);
Result<std::string> download_code(RestClient& rest, const std::string& hash);
Result<std::string> upload_blob(RestClient& rest, const std::string& bytes);
Result<std::string> download_blob(RestClient& rest, const std::string& hash);

}  // namespace minik8s::client
