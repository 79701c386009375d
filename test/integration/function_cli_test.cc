// mkctl function … in-process against a real ApiServer (with its code
// store); invoke against a fake gateway whose URL is written into the
// Function's status, logs against the FakeKubelet behind pods/log.
#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "minik8s/cli/mkctl.h"
#include "test/fakes/eventually.h"
#include "test/fakes/fake_kubelet.h"
#include "test/fakes/local_api.h"

namespace minik8s::cli {
namespace {

using Json = nlohmann::json;
namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

const std::string kExamples = std::string(MINIK8S_SOURCE_DIR) + "/examples/serverless";
const std::string kFnPath = "/apis/serverless.minik8s.io/v1/namespaces/default/functions";

// A gateway stand-in on 127.0.0.1:0: records each request and answers with
// the configured status, body and X-Instance header. One thread; a request
// per connection.
class FakeGateway {
 public:
  struct Seen {
    std::string method, target, body, content_type;
  };
  FakeGateway() : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeGateway() {
    stopping_ = true;
    beast::error_code ec;
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect({net::ip::make_address("127.0.0.1"), port_}, ec);
    thread_.join();
  }
  void answer(int code, std::string body, std::string instance) {
    std::lock_guard<std::mutex> l(mu_);
    code_ = code;
    body_ = std::move(body);
    instance_ = std::move(instance);
  }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> l(mu_);
    return seen_;
  }
  std::string url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }

 private:
  void serve() {
    while (!stopping_) {
      tcp::socket s(ioc_);
      beast::error_code ec;
      acceptor_.accept(s, ec);
      if (ec || stopping_) continue;
      beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(s, buf, req, ec);
      if (ec) continue;
      http::response<http::string_body> res;
      {
        std::lock_guard<std::mutex> l(mu_);
        seen_.push_back({std::string(req.method_string()), std::string(req.target()), req.body(),
                         std::string(req[http::field::content_type])});
        res.result(code_);
        res.body() = body_;
        if (!instance_.empty()) res.set("X-Instance", instance_);
      }
      res.set(http::field::content_type, "application/json");
      res.prepare_payload();
      http::write(s, res, ec);
      s.shutdown(tcp::socket::shutdown_both, ec);
    }
  }
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::mutex mu_;
  int code_ = 200;
  std::string body_ = "{}", instance_;
  std::vector<Seen> seen_;
};

struct CliRun {
  int rc;
  std::string out, err;
};

class FunctionCliTest : public testing::ApiServerFixture {
 protected:
  // The code store in a directory of its own (LocalApi makes its directory only when it starts).
  void configure(apiserver::ApiServerOptions& o) override {
    code_dir_ = std::filesystem::temp_directory_path() /
                ("mk-fncli-code-" + std::to_string(::getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
    o.code_dir = code_dir_.string();
  }
  void TearDown() override {
    ApiServerFixture::TearDown();
    std::error_code ec;
    std::filesystem::remove_all(code_dir_, ec);
  }
  size_t stored_blobs() {
    std::error_code ec;
    size_t n = 0;
    for (auto it = std::filesystem::directory_iterator(code_dir_ / "sha256", ec);
         !ec && it != std::filesystem::directory_iterator(); ++it) {
      ++n;
    }
    return n;
  }
  static std::string slurp(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  }
  std::filesystem::path code_dir_;
  CliRun mkctl(std::vector<std::string> args, const std::string& in_text = "") {
    args.insert(args.begin(), {"--server", local_.url()});
    std::ostringstream out, err;
    std::istringstream in(in_text);
    int rc = run_mkctl(args, out, err, in);
    return {rc, out.str(), err.str()};
  }
  // A Function with inline code (no code store needed), created directly.
  void create_inline(const std::string& name,
                     const std::string& code = "def handler(e, c):\n    return e\n") {
    Json fn = {{"apiVersion", "serverless.minik8s.io/v1"},
               {"kind", "Function"},
               {"metadata", {{"name", name}}},
               {"spec", {{"code", {{"inline", code}}}}}};
    auto r = post(kFnPath, fn);
    ASSERT_EQ(r.code, 201) << r.body;
  }
  // Writes status.url (and ready counts) through the status subresource, as the controller does.
  void set_status(const std::string& name, const Json& status) {
    Json fn = req("GET", kFnPath + "/" + name).j();
    fn["status"] = status;
    auto r = req("PUT", kFnPath + "/" + name + "/status", fn.dump());
    ASSERT_EQ(r.code, 200) << r.body;
  }
  Json get_fn(const std::string& name) { return req("GET", kFnPath + "/" + name).j(); }
};

TEST_F(FunctionCliTest, CreateUploadsTheCodeAndUpdateReplacesIt) {
  std::string hello = kExamples + "/hello.py";
  auto r =
      mkctl({"fn", "create", "hello", "-f", hello, "--max-scale", "4", "--env", "GREETING=Hi"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "function.serverless.minik8s.io/hello created\n");
  Json fn = get_fn("hello");
  EXPECT_EQ(fn["spec"]["handler"], "hello.handler");
  EXPECT_EQ(fn["spec"]["code"]["filename"], "hello.py");
  EXPECT_EQ(fn["spec"]["scale"]["maxScale"], 4);
  EXPECT_EQ(fn["spec"]["env"], Json::parse(R"([{"name":"GREETING","value":"Hi"}])"));
  std::string hash = fn["spec"]["code"]["hash"];
  auto blob = req("GET", "/apis/serverless.minik8s.io/v1/code/" + hash);
  ASSERT_EQ(blob.code, 200);
  EXPECT_EQ(blob.body, slurp(hello));

  auto d = mkctl({"fn", "describe", "hello"});
  ASSERT_EQ(d.rc, 0) << d.err;
  std::string code_line =
      hash + " (hello.py, " + std::to_string(std::filesystem::file_size(hello)) + " bytes)";
  EXPECT_NE(d.out.find(code_line), std::string::npos) << code_line << "\n" << d.out;

  auto dup = mkctl({"fn", "create", "hello", "-f", hello});
  EXPECT_EQ(dup.rc, 1);
  EXPECT_EQ(dup.err.rfind("Error from server (AlreadyExists): ", 0), 0u) << dup.err;

  // New code: the default handler follows the file; settings not given are kept.
  auto u = mkctl({"fn", "update", "hello", "-f", kExamples + "/hello_v2.py"});
  ASSERT_EQ(u.rc, 0) << u.err;
  EXPECT_EQ(u.out, "function.serverless.minik8s.io/hello configured\n");
  Json v2 = get_fn("hello");
  EXPECT_EQ(v2["spec"]["handler"], "hello_v2.handler");
  EXPECT_EQ(v2["spec"]["code"]["filename"], "hello_v2.py");
  EXPECT_NE(v2["spec"]["code"]["hash"], hash);
  EXPECT_EQ(v2["spec"]["scale"]["maxScale"], 4);
  EXPECT_EQ(v2["spec"]["env"], fn["spec"]["env"]);
  auto same = mkctl({"fn", "update", "hello", "-f", kExamples + "/hello_v2.py"});
  ASSERT_EQ(same.rc, 0) << same.err;
  EXPECT_EQ(same.out, "function.serverless.minik8s.io/hello unchanged\n");
  // A handler chosen with --handler survives new code.
  std::string alt = (dir() / "alt.py").string();
  std::ofstream(alt) << "def handler(e, c):\n    return 1\n\ndef run(e, c):\n    return 2\n";
  ASSERT_EQ(mkctl({"fn", "create", "alt", "-f", alt, "--handler", "alt.run"}).rc, 0);
  ASSERT_EQ(mkctl({"fn", "update", "alt", "-f", alt, "--timeout", "5"}).rc, 0);
  EXPECT_EQ(get_fn("alt")["spec"]["handler"], "alt.run");
  EXPECT_EQ(get_fn("alt")["spec"]["timeoutSeconds"], 5);
}

TEST_F(FunctionCliTest, CreateFromAZipPackage) {
  std::string zip = (dir() / "wordstats.zip").string();
  std::string cmd = "/usr/bin/python3 " + kExamples + "/make_zip.py " + zip + " >/dev/null";
  if (::access("/usr/bin/python3", X_OK) != 0)
    GTEST_SKIP() << "no /usr/bin/python3 to build the zip";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  auto r = mkctl({"fn", "create", "wordstats", "-f", zip});
  ASSERT_EQ(r.rc, 0) << r.err;
  Json fn = get_fn("wordstats");
  EXPECT_EQ(fn["spec"]["handler"], "main.handler");
  EXPECT_EQ(fn["spec"]["code"]["filename"], "wordstats.zip");
  auto blob = req("GET", "/apis/serverless.minik8s.io/v1/code/" +
                             fn["spec"]["code"]["hash"].get<std::string>());
  EXPECT_EQ(blob.body, slurp(zip));
}

TEST_F(FunctionCliTest, BadCodeIsRefusedBeforeAnythingIsSent) {
  std::string bad = (dir() / "bad.py").string();
  std::ofstream(bad) << "def handler(e, c):\n    return (1,\n";
  auto r = mkctl({"fn", "create", "bad", "-f", bad});
  EXPECT_EQ(r.rc, 1);
  if (::access("/usr/bin/python3", X_OK) == 0) {
    EXPECT_EQ(r.err.rfind("error: bad.py:2: SyntaxError: ", 0), 0u) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  }
  auto txt = mkctl({"fn", "create", "t", "-f", kExamples + "/README.md"});
  EXPECT_EQ(txt.rc, 1);
  EXPECT_NE(txt.err.find("neither a Python file (.py) nor a zip package (.zip)"), std::string::npos)
      << txt.err;
  auto gone = mkctl({"fn", "create", "g", "-f", (dir() / "nope.py").string()});
  EXPECT_NE(gone.err.find("nope.py: no such file"), std::string::npos) << gone.err;
  EXPECT_EQ(stored_blobs(), 0u);
  EXPECT_EQ(req("GET", kFnPath).j()["items"].size(), 0u);
}

TEST_F(FunctionCliTest, GetListsNameReadyUrlAgeAndDescribeShowsTheFunction) {
  ASSERT_NO_FATAL_FAILURE(create_inline("echo"));
  ASSERT_NO_FATAL_FAILURE(create_inline("other"));
  ASSERT_NO_FATAL_FAILURE(set_status(
      "echo", {{"url", "http://gw:31080/functions/default/echo"},
               {"readyInstances", 1},
               {"desiredInstances", 2},
               {"revision", "1"},
               {"conditions", {{{"type", "Ready"}, {"status", "False"}, {"reason", "Scaling"}}}}}));
  auto r = mkctl({"fn", "get"});
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream lines(r.out);
  std::string header, first;
  std::getline(lines, header);
  std::getline(lines, first);
  EXPECT_EQ(header.rfind("NAME", 0), 0u) << r.out;
  for (const char* col : {"READY", "URL", "AGE"})
    EXPECT_NE(header.find(col), std::string::npos) << r.out;
  EXPECT_EQ(first.rfind("echo", 0), 0u) << r.out;
  EXPECT_NE(first.find("1/2"), std::string::npos) << r.out;
  EXPECT_NE(first.find("http://gw:31080/functions/default/echo"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("other"), std::string::npos);

  auto one = mkctl({"function", "list"});
  EXPECT_EQ(one.out, r.out);
  auto single = mkctl({"fn", "get", "echo"});
  ASSERT_EQ(single.rc, 0) << single.err;
  EXPECT_EQ(single.out.find("other"), std::string::npos) << single.out;
  auto yaml = mkctl({"fn", "get", "echo", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("kind: Function"), std::string::npos) << yaml.out;

  // Events of this Function only (not of a Pod with the same name).
  auto event = [&](const std::string& ev_name, const std::string& kind, const std::string& reason) {
    Json ev = {{"apiVersion", "v1"},
               {"kind", "Event"},
               {"metadata", {{"name", ev_name}}},
               {"involvedObject", {{"kind", kind}, {"name", "echo"}, {"namespace", "default"}}},
               {"reason", reason},
               {"message", reason + " message"},
               {"type", "Normal"},
               {"firstTimestamp", "2026-12-07T12:00:00Z"},
               {"lastTimestamp", "2026-12-07T12:00:00Z"},
               {"count", 1}};
    auto r = post("/api/v1/namespaces/default/events", ev);
    ASSERT_EQ(r.code, 201) << r.body;
  };
  ASSERT_NO_FATAL_FAILURE(event("echo.1", "Function", "ScaledUp"));
  ASSERT_NO_FATAL_FAILURE(event("echo.2", "Pod", "PodThing"));
  auto d = mkctl({"fn", "describe", "echo"});
  ASSERT_EQ(d.rc, 0) << d.err;
  EXPECT_EQ(d.out.find("PodThing"), std::string::npos) << d.out;
  for (const char* want :
       {"ScaledUp", "ScaledUp message", "Name:", "echo", "Handler:", "main.handler",
        "inline (main.py, 32 bytes)", "Revision:", "1 ready / 2 desired",
        "http://gw:31080/functions/default/echo", "Ready", "Scaling", "Events:"}) {
    EXPECT_NE(d.out.find(want), std::string::npos) << want << "\n" << d.out;
  }

  auto none = mkctl({"-n", "empty", "fn", "get"});
  EXPECT_EQ(none.rc, 0);
  EXPECT_EQ(none.err, "No resources found in empty namespace.\n");
  auto missing = mkctl({"fn", "describe", "ghost"});
  EXPECT_EQ(missing.rc, 1);
  EXPECT_EQ(missing.err.rfind("Error from server (NotFound): ", 0), 0u) << missing.err;
}

TEST_F(FunctionCliTest, UpdateChangesOnlyTheGivenSettingsAndDeleteRemoves) {
  ASSERT_NO_FATAL_FAILURE(create_inline("echo"));
  Json before = get_fn("echo");
  auto r = mkctl({"fn", "update", "echo", "--max-scale", "3", "--idle", "60", "--env", "A=1"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "function.serverless.minik8s.io/echo configured\n");
  Json after = get_fn("echo");
  EXPECT_EQ(after["spec"]["scale"]["maxScale"], 3);
  EXPECT_EQ(after["spec"]["scale"]["scaleToZeroAfterSeconds"], 60);
  EXPECT_EQ(after["spec"]["scale"]["minScale"], before["spec"]["scale"]["minScale"]);
  EXPECT_EQ(after["spec"]["code"], before["spec"]["code"]);
  EXPECT_EQ(after["spec"]["handler"], before["spec"]["handler"]);
  EXPECT_EQ(after["spec"]["env"], Json::parse(R"([{"name":"A","value":"1"}])"));

  auto same = mkctl({"fn", "update", "echo", "--max-scale", "3"});
  ASSERT_EQ(same.rc, 0) << same.err;
  EXPECT_EQ(same.out, "function.serverless.minik8s.io/echo unchanged\n");

  // The server's validation is one line too.
  auto invalid = mkctl({"fn", "update", "echo", "--idle", "1"});
  EXPECT_EQ(invalid.rc, 1);
  EXPECT_EQ(invalid.err.rfind("Error from server (Invalid): ", 0), 0u) << invalid.err;
  EXPECT_NE(invalid.err.find("scaleToZeroAfterSeconds"), std::string::npos) << invalid.err;
  EXPECT_EQ(std::count(invalid.err.begin(), invalid.err.end(), '\n'), 1) << invalid.err;

  auto del = mkctl({"fn", "delete", "echo"});
  ASSERT_EQ(del.rc, 0) << del.err;
  EXPECT_EQ(del.out, "function.serverless.minik8s.io \"echo\" deleted\n");
  EXPECT_EQ(req("GET", kFnPath + "/echo").code, 404);
  auto again = mkctl({"fn", "delete", "echo"});
  EXPECT_EQ(again.rc, 1);
  EXPECT_EQ(again.err.rfind("Error from server (NotFound): ", 0), 0u) << again.err;
}

// Right after `fn create` the controller has not written status.url yet:
// invoke waits for it (--url-wait) instead of failing.
TEST_F(FunctionCliTest, InvokeWaitsForANewFunctionsUrl) {
  FakeGateway gw;
  gw.answer(200, R"({"ok":true})", "late-1");
  ASSERT_NO_FATAL_FAILURE(create_inline("late"));
  std::thread controller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the delay under test, not a wait
    set_status("late", {{"url", gw.url("/functions/default/late")}});
  });
  auto r = mkctl({"fn", "invoke", "late", "-d", "{}"});
  controller.join();
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\"ok\":true}\n");
  EXPECT_EQ(gw.seen().size(), 1u);
}

TEST_F(FunctionCliTest, InvokePostsToStatusUrlAndPrintsTheBody) {
  FakeGateway gw;
  ASSERT_NO_FATAL_FAILURE(create_inline("echo"));
  auto no_url = mkctl({"fn", "invoke", "echo", "--url-wait", "0"});
  EXPECT_EQ(no_url.rc, 1);
  EXPECT_NE(no_url.err.find("has no URL yet"), std::string::npos) << no_url.err;
  EXPECT_TRUE(gw.seen().empty());

  ASSERT_NO_FATAL_FAILURE(set_status("echo", {{"url", gw.url("/functions/default/echo")}}));
  auto url = mkctl({"fn", "url", "echo"});
  EXPECT_EQ(url.out, gw.url("/functions/default/echo") + "\n");

  gw.answer(200, R"({"greeting":"Hello, Ada!"})", "echo-abc12");
  auto r = mkctl(
      {"fn", "invoke", "echo", "-d", R"({"name":"Ada"})", "-q", "lang=en", "-q", "x=a b", "-v"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\"greeting\":\"Hello, Ada!\"}\n");
  EXPECT_NE(r.err.find("HTTP 200"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("X-Instance: echo-abc12"), std::string::npos) << r.err;
  auto seen = gw.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].target, "/functions/default/echo?lang=en&x=a%20b");
  EXPECT_EQ(seen[0].body, R"({"name":"Ada"})");
  EXPECT_EQ(seen[0].content_type, "application/json");

  // No -d: GET with the query; -d @file reads the body from a file.
  auto g = mkctl({"fn", "invoke", "echo", "-q", "name=Bo"});
  ASSERT_EQ(g.rc, 0) << g.err;
  EXPECT_TRUE(g.err.empty()) << "no -v, nothing on stderr: " << g.err;
  std::string body_file = (dir() / "body.json").string();
  std::ofstream(body_file) << R"({"text": "a b c"})";
  ASSERT_EQ(mkctl({"fn", "invoke", "echo", "-d", "@" + body_file}).rc, 0);
  ASSERT_EQ(mkctl({"fn", "invoke", "echo", "-d", "@-"}, R"({"from":"stdin"})").rc, 0);
  seen = gw.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1].method, "GET");
  EXPECT_EQ(seen[1].target, "/functions/default/echo?name=Bo");
  EXPECT_EQ(seen[2].body, R"({"text": "a b c"})");
  EXPECT_EQ(seen[3].body, R"({"from":"stdin"})");

  gw.answer(
      500,
      R"({"error":"ZeroDivisionError","message":"division by zero","traceback":"Traceback\n..."})",
      "");
  auto bad = mkctl({"fn", "invoke", "echo", "-d", "{}"});
  EXPECT_EQ(bad.rc, 1);
  EXPECT_TRUE(bad.out.empty()) << bad.out;
  EXPECT_EQ(bad.err, "error: HTTP 500: ZeroDivisionError: division by zero\n");

  // A body that is not JSON never leaves the client.
  auto not_json = mkctl({"fn", "invoke", "echo", "-d", "{oops"});
  EXPECT_EQ(not_json.rc, 1);
  EXPECT_EQ(not_json.err.rfind("error: -d is not valid JSON: ", 0), 0u) << not_json.err;
  EXPECT_EQ(gw.seen().size(), 5u);

  auto gone = mkctl({"fn", "invoke", "ghost"});
  EXPECT_EQ(gone.rc, 1);
  EXPECT_EQ(gone.err.rfind("Error from server (NotFound): ", 0), 0u) << gone.err;
}

TEST_F(FunctionCliTest, LogsPrefixEveryInstanceAndFollowEndsWithTheFunction) {
  testing::FakeKubelet kubelet;
  Json node = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", "n1"}}}};
  ASSERT_EQ(post("/api/v1/nodes", node).code, 201);
  node = req("GET", "/api/v1/nodes/n1").j();
  node["status"] = {{"addresses", {{{"type", "InternalIP"}, {"address", "127.0.0.1"}}}},
                    {"daemonEndpoints", {{"kubeletEndpoint", {{"Port", kubelet.port()}}}}}};
  ASSERT_EQ(req("PUT", "/api/v1/nodes/n1/status", node.dump()).code, 200);
  ASSERT_NO_FATAL_FAILURE(create_inline("echo"));

  auto none = mkctl({"fn", "logs", "echo"});
  EXPECT_EQ(none.rc, 0);
  EXPECT_NE(none.err.find("No instances of function \"echo\""), std::string::npos) << none.err;

  auto add_pod = [&](const std::string& name, const std::string& fn) {
    Json p = {{"apiVersion", "v1"},
              {"kind", "Pod"},
              {"metadata", {{"name", name}, {"labels", {{"serverless.minik8s.io/function", fn}}}}},
              {"spec",
               {{"nodeName", "n1"},
                {"containers", {{{"name", "runtime"}, {"image", "python-runtime"}}}}}}};
    ASSERT_EQ(post("/api/v1/namespaces/default/pods", p).code, 201);
    p = req("GET", "/api/v1/namespaces/default/pods/" + name).j();
    p["status"] = {{"phase", "Running"}};
    ASSERT_EQ(req("PUT", "/api/v1/namespaces/default/pods/" + name + "/status", p.dump()).code,
              200);
  };
  ASSERT_NO_FATAL_FAILURE(add_pod("echo-a", "echo"));
  ASSERT_NO_FATAL_FAILURE(add_pod("echo-b", "echo"));
  ASSERT_NO_FATAL_FAILURE(add_pod("other-a", "other"));

  auto r = mkctl({"fn", "logs", "echo"});
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out,
            "[echo-a] log of echo-a/runtime\n[echo-a] log of echo-a/runtime\n"
            "[echo-b] log of echo-b/runtime\n[echo-b] log of echo-b/runtime\n");

  // -f: both streams open, then the Function goes and the kubelet ends them.
  CliRun followed;
  std::thread t([&] { followed = mkctl({"fn", "logs", "echo", "-f"}); });
  auto following = [&] {
    int n = 0;
    for (const auto& target : kubelet.targets()) {
      if (target.find("follow=true") != std::string::npos) ++n;
    }
    return n;
  };
  bool both = testing::eventually([&] { return following() == 2; }, std::chrono::seconds(10));
  req("DELETE", kFnPath + "/echo");
  kubelet.release();
  t.join();
  ASSERT_TRUE(both) << "follow streams opened: " << following();
  EXPECT_EQ(followed.rc, 0) << followed.err;
  for (const char* want : {"[echo-a] log of echo-a/runtime\n", "[echo-b] log of echo-b/runtime\n",
                           "[echo-a] second\n", "[echo-b] second\n"}) {
    EXPECT_NE(followed.out.find(want), std::string::npos) << want << "\n" << followed.out;
  }
  EXPECT_EQ(followed.out.find("other"), std::string::npos) << followed.out;
}

}  // namespace
}  // namespace minik8s::cli
