// Storage conformance suite: the semantics of storage.h, written once as
// tests that every Storage implementation passes: the backends (SqliteStorage,
// src/storage/sqlite_storage_test.cc; EtcdStorage when it comes) and the test
// fakes (MemStorage, test/storage/mem_storage_test.cc). A new backend or fake
// adds one MINIK8S_STORAGE_CONFORMANCE line.
//
// Test-only: the library mk_storage_conformance (test/storage/CMakeLists.txt),
// never linked into a production library. Use from a gtest binary that links
// it:
//
//   #include "test/storage/storage_conformance.h"
//   using minik8s::storage::testing::StorageFactory;
//   MINIK8S_STORAGE_CONFORMANCE(Sqlite, StorageFactory{"sqlite",
//       [](const std::string& dir) { return ...open a fresh store under dir...; }});
//
// The factory gets a fresh empty scratch directory per test (removed after
// the test) and must return a store no one else writes to during the test.
// Tests never assume the revision starts at 0, only that revisions are
// strictly increasing and that the store was empty under the keys they use.
// The factory must disable any background compaction that could compact
// revisions younger than the test (the suite calls compact() itself).
// A factory that cannot make its store for want of a tool (etcd not
// installed) calls GTEST_SKIP() from a helper and returns nullptr: the test
// is then skipped, not failed.
//
// Thread safety: gtest fixtures, single test at a time. The suite itself
// starts threads (racing writers, concurrent watchers) and joins them.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "minik8s/storage/storage.h"

namespace minik8s::storage::testing {

struct StorageFactory {
  std::string name;  // gtest parameter name: letters, digits, underscores
  std::function<std::unique_ptr<Storage>(const std::string& scratch_dir)> make;
};

// gtest prints the parameter by its name (not a byte dump of the struct).
inline void PrintTo(const StorageFactory& f, std::ostream* os) { *os << f.name; }

class StorageConformanceTest : public ::testing::TestWithParam<StorageFactory> {
 protected:
  void SetUp() override;
  void TearDown() override;
  Storage& store() { return *store_; }

  std::string dir_;
  std::unique_ptr<Storage> store_;
};

// Referenced by MINIK8S_STORAGE_CONFORMANCE so that the linker keeps the
// object file holding the TEST_Ps (mk_storage_conformance is a static archive).
int link_storage_conformance();

}  // namespace minik8s::storage::testing

#define MINIK8S_STORAGE_CONFORMANCE(prefix, ...)                                        \
  [[maybe_unused]] static const int minik8s_storage_conformance_linked_##prefix =      \
      ::minik8s::storage::testing::link_storage_conformance();                         \
  using ::minik8s::storage::testing::StorageConformanceTest;                           \
  INSTANTIATE_TEST_SUITE_P(                                                            \
      prefix, StorageConformanceTest, ::testing::Values(__VA_ARGS__),                  \
      [](const ::testing::TestParamInfo<::minik8s::storage::testing::StorageFactory>& \
             info) { return info.param.name; })
