#include "process.h"

namespace minik8s::images {
namespace {

std::string tail(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return "..." + s.substr(s.size() - n);
}

}  // namespace

Result<std::string> run_checked(const std::vector<std::string>& argv,
                                const ProcessOptions& options) {
  auto r = run_process(argv, options);
  if (!r) return r.status();
  if (r->exit_code != 0) {
    std::string err = r->err.empty() ? r->out : r->err;
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    return internal_error(describe_command(argv) + " failed (exit " + std::to_string(r->exit_code) +
                          "): " + tail(err, 2000));
  }
  return std::move(r->out);
}

}  // namespace minik8s::images
