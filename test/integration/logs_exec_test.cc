// pods/log and pods/exec through the in-process API server to a fake kubelet
// registered on a Node; mkctl logs/exec; stock kubectl when installed.
#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <set>
#include <sstream>

#include "minik8s/cli/mkctl.h"
#include "minik8s/stream/websocket.h"
#include "test/fakes/fake_kubelet.h"
#include "test/fakes/local_api.h"

namespace minik8s::apiserver {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
using namespace std::chrono_literals;
using testing::ApiServerFixture;
using testing::FakeKubelet;

class LogsExecTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    add_node("n1", kubelet_.port());
    add_node("dead", 1);  // nothing listens on port 1
    add_pod("one", "n1", {"main"});
    add_pod("two", "n1", {"a", "b"});
    add_pod("pending", "", {"main"});
    add_pod("orphan", "dead", {"main"});
  }
  void add_node(const std::string& name, int port) {
    json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}};
    ASSERT_EQ(post("/api/v1/nodes", node).code, 201);
    node = req("GET", "/api/v1/nodes/" + name).j();
    node["status"] = {{"addresses", {{{"type", "Hostname"}, {"address", "nowhere.invalid"}},
                                     {{"type", "InternalIP"}, {"address", "127.0.0.1"}}}},
                      {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", port}}}}}};
    ASSERT_EQ(req("PUT", "/api/v1/nodes/" + name + "/status", node.dump()).code, 200);
  }
  void add_pod(const std::string& name, const std::string& node, const std::vector<std::string>& containers) {
    json cs = json::array();
    for (const auto& c : containers) cs.push_back({{"name", c}, {"image", "busybox"}});
    json p = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", {{"name", name}}}, {"spec", {{"containers", cs}}}};
    if (!node.empty()) p["spec"]["nodeName"] = node;
    ASSERT_EQ(post("/api/v1/namespaces/default/pods", p).code, 201);
  }
  std::string url() const { return local_.url(); }

  FakeKubelet kubelet_;
  net::io_context ioc_;
};

TEST_F(LogsExecTest, LogProxiesToTheKubeletWithTheQuery) {
  auto r = req("GET", "/api/v1/namespaces/default/pods/one/log?tailLines=2&timestamps=true&previous=true");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "log of one/main\nlog of one/main\n");
  EXPECT_EQ(r.content_type, "text/plain");
  ASSERT_FALSE(kubelet_.targets().empty());
  EXPECT_EQ(kubelet_.targets().back(), "/containerLogs/default/one/main?tailLines=2&timestamps=true&previous=true");
  EXPECT_EQ(req("GET", "/api/v1/namespaces/default/pods/two/log?container=b").body, "log of two/b\nlog of two/b\n");
  EXPECT_EQ(kubelet_.targets().back(), "/containerLogs/default/two/b");
}

TEST_F(LogsExecTest, LogErrorsAreStatuses) {
  auto nf = req("GET", "/api/v1/namespaces/default/pods/ghost/log");
  EXPECT_EQ(nf.code, 404);
  EXPECT_EQ(nf.j()["reason"], "NotFound");
  auto pending = req("GET", "/api/v1/namespaces/default/pods/pending/log");
  EXPECT_EQ(pending.code, 400);
  EXPECT_EQ(pending.j()["message"], "pod pending does not have a host assigned");
  auto two = req("GET", "/api/v1/namespaces/default/pods/two/log");
  EXPECT_EQ(two.code, 400);
  EXPECT_EQ(two.j()["message"], "a container name must be specified for pod two, choose one of: [a b]");
  auto bad = req("GET", "/api/v1/namespaces/default/pods/two/log?container=zzz");
  EXPECT_EQ(bad.code, 400);
  EXPECT_EQ(bad.j()["message"], "container zzz is not valid for pod two");
  auto dead = req("GET", "/api/v1/namespaces/default/pods/orphan/log");
  EXPECT_EQ(dead.code, 503);
  EXPECT_NE(dead.j()["message"].get<std::string>().find("error dialing backend"), std::string::npos) << dead.body;
  // The kubelet's own refusal is passed through.
  add_pod("waiting", "n1", {"missing"});
  auto w = req("GET", "/api/v1/namespaces/default/pods/waiting/log");
  EXPECT_EQ(w.code, 404);
  EXPECT_EQ(w.j()["message"], "container \"missing\" is waiting to start");
  EXPECT_EQ(req("POST", "/api/v1/namespaces/default/pods/one/log", "{}").code, 405);
  EXPECT_EQ(req("GET", "/api/v1/namespaces/default/pods/one/attach").code, 405);
}

TEST_F(LogsExecTest, FollowStreamsBeforeTheKubeletFinishes) {
  tcp::socket s(ioc_);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), local_.port()));
  http::request<http::empty_body> r{http::verb::get, "/api/v1/namespaces/default/pods/one/log?follow=true", 11};
  http::write(s, r);
  beast::flat_buffer buf;
  http::response_parser<http::buffer_body> p;
  http::read_header(s, buf, p);
  ASSERT_EQ(p.get().result_int(), 200u);
  std::string got;
  char tmp[1024];
  auto read_until = [&](const std::string& want) {
    while (got.find(want) == std::string::npos && !p.is_done()) {
      p.get().body().data = tmp;
      p.get().body().size = sizeof tmp;
      beast::error_code ec;
      http::read_some(s, buf, p, ec);
      got.append(tmp, sizeof tmp - p.get().body().size);
      if (ec && ec != http::error::need_buffer) break;
    }
    return got.find(want) != std::string::npos;
  };
  ASSERT_TRUE(read_until("log of one/main\n"));  // the kubelet has not finished yet
  kubelet_.release();
  ASSERT_TRUE(read_until("second\n"));
  EXPECT_EQ(got, "log of one/main\nsecond\n");
}

TEST_F(LogsExecTest, ExecRelaysWebSocketFramesV5AndV4) {
  for (std::string proto : {"v5.channel.k8s.io", "v4.channel.k8s.io"}) {
    std::string chosen;
    auto ws = stream::connect_ws(ioc_, "127.0.0.1", std::to_string(local_.port()),
                                 "/api/v1/namespaces/default/pods/two/exec?container=b&command=sh&command=-c&"
                                 "command=exit%203&stdin=true&stdout=true",
                                 {proto, "channel.k8s.io"}, &chosen);
    ASSERT_TRUE(ws.is_ok()) << ws.status().to_string();
    EXPECT_EQ(chosen, proto);
    (*ws)->write(net::buffer(stream::frame(stream::kStdin, "hello\n")));
    (*ws)->write(net::buffer(stream::frame(stream::kStdin, "bye\n")));
    std::map<int, std::string> out;
    for (;;) {
      beast::flat_buffer b;
      beast::error_code ec;
      (*ws)->read(b, ec);
      if (ec) break;
      std::string m = beast::buffers_to_string(b.data());
      if (!m.empty()) out[static_cast<unsigned char>(m[0])] += m.substr(1);
    }
    EXPECT_EQ(out[stream::kStdout], "ran: sh -c exit 3\nHELLO\nBYE\n");
    EXPECT_EQ(json::parse(out[stream::kError])["details"]["causes"][0]["message"], "3");
    EXPECT_EQ(kubelet_.targets().back(),
              "/exec/default/two/b?command=sh&command=-c&command=exit%203&stdin=true&stdout=true");
  }
  // Refusals before the upgrade are Statuses.
  stream::UpgradeRefused refused;
  std::string chosen;
  auto bad = stream::connect_ws(ioc_, "127.0.0.1", std::to_string(local_.port()),
                                "/api/v1/namespaces/default/pods/pending/exec?command=true", {"v5.channel.k8s.io"},
                                &chosen, &refused);
  EXPECT_FALSE(bad.is_ok());
  EXPECT_EQ(refused.code, 400) << bad.status().to_string();
  EXPECT_EQ(json::parse(refused.body)["message"], "pod pending does not have a host assigned");
  auto plain = req("GET", "/api/v1/namespaces/default/pods/one/exec?command=true");
  EXPECT_EQ(plain.code, 400);
}

// Frames per channel until the server closes.
std::map<int, std::string> drain(stream::WsStream& ws) {
  std::map<int, std::string> out;
  for (;;) {
    beast::flat_buffer b;
    beast::error_code ec;
    ws.read(b, ec);
    if (ec) break;
    std::string m = beast::buffers_to_string(b.data());
    if (!m.empty()) out[static_cast<unsigned char>(m[0])] += m.substr(1);
  }
  return out;
}

// The client's upgrade is answered before the kubelet is asked to run the
// command, so output cannot arrive together with the 101 (kubectl 1.30-1.33
// drop frames that come before they have set up their streams); what fails
// after the upgrade is a Status on the error channel.
TEST_F(LogsExecTest, ExecAnswersTheUpgradeBeforeDialingTheKubelet) {
  kubelet_.hold_exec();
  std::string chosen;
  auto ws = stream::connect_ws(ioc_, "127.0.0.1", std::to_string(local_.port()),
                               "/api/v1/namespaces/default/pods/one/exec?command=echo&command=hi&stdout=true",
                               {"v5.channel.k8s.io"}, &chosen);
  ASSERT_TRUE(ws.is_ok()) << ws.status().to_string();  // while the kubelet has not answered its upgrade
  EXPECT_EQ(chosen, "v5.channel.k8s.io");
  kubelet_.release_exec();
  auto out = drain(**ws);
  EXPECT_EQ(out[stream::kStdout], "ran: echo hi\n");
  EXPECT_EQ(json::parse(out[stream::kError])["status"], "Success");

  add_pod("waiting", "n1", {"missing"});
  for (std::string proto : {"v5.channel.k8s.io", "v4.channel.k8s.io"}) {
    auto refused = stream::connect_ws(ioc_, "127.0.0.1", std::to_string(local_.port()),
                                      "/api/v1/namespaces/default/pods/waiting/exec?command=true", {proto}, &chosen);
    ASSERT_TRUE(refused.is_ok()) << refused.status().to_string();
    json st = json::parse(drain(**refused)[stream::kError]);
    EXPECT_EQ(st["code"], 404) << proto;
    EXPECT_EQ(st["message"], "container \"missing\" is waiting to start") << proto;
  }
  auto dead = stream::connect_ws(ioc_, "127.0.0.1", std::to_string(local_.port()),
                                 "/api/v1/namespaces/default/pods/orphan/exec?command=true", {"v5.channel.k8s.io"},
                                 &chosen);
  ASSERT_TRUE(dead.is_ok()) << dead.status().to_string();
  json st = json::parse(drain(**dead)[stream::kError]);
  EXPECT_EQ(st["code"], 503);
  EXPECT_EQ(st["message"].get<std::string>().rfind("error dialing backend: ", 0), 0u) << st.dump();
  // v1-v3 error channels carry the message as text.
  auto v3 = stream::connect_ws(ioc_, "127.0.0.1", std::to_string(local_.port()),
                               "/api/v1/namespaces/default/pods/waiting/exec?command=true", {"v3.channel.k8s.io"},
                               &chosen);
  ASSERT_TRUE(v3.is_ok()) << v3.status().to_string();
  EXPECT_EQ(drain(**v3)[stream::kError], "container \"missing\" is waiting to start");
}

TEST_F(LogsExecTest, DiscoveryListsLogAndExec) {
  auto r = req("GET", "/api/v1").j();
  std::set<std::string> names;
  for (const auto& x : r["resources"]) names.insert(x["name"].get<std::string>());
  EXPECT_TRUE(names.count("pods/log"));
  EXPECT_TRUE(names.count("pods/exec"));
}

// The API server dials only the registered InternalIP and kubelet port.
TEST_F(LogsExecTest, OnlyTheRegisteredKubeletAddressIsDialled) {
  auto with_status = [&](const std::string& name, const json& status) {
    ASSERT_EQ(post("/api/v1/nodes", {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", name}}}}).code,
              201);
    json n = req("GET", "/api/v1/nodes/" + name).j();
    n["status"] = status;
    ASSERT_EQ(req("PUT", "/api/v1/nodes/" + name + "/status", n.dump()).code, 200);
  };
  // Only a Hostname (no name is resolved), or no kubelet port (no default port is guessed).
  with_status("named", {{"addresses", {{{"type", "Hostname"}, {"address", "localhost"}}}},
                        {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kubelet_.port()}}}}}});
  with_status("portless", {{"addresses", {{{"type", "InternalIP"}, {"address", "127.0.0.1"}}}}});
  add_pod("on-named", "named", {"main"});
  add_pod("on-portless", "portless", {"main"});
  auto named = req("GET", "/api/v1/namespaces/default/pods/on-named/log");
  EXPECT_EQ(named.code, 503);
  EXPECT_EQ(named.j()["message"], "node named has no InternalIP address to reach its kubelet") << named.body;
  auto portless = req("GET", "/api/v1/namespaces/default/pods/on-portless/log");
  EXPECT_EQ(portless.code, 503);
  EXPECT_EQ(portless.j()["message"],
            "node portless has not registered its kubelet port (status.daemonEndpoints.kubeletEndpoint.Port)")
      << portless.body;
  EXPECT_TRUE(kubelet_.targets().empty());
}

// A server reachable from other hosts (here: bound to 0.0.0.0) refuses
// loopback and link-local kubelet addresses unless the Node is --local-node.
class LogsExecRemoteTest : public LogsExecTest {
 protected:
  void configure(ApiServerOptions& o) override {
    o.bind_address = "0.0.0.0";
    o.local_node = "n1";
  }
};

TEST_F(LogsExecRemoteTest, LoopbackAndLinkLocalKubeletsOnlyForTheLocalNode) {
  // n1 is the local node: its loopback kubelet is used.
  auto r = req("GET", "/api/v1/namespaces/default/pods/one/log");
  EXPECT_EQ(r.code, 200) << r.body;
  EXPECT_EQ(r.body, "log of one/main\nlog of one/main\n");
  ASSERT_EQ(kubelet_.targets().size(), 1u);
  // Another node registering the same loopback kubelet is refused before any dial.
  add_node("n2", kubelet_.port());
  add_pod("elsewhere", "n2", {"main"});
  for (const char* sub : {"log", "exec?command=id"}) {
    auto refused = req("GET", std::string("/api/v1/namespaces/default/pods/elsewhere/") + sub);
    EXPECT_EQ(refused.code, 400) << sub << ": " << refused.body;
    EXPECT_EQ(refused.j()["reason"], "BadRequest");
    EXPECT_EQ(refused.j()["message"].get<std::string>().rfind(
                  "address not allowed: node n2 registered its kubelet at 127.0.0.1:" +
                      std::to_string(kubelet_.port()) + ", a loopback or link-local address",
                  0),
              0u)
        << refused.body;
  }
  // The metadata-service address likewise.
  json n2 = req("GET", "/api/v1/nodes/n2").j();
  n2["status"]["addresses"] = {{{"type", "InternalIP"}, {"address", "169.254.169.254"}}};
  ASSERT_EQ(req("PUT", "/api/v1/nodes/n2/status", n2.dump()).code, 200);
  auto meta = req("GET", "/api/v1/namespaces/default/pods/elsewhere/log");
  EXPECT_EQ(meta.code, 400) << meta.body;
  EXPECT_NE(meta.j()["message"].get<std::string>().find("169.254.169.254:"), std::string::npos) << meta.body;
  EXPECT_EQ(kubelet_.targets().size(), 1u);
}

TEST_F(LogsExecTest, MkctlLogsAndExec) {
  std::ostringstream out, err;
  std::istringstream none;
  int rc = cli::run_mkctl({"-s", url(), "logs", "two", "-c", "a", "--tail", "5"}, out, err, none);
  EXPECT_EQ(rc, 0) << err.str();
  EXPECT_EQ(out.str(), "log of two/a\nlog of two/a\n");
  EXPECT_EQ(kubelet_.targets().back(), "/containerLogs/default/two/a?tailLines=5");
  std::ostringstream out2, err2;
  rc = cli::run_mkctl({"-s", url(), "logs", "two"}, out2, err2, none);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(err2.str(), "Error from server (BadRequest): a container name must be specified for pod two, choose one of: [a b]\n");

  std::ostringstream out3, err3;
  std::istringstream in("abc\n");
  rc = cli::run_mkctl({"-s", url(), "exec", "one", "-i", "--", "sh", "-c", "exit 7"}, out3, err3, in);
  EXPECT_EQ(rc, 7) << err3.str();
  EXPECT_EQ(out3.str(), "ran: sh -c exit 7\nABC\n");
  std::ostringstream out4, err4;
  rc = cli::run_mkctl({"-s", url(), "exec", "one", "--", "echo", "hi"}, out4, err4, none);
  EXPECT_EQ(rc, 0) << err4.str();
  EXPECT_EQ(out4.str(), "ran: echo hi\n");
}

// Runs a command, returns exit status and stdout+stderr.
std::pair<int, std::string> sh(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!f) return {-1, ""};
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  int st = ::pclose(f);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : -1, out};
}

TEST_F(LogsExecTest, StockKubectl) {
  for (std::string v : {"1.33", "1.32", "1.30"}) {
    std::string bin = "/usr/lib/google-cloud-sdk/bin/kubectl." + v;
    if (::access(bin.c_str(), X_OK) != 0) GTEST_SKIP() << bin << " not installed";
    std::string base = bin + " --server=" + url() + " --cache-dir=" + (dir() / ("kc" + v)).string() + " ";
    auto [rc, o] = sh(base + "logs one");
    EXPECT_EQ(rc, 0) << v << o;
    EXPECT_EQ(o, "log of one/main\nlog of one/main\n") << v;
    std::tie(rc, o) = sh(base + "logs two -c b --tail=1");
    EXPECT_EQ(rc, 0) << v << o;
    EXPECT_EQ(kubelet_.targets().back(), "/containerLogs/default/two/b?tailLines=1") << v;
    std::tie(rc, o) = sh(base + "exec one -- echo hi");
    EXPECT_EQ(rc, 0) << v << o;
    EXPECT_EQ(o, "ran: echo hi\n") << v;
    std::tie(rc, o) = sh(base + "exec one -- sh -c 'exit 3'");
    EXPECT_EQ(rc, 3) << v << o;
    std::tie(rc, o) = sh("printf 'hello\\n' | " + base + "exec -i one -- cat");
    EXPECT_EQ(rc, 0) << v << o;
    EXPECT_EQ(o, "ran: cat\nHELLO\n") << v;
  }
}

// kubectl 1.27–1.29 speak only SPDY for exec: logs work, exec gets our refusal.
TEST_F(LogsExecTest, OldKubectlLogsWorkSpdyExecIsRefused) {
  for (std::string v : {"1.29", "1.27"}) {
    std::string bin = "/usr/lib/google-cloud-sdk/bin/kubectl." + v;
    if (::access(bin.c_str(), X_OK) != 0) GTEST_SKIP() << bin << " not installed";
    std::string base = bin + " --server=" + url() + " --cache-dir=" + (dir() / ("kc" + v)).string() + " ";
    auto [rc, o] = sh(base + "logs one");
    EXPECT_EQ(rc, 0) << v << o;
    EXPECT_EQ(o, "log of one/main\nlog of one/main\n") << v;
    std::tie(rc, o) = sh(base + "exec one -- echo hi");
    EXPECT_NE(rc, 0) << v << o;
    EXPECT_NE(o.find("WebSocket"), std::string::npos) << v << o;
  }
}

}  // namespace
}  // namespace minik8s::apiserver
