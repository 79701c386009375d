// TempDir: a fresh directory under $TMPDIR (mkdtemp, named after the test
// process and a tag) that is removed with everything in it when the object
// goes. For unit tests; not thread-safe to share.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <string>

namespace minik8s::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& tag = "test") {
    std::string t = (std::filesystem::temp_directory_path() /
                     ("minik8s-test-" + std::to_string(::getpid()) + "-" + tag + "-XXXXXX"))
                        .string();
    if (::mkdtemp(t.data())) path_ = t;
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace minik8s::testing
