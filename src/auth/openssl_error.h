// Private to mk_auth: OpenSSL's error queue as text.
#pragma once

#include <string>

namespace minik8s::auth {

// what + ": " + the oldest queued OpenSSL error (if any); clears the queue.
std::string ssl_error(const std::string& what);

}  // namespace minik8s::auth
