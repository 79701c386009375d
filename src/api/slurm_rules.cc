// The grammars of the GPUJob and SlurmCluster fields that reach sbatch, a
// batch script, a slurm.conf or a path (minik8s/api/slurm_rules.h).
#include "minik8s/api/slurm_rules.h"

#include <string_view>

namespace minik8s::api {
namespace {

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}
bool digit(char c) { return c >= '0' && c <= '9'; }

// Options the submitter sets itself or that would break following the job
// (docs/gpu.md "GPUJob" sbatchArgs). getopt_long takes unambiguous
// abbreviations ("--out=x" is --output), so an option that is a prefix of
// one of these is refused too.
const char* const kForbiddenSbatchOptions[] = {
    "--chdir",     "--workdir",  "--wrap",  "--output",  "--error",
    "--parsable",  "--job-name", "--uid",   "--gid",     "--wait",
    "--test-only", "--help",     "--usage", "--version", "--array",
};

}  // namespace

// [A-Za-z0-9._-]{1,max}: Slurm partition, account and QOS names.
std::string slurm_token_error(const std::string& s, size_t max) {
  if (s.empty()) return "must not be empty";
  if (s.size() > max) return "must be no more than " + std::to_string(max) + " characters";
  for (char c : s) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-')
      return "may contain only letters, digits, '.', '_' and '-'";
  }
  return "";
}

// A plain file name in the job directory: [A-Za-z0-9._-]{1,100}, no '/',
// not starting with '.' (nor "." / ".." / the .minik8s directory) or '-'.
// With slurm_patterns, Slurm's %j %x %u %N %A %a may appear too.
std::string slurm_file_name_error(const std::string& s, bool slurm_patterns) {
  if (s.empty()) return "must not be empty";
  if (s.size() > kMaxSlurmFileNameLength) return "must be no more than 100 characters";
  if (s[0] == '.' || s[0] == '-') return "must not start with '.' or '-'";
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (alnum(c) || c == '.' || c == '_' || c == '-') continue;
    if (slurm_patterns && c == '%') {
      char n = i + 1 < s.size() ? s[i + 1] : '\0';
      if (n == 'j' || n == 'x' || n == 'u' || n == 'N' || n == 'A' || n == 'a') {
        ++i;
        continue;
      }
      return "'%' may only start one of Slurm's %j, %x, %u, %N, %A and %a";
    }
    return slurm_patterns
               ? "must be a plain file name of letters, digits, '.', '_', '-' and Slurm's %j %x %u "
                 "%N %A "
                 "%a (no '/')"
               : "must be a plain file name of letters, digits, '.', '_' and '-' (no '/')";
  }
  return "";
}

// [0-9]+[KMGT]?: sbatch --mem (megabytes without a suffix).
std::string slurm_mem_error(const std::string& s) {
  if (s.empty() || s.size() > 20)
    return "must be a number with an optional K, M, G or T suffix (e.g. 4G)";
  size_t n = s.size();
  if (!digit(s.back())) {
    char u = s.back();
    if (u != 'K' && u != 'M' && u != 'G' && u != 'T')
      return "must be a number with an optional K, M, G or T suffix (e.g. 4G)";
    --n;
  }
  if (n == 0) return "must be a number with an optional K, M, G or T suffix (e.g. 4G)";
  for (size_t i = 0; i < n; ++i) {
    if (!digit(s[i])) return "must be a number with an optional K, M, G or T suffix (e.g. 4G)";
  }
  return "";
}

// sbatch --time: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS.
std::string slurm_time_error(const std::string& s) {
  const char* why =
      "must be one of Slurm's time forms: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS";
  if (s.empty() || s.size() > 32) return why;
  auto numbers = [](std::string_view part, size_t* count) {
    *count = 0;
    size_t start = 0;
    while (true) {
      size_t colon = part.find(':', start);
      std::string_view n = part.substr(
          start, colon == std::string_view::npos ? std::string_view::npos : colon - start);
      if (n.empty() || n.size() > 8) return false;
      for (char c : n) {
        if (!(c >= '0' && c <= '9')) return false;
      }
      ++*count;
      if (colon == std::string_view::npos) return true;
      start = colon + 1;
    }
  };
  std::string_view sv = s;
  size_t dash = sv.find('-');
  size_t count = 0;
  if (dash == std::string_view::npos) {
    if (!numbers(sv, &count) || count > 3) return why;
    return "";
  }
  std::string_view days = sv.substr(0, dash), rest = sv.substr(dash + 1);
  size_t dcount = 0;
  if (!numbers(days, &dcount) || dcount != 1) return why;
  if (!numbers(rest, &count) || count > 3) return why;
  return "";
}

// "--long-option" or "--long-option=value" of [-A-Za-z0-9_.:,=/%+@]; the
// option name is lower-case letters, digits and '-'; none of the forbidden
// options or their abbreviations.
std::string sbatch_arg_error(const std::string& s) {
  if (s.size() > kMaxSbatchArgLength) return "must be no more than 256 characters";
  if (s.size() < 3 || s.compare(0, 2, "--") != 0 || !alnum(s[2])) {
    return "must be one long option, \"--option\" or \"--option=value\"";
  }
  for (char c : s) {
    bool ok = alnum(c);
    for (char x : std::string("-_.:,=/%+@")) ok = ok || c == x;
    if (!ok) return "may contain only letters, digits and any of -_.:,=/%+@";
  }
  std::string name = s.substr(0, s.find('='));
  for (size_t i = 2; i < name.size(); ++i) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || digit(c) || c == '-')) {
      return "the option name may contain only lower-case letters, digits and '-'";
    }
  }
  for (const char* f : kForbiddenSbatchOptions) {
    if (std::string_view(f).starts_with(name)) {
      return std::string("may not be ") + f + (name == f ? "" : " (or an abbreviation of it)") +
             ": the submitter sets it, or it would stop the job being followed";
    }
  }
  return "";
}

// An absolute, normalized path of [A-Za-z0-9._/+@-]: no "//", no "." or ".."
// component, no trailing '/', not "/" itself.
std::string slurm_work_dir_error(const std::string& s, size_t max) {
  if (s.empty()) return "must not be empty";
  if (s.size() > max) return "must be no more than " + std::to_string(max) + " characters";
  if (s[0] != '/') return "must be an absolute path";
  if (s == "/") return "must not be the root directory";
  for (char c : s) {
    if (!alnum(c) && c != '.' && c != '_' && c != '/' && c != '-' && c != '+' && c != '@') {
      return "may contain only letters, digits, '/' and any of ._-+@";
    }
  }
  if (s.back() == '/') return "must not end with '/'";
  size_t start = 1;
  while (start <= s.size()) {
    size_t slash = s.find('/', start);
    std::string part =
        s.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part.empty()) return "must be normalized (no \"//\")";
    if (part == "." || part == "..") return "must be normalized (no \".\" or \"..\" component)";
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return "";
}

}  // namespace minik8s::api
