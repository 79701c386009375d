#include "openssl_error.h"

#include <openssl/err.h>

namespace minik8s::auth {

std::string ssl_error(const std::string& what) {
  std::string out = what;
  unsigned long e = ERR_get_error();
  if (e != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += ": ";
    out += buf;
  }
  ERR_clear_error();
  return out;
}

}  // namespace minik8s::auth
