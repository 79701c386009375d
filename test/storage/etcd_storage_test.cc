// EtcdStorage (src/storage/etcd_storage.h) against a real etcd that each test
// starts itself (EtcdProcess: loopback, free ports, data in the test's temp
// dir, killed by PID). Skipped, saying so, only where no etcd binary is
// installed (scripts/deps.sh installs etcd-server).
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <thread>

#include "src/storage/etcd_storage.h"
#include "test/storage/etcd_process.h"
#include "test/storage/storage_conformance.h"

namespace minik8s::storage {
namespace {

using namespace std::chrono_literals;
using minik8s::testing::EtcdProcess;
using testing::StorageFactory;

constexpr char kNoEtcd[] = "no etcd binary on PATH (scripts/deps.sh installs etcd-server)";

EtcdOptions test_options(const std::string& url) {
  EtcdOptions o;
  o.endpoints = {url};
  o.compaction_interval = 0ms;  // the suite compacts explicitly
  o.request_timeout = 2s;
  return o;
}

// A store that owns its etcd: the store goes first, then etcd is killed.
class EtcdBackedStore final : public Storage {
 public:
  EtcdBackedStore(std::unique_ptr<EtcdProcess> etcd, std::unique_ptr<Storage> store)
      : etcd_(std::move(etcd)), store_(std::move(store)) {}
  ~EtcdBackedStore() override { store_.reset(); }
  Result<int64_t> create(const std::string& k, const std::string& v) override {
    return store_->create(k, v);
  }
  Result<KeyValue> get(const std::string& k) override { return store_->get(k); }
  Result<ListResult> list(const std::string& p, const std::string& s, int64_t l,
                          int64_t r) override {
    return store_->list(p, s, l, r);
  }
  Result<int64_t> update(const std::string& k, const std::string& v, int64_t e) override {
    return store_->update(k, v, e);
  }
  Result<int64_t> remove(const std::string& k, int64_t e) override { return store_->remove(k, e); }
  Result<std::unique_ptr<WatchStream>> watch(const std::string& p, int64_t r) override {
    return store_->watch(p, r);
  }
  Status compact(int64_t r) override { return store_->compact(r); }
  int64_t current_revision() override { return store_->current_revision(); }
  int64_t compacted_revision() override { return store_->compacted_revision(); }

 private:
  std::unique_ptr<EtcdProcess> etcd_;
  std::unique_ptr<Storage> store_;
};

std::unique_ptr<Storage> make_etcd_store(const std::string& dir) {
  if (!EtcdProcess::available()) {
    [] { GTEST_SKIP() << kNoEtcd; }();
    return nullptr;
  }
  std::string error;
  auto etcd = EtcdProcess::start(dir, &error);
  if (!etcd) {
    ADD_FAILURE() << error;
    return nullptr;
  }
  auto store = open_etcd_storage(test_options(etcd->client_url()));
  if (!store) {
    ADD_FAILURE() << store.status().to_string();
    return nullptr;
  }
  return std::make_unique<EtcdBackedStore>(std::move(etcd), std::move(*store));
}

MINIK8S_STORAGE_CONFORMANCE(Etcd, StorageFactory{"etcd", make_etcd_store});

class EtcdStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!EtcdProcess::available()) GTEST_SKIP() << kNoEtcd;
    std::random_device rd;
    dir_ = (std::filesystem::temp_directory_path() /
            ("mk-etcd-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd())))
               .string();
    std::filesystem::create_directories(dir_);
    std::string error;
    etcd_ = EtcdProcess::start(dir_, &error);
    ASSERT_NE(etcd_, nullptr) << error;
  }
  void TearDown() override {
    etcd_.reset();
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
  }
  std::unique_ptr<EtcdStorage> open(EtcdOptions o) {
    auto s = EtcdStorage::open(o);
    EXPECT_TRUE(s.is_ok()) << s.status().to_string();
    return s.is_ok() ? std::move(*s) : nullptr;
  }

  std::string dir_;
  std::unique_ptr<EtcdProcess> etcd_;
};

TEST_F(EtcdStorageTest, DownEtcdIsUnavailableNotAHangThenRecovers) {
  auto o = test_options(etcd_->client_url());
  o.request_timeout = 1s;
  auto store = open(o);
  ASSERT_NE(store, nullptr);
  int64_t r = *store->create("/registry/x", "1");
  auto w = store->watch("/registry/", r);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();

  etcd_->kill();
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(store->get("/registry/x").status().code(), Code::kUnavailable);
  EXPECT_EQ(store->create("/registry/y", "1").status().code(), Code::kUnavailable);
  EXPECT_EQ(store->list("/registry/", "", 0).status().code(), Code::kUnavailable);
  EXPECT_EQ(store->compact(r).code(), Code::kUnavailable);
  EXPECT_EQ(store->watch("/registry/", r).status().code(), Code::kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 9s) << "each call is bounded by the timeout";
  // The open watch ends with kUnavailable (the caller re-lists and re-watches).
  auto ev = (*w)->next(5s);
  EXPECT_FALSE(ev.has_value());
  EXPECT_EQ((*w)->status().code(), Code::kUnavailable) << (*w)->status().to_string();

  std::string error;
  ASSERT_TRUE(etcd_->restart(&error)) << error;
  Result<KeyValue> got = Status(Code::kUnavailable, "not tried");
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (std::chrono::steady_clock::now() < deadline) {
    got = store->get("/registry/x");
    if (got.is_ok()) break;
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_TRUE(got.is_ok()) << "the same store reconnects: " << got.status().to_string();
  EXPECT_EQ(got->value, "1");
  EXPECT_EQ(got->mod_revision, r);
}

TEST_F(EtcdStorageTest, OpenWithNothingListeningIsUnavailable) {
  std::string url = etcd_->client_url();
  etcd_->kill();
  auto o = test_options(url);
  o.dial_timeout = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  auto s = open_etcd_storage(o);
  EXPECT_EQ(s.status().code(), Code::kUnavailable);
  EXPECT_NE(s.status().message().find(url), std::string::npos) << s.status().message();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}

TEST_F(EtcdStorageTest, BadOptionsAreInvalid) {
  for (const char* url :
       {"127.0.0.1:2379", "http://127.0.0.1", "ftp://x:1", "http://:12", "http://h:12x"}) {
    EXPECT_EQ(open_etcd_storage(test_options(url)).status().code(), Code::kInvalid) << url;
  }
  EXPECT_EQ(open_etcd_storage(EtcdOptions{}).status().code(), Code::kInvalid);
  auto o = test_options(etcd_->client_url());
  o.ca_file = dir_ + "/ca.crt";
  EXPECT_EQ(open_etcd_storage(o).status().code(), Code::kInvalid) << "TLS files with http://";
  o = test_options("https://127.0.0.1:1");
  o.ca_file = dir_ + "/missing.crt";
  auto s = open_etcd_storage(o);
  EXPECT_EQ(s.status().code(), Code::kInvalid);
  EXPECT_NE(s.status().message().find("--etcd-cafile"), std::string::npos);
}

TEST_F(EtcdStorageTest, KeyPrefixSeparatesStoresOnOneEtcd) {
  auto oa = test_options(etcd_->client_url());
  oa.key_prefix = "/a";
  auto ob = oa;
  ob.key_prefix = "/b";
  auto a = open(oa);
  auto b = open(ob);
  ASSERT_TRUE(a && b);
  int64_t start = a->current_revision();
  auto wa = a->watch("", start);
  ASSERT_TRUE(wa.is_ok());
  ASSERT_TRUE(a->create("/registry/k", "a").is_ok());
  ASSERT_TRUE(b->create("/registry/k", "b").is_ok());
  EXPECT_EQ(a->get("/registry/k")->value, "a");
  EXPECT_EQ(b->get("/registry/k")->value, "b");
  auto la = a->list("", "", 0);
  ASSERT_TRUE(la.is_ok());
  ASSERT_EQ(la->items.size(), 1u);
  EXPECT_EQ(la->items[0].key, "/registry/k");
  auto ev = (*wa)->next(5s);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kv.key, "/registry/k");
  EXPECT_EQ(ev->kv.value, "a");
  EXPECT_FALSE((*wa)->next(200ms).has_value()) << "b's write is not in a's watch";
}

TEST_F(EtcdStorageTest, CompactionByAnotherClientIsSeenAndPolicyCompacts) {
  auto o = test_options(etcd_->client_url());
  o.compaction_keep_revisions = 3;
  o.compaction_keep_age = 0s;
  auto a = open(o);
  auto b = open(o);
  ASSERT_TRUE(a && b);
  int64_t r = *a->create("/k", "0");
  for (int i = 1; i <= 6; ++i) r = *a->update("/k", std::to_string(i), r);
  ASSERT_TRUE(a->compact(r - 4).is_ok());
  EXPECT_EQ(b->compacted_revision(), r - 4) << "found by probing, not remembered";
  auto target = b->compact_by_policy();
  ASSERT_TRUE(target.is_ok()) << target.status().to_string();
  EXPECT_EQ(*target, r - 3);
  EXPECT_EQ(a->compacted_revision(), r - 3);
  EXPECT_EQ(a->list("/", "", 0, r - 4).status().code(), Code::kGone);
  EXPECT_EQ(a->compact(r + 100).code(), Code::kBadRequest);
}

// A CA, etcd's server certificate (IP SAN 127.0.0.1) and a client
// certificate, made with the openssl CLI in dir.
bool make_certs(const std::string& dir) {
  std::ofstream(dir + "/certs.sh")
      << "set -e\ncd \"$(dirname \"$0\")\"\n"
         "k() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key; }\n"
         "k ca\nopenssl req -x509 -new -key ca.key -subj /CN=test-ca -days 1 -out ca.crt\n"
         "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth\\n' >server.ext\n"
         "printf 'extendedKeyUsage=clientAuth\\n' >client.ext\n"
         "for n in server client; do\n"
         "  k $n\n  openssl req -new -key $n.key -subj /CN=$n -out $n.csr\n"
         "  openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 1 "
         "-extfile $n.ext -out $n.crt\n"
         "done\n";
  return std::system(("bash '" + dir + "/certs.sh' >'" + dir + "/certs.log' 2>&1").c_str()) == 0;
}

TEST(EtcdStorageTlsTest, ClientCertificatesOverHttps) {
  if (!EtcdProcess::available()) GTEST_SKIP() << kNoEtcd;
  if (std::system("command -v openssl >/dev/null 2>&1") != 0) GTEST_SKIP() << "no openssl CLI";
  std::random_device rd;
  std::string dir = (std::filesystem::temp_directory_path() /
                     ("mk-etcd-tls-" + std::to_string(::getpid()) + "-" + std::to_string(rd())))
                        .string();
  std::filesystem::create_directories(dir);
  struct Cleanup {
    std::string d;
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(d, ec);
    }
  } cleanup{dir};
  ASSERT_TRUE(make_certs(dir));
  EtcdProcess::Tls tls{dir + "/server.crt", dir + "/server.key", dir + "/ca.crt"};
  std::string error;
  auto etcd = EtcdProcess::start(dir, &error, &tls);
  ASSERT_NE(etcd, nullptr) << error;
  ASSERT_EQ(etcd->client_url().rfind("https://", 0), 0u);

  auto o = test_options(etcd->client_url());
  o.ca_file = dir + "/ca.crt";
  o.cert_file = dir + "/client.crt";
  o.key_file = dir + "/client.key";
  auto store = open_etcd_storage(o);
  ASSERT_TRUE(store.is_ok()) << store.status().to_string();
  auto r = (*store)->create("/registry/tls", "v");
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  auto w = (*store)->watch("/registry/", *r - 1);
  ASSERT_TRUE(w.is_ok()) << w.status().to_string();
  auto ev = (*w)->next(5s);
  ASSERT_TRUE(ev.has_value());
  EXPECT_EQ(ev->kv.value, "v");

  // Without a client certificate etcd refuses the handshake; with another
  // CA the client refuses etcd's certificate.
  auto no_cert = o;
  no_cert.cert_file.clear();
  no_cert.key_file.clear();
  no_cert.dial_timeout = 1s;
  EXPECT_EQ(open_etcd_storage(no_cert).status().code(), Code::kUnavailable);
  auto wrong_ca = o;
  wrong_ca.ca_file = dir + "/client.crt";
  wrong_ca.dial_timeout = 1s;
  EXPECT_EQ(open_etcd_storage(wrong_ca).status().code(), Code::kUnavailable);
}

}  // namespace
}  // namespace minik8s::storage
