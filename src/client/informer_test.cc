#include "minik8s/client/informer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <nlohmann/json.hpp>
#include <thread>

#include "test/fakes/eventually.h"
#include "test/fakes/fake_rest_client.h"

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;
using api::Json;

api::ResourceType pod_type() {
  api::ResourceType t;
  t.version = "v1";
  t.kind = "Pod";
  t.plural = "pods";
  t.singular = "pod";
  t.namespaced = true;
  return t;
}

Json pod(const std::string& ns, const std::string& name, const std::string& node = "") {
  Json p = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", name}}}}}};
  if (!node.empty()) p["spec"]["nodeName"] = node;
  return p;
}

InformerOptions fast_backoff() {
  InformerOptions o;
  o.min_backoff = 1ms;
  return o;
}

using minik8s::testing::eventually;

struct Recorder {
  std::mutex mu;
  std::vector<std::string> events;
  EventHandlers handlers() {
    return {
        [this](const ObjectPtr& o) { push("add " + object_key(*o)); },
        [this](const ObjectPtr& a, const ObjectPtr& b) {
          push("update " + object_key(*b) + (a == b ? " (resync)" : ""));
        },
        [this](const ObjectPtr& o) { push("delete " + object_key(*o)); },
    };
  }
  void push(std::string s) {
    std::lock_guard lock(mu);
    events.push_back(std::move(s));
  }
  bool has(const std::string& s) {
    std::lock_guard lock(mu);
    return std::find(events.begin(), events.end(), s) != events.end();
  }
  size_t count(const std::string& s) {
    std::lock_guard lock(mu);
    return std::count(events.begin(), events.end(), s);
  }
};

TEST(Client, CrudAgainstFakeMapsErrors) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto t = pod_type();
  auto created = c.create(t, pod("default", "a"));
  ASSERT_TRUE(created) << created.status().to_string();
  EXPECT_EQ((*created)["metadata"]["resourceVersion"], "101");
  auto dup = c.create(t, pod("default", "a"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.status().code(), Code::kAlreadyExists);
  EXPECT_EQ(dup.status().message(), "pods \"a\" already exists");
  auto missing = c.get(t, "default", "zz");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);

  Json stale = *created;
  stale["spec"]["x"] = 1;
  ASSERT_TRUE(c.update(t, stale));
  auto conflict = c.update(t, stale);  // same (now stale) resourceVersion
  EXPECT_EQ(conflict.status().code(), Code::kConflict);

  auto patched = c.patch(t, "default", "a", PatchType::kMerge, Json{{"spec", {{"y", 2}}}});
  ASSERT_TRUE(patched);
  EXPECT_EQ((*patched)["spec"]["y"], 2);
  EXPECT_EQ((*patched)["spec"]["x"], 1);

  auto listed = c.list(t, "default", [] { ListOptions o; o.label_selector = "app=a"; return o; }());
  ASSERT_TRUE(listed);
  EXPECT_EQ((*listed)["items"].size(), 1u);
  ASSERT_TRUE(c.remove(t, "default", "a"));
  EXPECT_EQ(c.get(t, "default", "a").status().code(), Code::kNotFound);

  auto reqs = fake.requests();
  EXPECT_EQ(reqs.back().path, "/api/v1/namespaces/default/pods/a");
  auto patch_req = std::find_if(reqs.begin(), reqs.end(), [](auto& r) { return r.method == "PATCH"; });
  ASSERT_NE(patch_req, reqs.end());
  EXPECT_EQ(patch_req->content_type, "application/merge-patch+json");
}

TEST(Client, PathsAndQueries) {
  auto t = pod_type();
  EXPECT_EQ(Client::path(t, "ns1", "p", "status"), "/api/v1/namespaces/ns1/pods/p/status");
  EXPECT_EQ(Client::path(t, ""), "/api/v1/pods");
  api::ResourceType d;
  d.group = "apps";
  d.version = "v1";
  d.plural = "deployments";
  EXPECT_EQ(Client::path(d, "x", "web", "scale"), "/apis/apps/v1/namespaces/x/deployments/web/scale");
  api::ResourceType n;
  n.version = "v1";
  n.plural = "nodes";
  n.namespaced = false;
  EXPECT_EQ(Client::path(n, "ignored", "n1"), "/api/v1/nodes/n1");
  EXPECT_EQ(Client::query([] { ListOptions o; o.label_selector = "a=b,c!=d"; o.resource_version = "5"; return o; }(), true),
            "?watch=true&labelSelector=a%3Db%2Cc%21%3Dd&resourceVersion=5");
}

TEST(Informer, ListsThenWatchesAddsUpdatesDeletes) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto t = pod_type();
  ASSERT_TRUE(c.create(t, pod("default", "a", "n1")));
  Informer inf(c, t);
  Recorder rec;
  inf.add_event_handlers(rec.handlers());
  inf.add_index("node", [](const Json& o) {
    std::vector<std::string> v;
    if (o.contains("spec") && o["spec"].contains("nodeName")) v.push_back(o["spec"]["nodeName"]);
    return v;
  });
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  EXPECT_TRUE(rec.has("add default/a"));
  ASSERT_TRUE(c.create(t, pod("default", "b", "n1")));
  ASSERT_TRUE(eventually([&] { return rec.has("add default/b"); }));
  ASSERT_TRUE(c.patch(t, "default", "a", PatchType::kMerge, Json{{"spec", {{"nodeName", "n2"}}}}));
  ASSERT_TRUE(eventually([&] { return rec.has("update default/a"); }));
  EXPECT_EQ(inf.indexer().by_index("node", "n1").size(), 1u);
  EXPECT_EQ(inf.indexer().by_index("node", "n2").size(), 1u);
  ASSERT_TRUE(c.remove(t, "default", "b"));
  ASSERT_TRUE(eventually([&] { return rec.has("delete default/b"); }));
  EXPECT_EQ(inf.indexer().size(), 1u);
  EXPECT_EQ(inf.indexer().get("default", "a")->at("spec").at("nodeName"), "n2");
  EXPECT_TRUE(inf.indexer().by_index("node", "n1").empty());
  auto sel = api::LabelSelector::parse("app=a");
  ASSERT_TRUE(sel);
  EXPECT_EQ(inf.indexer().list("default", *sel).size(), 1u);
  EXPECT_EQ(inf.indexer().list("other").size(), 0u);
  EXPECT_EQ(inf.list_count(), 1);
  inf.stop();
}

TEST(Informer, RewatchesFromLastVersionWhenWatchEnds) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto t = pod_type();
  Informer inf(c, t);
  Recorder rec;
  inf.add_event_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  ASSERT_TRUE(c.create(t, pod("default", "a")));
  ASSERT_TRUE(eventually([&] { return rec.has("add default/a"); }));
  size_t watches = fake.count("WATCH");
  fake.end_watches();
  ASSERT_TRUE(c.create(t, pod("default", "b")));
  ASSERT_TRUE(eventually([&] { return rec.has("add default/b"); }));
  EXPECT_GT(fake.count("WATCH"), watches);
  EXPECT_EQ(rec.count("add default/a"), 1u) << "no duplicate delivery after re-watch";
  EXPECT_EQ(inf.list_count(), 1);
  std::vector<std::string> watch_paths;
  for (auto& r : fake.requests()) {
    if (r.method == "WATCH") watch_paths.push_back(r.path);
  }
  ASSERT_GE(watch_paths.size(), 2u);
  // The re-watch resumes after the last event seen (pod a, rv 101).
  EXPECT_NE(watch_paths[1].find("resourceVersion=101"), std::string::npos) << watch_paths[1];
}

TEST(Informer, RelistsOnExpiredAndDeliversDifference) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto t = pod_type();
  ASSERT_TRUE(c.create(t, pod("default", "keep")));
  ASSERT_TRUE(c.create(t, pod("default", "gone")));
  Informer inf(c, t, fast_backoff());
  Recorder rec;
  inf.add_event_handlers(rec.handlers());
  // Stop delivering events (simulate the informer falling behind) by compacting
  // while changes happen: the watch sees 410 and must re-list.
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  fake.end_watches();  // the informer re-watches from rv 102
  ASSERT_TRUE(c.remove(t, "default", "gone"));
  ASSERT_TRUE(c.patch(t, "default", "keep", PatchType::kMerge, Json{{"spec", {{"v", 1}}}}));
  ASSERT_TRUE(c.create(t, pod("default", "new")));
  fake.compact();
  ASSERT_TRUE(eventually([&] { return inf.indexer().size() == 2 && inf.indexer().get("default/new"); }));
  EXPECT_TRUE(eventually([&] { return rec.has("delete default/gone") && rec.has("add default/new") && rec.has("update default/keep"); }));
  EXPECT_FALSE(inf.indexer().get("default/gone"));
}

TEST(Informer, PeriodicResyncRedeliversUpdates) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto t = pod_type();
  ASSERT_TRUE(c.create(t, pod("default", "a")));
  Informer inf(c, t, [] { InformerOptions o; o.resync = 20ms; return o; }());
  Recorder rec;
  inf.add_event_handlers(rec.handlers());
  inf.start();
  EXPECT_TRUE(eventually([&] { return rec.count("update default/a (resync)") >= 2; }));
}

TEST(Informer, ResyncRequestedAfterStartTakesEffect) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto t = pod_type();
  ASSERT_TRUE(c.create(t, pod("default", "a")));
  Informer inf(c, t, [] { InformerOptions o; o.resync = std::chrono::hours(1); return o; }());
  Recorder rec;
  inf.add_event_handlers(rec.handlers());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  inf.request_resync(20ms);  // a consumer that came later (SharedInformerFactory)
  EXPECT_TRUE(eventually([&] { return rec.count("update default/a (resync)") >= 2; }));
}

TEST(Informer, RetriesListAfterTransportFailure) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto t = pod_type();
  ASSERT_TRUE(c.create(t, pod("default", "a")));
  fake.fail_next(2, Status(Code::kUnavailable, "connection refused"));
  Informer inf(c, t, fast_backoff());
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(5s));
  EXPECT_EQ(inf.list_count(), 3);
  EXPECT_EQ(inf.indexer().size(), 1u);
}

// Watch streams whose next() ignores its timeout: it returns only with a
// line, at the stream's end, or once close() is called — or once release()
// lets timeouts through again, so that a test that failed can still finish.
class NeverTimingOutWatches : public RestClient {
 public:
  explicit NeverTimingOutWatches(RestClient& inner) : inner_(inner) {}
  Result<HttpResponse> request(const std::string& method, const std::string& path, const std::string& body,
                               const std::string& content_type, const std::string& accept) override {
    return inner_.request(method, path, body, content_type, accept);
  }
  Result<std::unique_ptr<LineStream>> watch(const std::string& path, const std::string& accept) override {
    auto s = inner_.watch(path, accept);
    if (!s) return s;
    return std::unique_ptr<LineStream>(new Stream(std::move(s.value()), *this));
  }
  // True once some caller is blocked in next().
  bool someone_waiting() const { return waiting_.load() > 0; }
  int closes() const { return closes_.load(); }
  void release() { released_ = true; }

 private:
  class Stream : public LineStream {
   public:
    Stream(std::unique_ptr<LineStream> in, NeverTimingOutWatches& owner) : in_(std::move(in)), owner_(owner) {}
    std::optional<std::string> next(std::chrono::milliseconds timeout) override {
      owner_.waiting_++;
      std::optional<std::string> line;
      while (true) {
        line = in_->next(std::min(timeout, std::chrono::milliseconds(10)));
        if (line || in_->ended() || owner_.released_) break;
      }
      owner_.waiting_--;
      return line;
    }
    bool ended() const override { return in_->ended(); }
    Status status() const override { return in_->status(); }
    void close() override {
      owner_.closes_++;
      in_->close();
    }

   private:
    std::unique_ptr<LineStream> in_;
    NeverTimingOutWatches& owner_;
  };
  RestClient& inner_;
  std::atomic<int> waiting_{0}, closes_{0};
  std::atomic<bool> released_{false};
};

// stop() must interrupt the watch it is blocked in (by closing it) rather
// than wait for the watch's poll timeout: here that timeout never comes, so
// a stop() that waits for it does not return until the test gives up.
TEST(Informer, StopIsPromptWhileWatching) {
  testing::FakeRestClient fake;
  NeverTimingOutWatches watches(fake);
  Client c(watches);
  auto t = pod_type();
  Informer inf(c, t);
  inf.start();
  ASSERT_TRUE(inf.wait_for_sync(30s));
  ASSERT_TRUE(eventually([&] { return watches.someone_waiting(); }, 30s));
  auto stopped = std::async(std::launch::async, [&] { inf.stop(); });
  bool returned = stopped.wait_for(30s) == std::future_status::ready;
  if (!returned) watches.release();  // lets the stuck stop() finish, so that the test can fail
  EXPECT_TRUE(returned) << "stop() did not close the watch it was waiting in";
  EXPECT_GE(watches.closes(), 1);
}

}  // namespace
}  // namespace minik8s::client
