#include "minik8s/client/informer_factory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "test/fakes/eventually.h"
#include "test/fakes/fake_rest_client.h"

namespace minik8s::client {
namespace {

using namespace std::chrono_literals;
using api::Json;

api::ResourceType type_of(const std::string& kind, const std::string& plural) {
  api::ResourceType t;
  t.version = "v1";
  t.kind = kind;
  t.plural = plural;
  t.namespaced = true;
  return t;
}

Json pod(const std::string& name, const std::string& app) {
  return {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}, {"namespace", "default"}, {"labels", {{"app", app}}}}}};
}

using minik8s::testing::eventually;

struct Seen {
  std::mutex mu;
  std::vector<std::string> adds;
  EventHandlers handlers() {
    return {[this](const ObjectPtr& o) {
              std::lock_guard lock(mu);
              adds.push_back(object_key(*o));
            },
            nullptr, nullptr};
  }
  bool saw(const std::string& key) {
    std::lock_guard lock(mu);
    return std::find(adds.begin(), adds.end(), key) != adds.end();
  }
  size_t count() {
    std::lock_guard lock(mu);
    return adds.size();
  }
};

// Requests whose path starts with prefix.
size_t calls(testing::FakeRestClient& fake, const std::string& method, const std::string& prefix) {
  size_t n = 0;
  for (const auto& r : fake.requests()) n += r.method == method && r.path.rfind(prefix, 0) == 0;
  return n;
}

TEST(SharedInformerFactory, TwoConsumersOfOneKindShareOneListAndWatch) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto pods = type_of("Pod", "pods");
  auto nodes = type_of("Node", "nodes");
  ASSERT_TRUE(c.create(pods, pod("a", "web"), "default"));

  SharedInformerFactory factory(c);
  Informer& first = factory.informer(pods);
  Informer& second = factory.informer(pods);
  EXPECT_EQ(&first, &second);
  Informer& node_inf = factory.informer(nodes);
  EXPECT_NE(&node_inf, &first);
  EXPECT_EQ(factory.size(), 2u);

  Seen one, two;
  first.add_event_handlers(one.handlers());
  second.add_event_handlers(two.handlers());
  factory.start();
  factory.start();  // idempotent: no second watch
  ASSERT_TRUE(factory.wait_for_sync(5s));
  EXPECT_TRUE(eventually([&] { return one.saw("default/a") && two.saw("default/a"); }));

  ASSERT_TRUE(c.create(pods, pod("b", "web"), "default"));
  EXPECT_TRUE(eventually([&] { return one.saw("default/b") && two.saw("default/b"); }));
  EXPECT_EQ(first.indexer().size(), 2u);

  EXPECT_EQ(calls(fake, "GET", "/api/v1/pods"), 1u);
  EXPECT_EQ(calls(fake, "WATCH", "/api/v1/pods"), 1u);
  EXPECT_EQ(calls(fake, "GET", "/api/v1/nodes"), 1u);
  EXPECT_EQ(calls(fake, "WATCH", "/api/v1/nodes"), 1u);
  factory.stop();
}

TEST(SharedInformerFactory, SelectorsAndNamespacesAreSeparateInformers) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto pods = type_of("Pod", "pods");
  SharedInformerFactory factory(c);
  InformerOptions web;
  web.label_selector = "app=web";
  InformerOptions ns;
  ns.namespace_ = "default";
  Informer& all = factory.informer(pods);
  Informer& selected = factory.informer(pods, web);
  Informer& in_ns = factory.informer(pods, ns);
  EXPECT_NE(&all, &selected);
  EXPECT_NE(&all, &in_ns);
  EXPECT_EQ(&selected, &factory.informer(pods, web));
  EXPECT_EQ(factory.size(), 3u);
}

TEST(SharedInformerFactory, LateConsumerGetsTheCacheAndARemovedOneNothing) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto pods = type_of("Pod", "pods");
  ASSERT_TRUE(c.create(pods, pod("a", "web"), "default"));
  SharedInformerFactory factory(c);
  Seen early;
  Informer& inf = factory.informer(pods);
  HandlerId early_id = inf.add_event_handlers(early.handlers());
  factory.start();
  ASSERT_TRUE(factory.wait_for_sync(5s));
  ASSERT_TRUE(eventually([&] { return early.saw("default/a"); }));

  // Asked for after the start: same informer, replay of the cache, no new watch.
  Seen late;
  factory.informer(pods).add_event_handlers(late.handlers());
  EXPECT_TRUE(late.saw("default/a"));
  factory.start();

  inf.remove_event_handlers(early_id);
  ASSERT_TRUE(c.create(pods, pod("b", "web"), "default"));
  ASSERT_TRUE(eventually([&] { return late.saw("default/b"); }));
  EXPECT_FALSE(early.saw("default/b"));
  EXPECT_EQ(early.count(), 1u);
  EXPECT_EQ(calls(fake, "WATCH", "/api/v1/pods"), 1u);
}

TEST(SharedInformerFactory, ShortestResyncWinsAlsoAfterStart) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto pods = type_of("Pod", "pods");
  SharedInformerFactory factory(c);
  InformerOptions ten;
  ten.resync = 10min;
  InformerOptions one;
  one.resync = 1min;
  Informer& inf = factory.informer(pods);
  EXPECT_EQ(inf.resync_period(), 0ms);
  factory.informer(pods, ten);
  EXPECT_EQ(inf.resync_period(), 10min);
  factory.informer(pods, one);
  factory.informer(pods, ten);
  factory.informer(pods);
  EXPECT_EQ(inf.resync_period(), 1min);
  factory.start();
  InformerOptions shorter;
  shorter.resync = 1s;
  factory.informer(pods, shorter);  // a consumer that came later
  EXPECT_EQ(inf.resync_period(), 1s);
  factory.informer(pods, one);
  EXPECT_EQ(inf.resync_period(), 1s);
  factory.stop();
}

TEST(SharedInformerFactory, NothingStartsAfterStop) {
  testing::FakeRestClient fake;
  Client c(fake);
  auto pods = type_of("Pod", "pods");
  SharedInformerFactory factory(c);
  factory.stop();
  Informer& inf = factory.informer(pods);
  factory.start();
  EXPECT_FALSE(inf.started());
  EXPECT_EQ(fake.requests().size(), 0u);
}

}  // namespace
}  // namespace minik8s::client
