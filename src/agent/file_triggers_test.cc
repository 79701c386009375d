// FileTriggerWatcher against a real in-process ApiServer, a fake gateway (a
// FakeRuntime as the Function's status.url) and a temp directory with a
// unique prefix: create / modify / move / delete of files, the pattern,
// includeContent (text, binary, too large), other nodes' triggers, suspend
// and deletion.
#include "file_triggers.h"

#include <gtest/gtest.h>

#include <fstream>

#include "../serverless/controller_test_support.h"
#include "minik8s/serverless/triggers.h"
#include "minik8s/util/base64.h"
#include "test/fakes/eventually.h"
#include "test/fakes/temp_dir.h"

namespace minik8s::agent {
namespace {

using api::Json;
using namespace std::chrono_literals;
using minik8s::testing::eventually;
using serverless::kApiVersion;
using serverless::testing_support::FakeRuntime;
using serverless::testing_support::ServerlessFixture;

constexpr const char* kNs = "default";
constexpr const char* kNode = "node-a";

TEST(GatewayUrlForNodeTest, LoopbackGatewayTakesTheApiServersHost) {
  EXPECT_EQ(gateway_url_for_node("http://127.0.0.1:31080/functions/d/f", "https://10.0.0.5:6443"),
            "http://10.0.0.5:31080/functions/d/f");
  EXPECT_EQ(gateway_url_for_node("http://localhost:31080/f", "http://api.example:6443/"), "http://api.example:31080/f");
  EXPECT_EQ(gateway_url_for_node("http://[::1]:31080/f", "https://[fd00::5]:6443"), "http://[fd00::5]:31080/f");
  // Not loopback, or the API server is loopback too: unchanged.
  EXPECT_EQ(gateway_url_for_node("http://10.0.0.9:31080/f", "https://10.0.0.5:6443"), "http://10.0.0.9:31080/f");
  EXPECT_EQ(gateway_url_for_node("http://127.0.0.1:31080/f", "http://127.0.0.1:6443"), "http://127.0.0.1:31080/f");
  EXPECT_EQ(gateway_url_for_node("garbage", "https://10.0.0.5:6443"), "garbage");
}

class FileTriggersTest : public ServerlessFixture {
 protected:
  void SetUp() override {
    ServerlessFixture::SetUp();
    ASSERT_FALSE(tmp_.path().empty());
    drop_ = tmp_.path() + "/drop/in";  // does not exist yet: the watcher creates it
    ASSERT_NO_FATAL_FAILURE(create_function(function(kNs, "hello", "def handler(e, c):\n    return e\n")));
    auto r = client_->patch(functions(), kNs, "hello", client::PatchType::kMerge,
                            {{"status", {{"url", "http://127.0.0.1:" + std::to_string(gw_.port()) +
                                                     "/functions/default/hello"}}}},
                            "status");
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
    FileTriggerOptions o;
    o.node_name = kNode;
    watcher_ = std::make_unique<FileTriggerWatcher>(*client_, o);
    Status st = watcher_->start();
    ASSERT_TRUE(st.is_ok()) << st.to_string();
  }
  void TearDown() override {
    if (watcher_) watcher_->stop();
    watcher_.reset();
    ServerlessFixture::TearDown();
  }

  const api::ResourceType& triggers() { return kind(kApiVersion, "Trigger"); }
  void create_trigger(const std::string& name, const Json& file_change) {
    Json t = {{"apiVersion", kApiVersion},
              {"kind", "Trigger"},
              {"metadata", {{"name", name}, {"namespace", kNs}}},
              {"spec", {{"target", {{"function", "hello"}}}, {"input", {{"from", name}}}, {"fileChange", file_change}}}};
    auto r = client_->create(triggers(), t, kNs);
    ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  }
  bool watching(const std::string& name) { return watcher_->watching(std::string(kNs) + "/" + name); }
  void write(const std::string& name, const std::string& data) {
    std::ofstream f(drop_ + "/" + name, std::ios::binary | std::ios::trunc);
    f << data;
  }
  std::vector<Json> bodies() {
    std::vector<Json> out;
    for (const auto& [t, b] : gw_.requests()) out.push_back(Json::parse(b, nullptr, false));
    return out;
  }
  // Waits for the n-th request and returns its body.
  Json nth(size_t n) {
    if (!eventually([&] { return gw_.requests().size() >= n; }, 10s)) return Json();
    return bodies()[n - 1];
  }

  FakeRuntime gw_{[](const std::string&, const std::string&) { return std::pair<int, std::string>{200, "{}"}; }};
  minik8s::testing::TempDir tmp_{"ftrig"};
  std::string drop_;
  std::unique_ptr<FileTriggerWatcher> watcher_;
};

TEST_F(FileTriggersTest, CreatedModifiedMovedDeletedWithPatternAndContent) {
  ASSERT_NO_FATAL_FAILURE(create_trigger(
      "files", {{"node", kNode}, {"path", drop_}, {"pattern", "*.txt"}, {"includeContent", true}}));
  ASSERT_NO_FATAL_FAILURE(create_trigger("elsewhere", {{"node", "node-b"}, {"path", drop_ + "-b"}}));
  ASSERT_TRUE(eventually([&] { return watching("files"); }, 10s));
  EXPECT_TRUE(std::filesystem::is_directory(drop_));
  EXPECT_FALSE(watching("elsewhere"));
  EXPECT_FALSE(std::filesystem::exists(drop_ + "-b"));
  EXPECT_EQ(watcher_->watched_directories(), std::vector<std::string>{drop_});

  write("a.txt", "hello");
  Json b = nth(1);
  EXPECT_EQ(b["type"], "fileChange");
  EXPECT_EQ(b["event"], "created");
  EXPECT_EQ(b["path"], drop_ + "/a.txt");
  EXPECT_EQ(b["name"], "a.txt");
  EXPECT_EQ(b["size"], 5);
  EXPECT_EQ(b["node"], kNode);
  EXPECT_EQ(b["content"], "hello");
  EXPECT_EQ(b["encoding"], "utf-8");
  EXPECT_EQ(b["from"], "files");  // spec.input under the event
  EXPECT_FALSE(b.value("time", "").empty());

  write("a.txt", "hello again");
  b = nth(2);
  EXPECT_EQ(b["event"], "modified");
  EXPECT_EQ(b["size"], 11);

  write("skip.png", "not mine");  // the pattern says no
  std::filesystem::rename(drop_ + "/a.txt", drop_ + "/c.txt");
  // MOVED_FROM a.txt, then MOVED_TO c.txt: deleted and created (firing threads may swap them).
  ASSERT_TRUE(eventually([&] { return gw_.requests().size() >= 4; }, 10s));
  std::set<std::pair<std::string, std::string>> moved;
  for (size_t i = 2; i < 4; ++i)
    moved.emplace(bodies()[i]["event"].get<std::string>(), bodies()[i]["name"].get<std::string>());
  EXPECT_EQ(moved, (std::set<std::pair<std::string, std::string>>{{"deleted", "a.txt"}, {"created", "c.txt"}}));

  std::filesystem::remove(drop_ + "/c.txt");
  b = nth(5);
  EXPECT_EQ(b["event"], "deleted");
  EXPECT_EQ(b["name"], "c.txt");
  EXPECT_FALSE(b.contains("content"));

  write("bin.txt", std::string("\xff\x00\x01", 3));
  b = nth(6);
  EXPECT_EQ(b["encoding"], "base64");
  EXPECT_EQ(b["content"], base64_encode(std::string("\xff\x00\x01", 3)));

  write("big.txt", std::string(serverless::kMaxTriggerFileContent + 1, 'x'));
  b = nth(7);
  EXPECT_EQ(b["event"], "created");
  EXPECT_FALSE(b.contains("content"));
  EXPECT_EQ(b["contentSkipped"], "larger than 1 MiB");

  // Nothing for skip.png arrived.
  EXPECT_FALSE(eventually([&] { return gw_.requests().size() > 7; }, 300ms));
  for (const Json& body : bodies()) EXPECT_NE(body["name"], "skip.png");

  // Recorded on the trigger.
  ASSERT_TRUE(eventually(
      [&] {
        auto t = client_->get(triggers(), kNs, "files");
        return t && (*t)["status"].value("firings", 0) == 7;
      },
      10s));
}

TEST_F(FileTriggersTest, EventsFilterSuspendAndDeletion) {
  ASSERT_NO_FATAL_FAILURE(create_trigger("deletes", {{"node", kNode}, {"path", drop_}, {"events", {"deleted"}}}));
  ASSERT_NO_FATAL_FAILURE(create_trigger("ctl", {{"node", kNode}, {"path", drop_}, {"pattern", "*.ctl"}}));
  ASSERT_TRUE(eventually([&] { return watching("deletes") && watching("ctl"); }, 10s));
  EXPECT_EQ(watcher_->watched_directories().size(), 1u);  // one watch, two triggers

  write("x.dat", "1");  // created: "deletes" does not want it; "ctl" pattern says no
  write("m.ctl", "1");  // ctl: created
  Json b = nth(1);
  EXPECT_EQ(b["from"], "ctl");
  EXPECT_EQ(b["name"], "m.ctl");
  std::filesystem::remove(drop_ + "/x.dat");
  b = nth(2);
  EXPECT_EQ(b["from"], "deletes");
  EXPECT_EQ(b["event"], "deleted");
  EXPECT_EQ(b["name"], "x.dat");
  EXPECT_FALSE(b.contains("size"));

  // Suspended: out of the table, nothing fires; the control still does.
  auto r = client_->patch(triggers(), kNs, "deletes", client::PatchType::kMerge, {{"spec", {{"suspend", true}}}});
  ASSERT_TRUE(r.is_ok()) << r.status().to_string();
  ASSERT_TRUE(eventually([&] { return !watching("deletes"); }, 10s));
  std::filesystem::remove(drop_ + "/m.ctl");  // ctl fires (deleted); "deletes" would have
  write("n.ctl", "1");
  ASSERT_TRUE(eventually([&] { return gw_.requests().size() >= 4; }, 10s));
  EXPECT_FALSE(eventually([&] { return gw_.requests().size() > 4; }, 300ms));
  for (const Json& body : bodies()) {
    if (body["from"] == "deletes") {
      EXPECT_EQ(body["name"], "x.dat");
    }
  }

  // Deleted: the last trigger out removes the watch.
  ASSERT_TRUE(client_->remove(triggers(), kNs, "deletes").is_ok());
  ASSERT_TRUE(client_->remove(triggers(), kNs, "ctl").is_ok());
  ASSERT_TRUE(eventually([&] { return watcher_->watched_directories().empty(); }, 10s));
  write("o.ctl", "1");
  EXPECT_FALSE(eventually([&] { return gw_.requests().size() > 4; }, 300ms));
}

TEST_F(FileTriggersTest, ARemovedDirectoryIsWatchedAgain) {
  ASSERT_NO_FATAL_FAILURE(create_trigger("files", {{"node", kNode}, {"path", drop_}}));
  ASSERT_TRUE(eventually([&] { return watching("files"); }, 10s));
  std::filesystem::remove_all(drop_);
  // Re-created (about a second later) and watched again.
  ASSERT_TRUE(eventually([&] { return watching("files") && std::filesystem::is_directory(drop_); }, 10s));
  // The rewatch may race the removal: write until a firing arrives.
  ASSERT_TRUE(minik8s::testing::eventually(
      [&] {
        write("again.txt", "1");
        return !gw_.requests().empty();
      },
      10s, 50ms));
  EXPECT_EQ(bodies()[0]["name"], "again.txt");
}

}  // namespace
}  // namespace minik8s::agent
