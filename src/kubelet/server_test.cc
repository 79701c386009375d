// KubeletHttpServer against a fake locator, a fake runtime and an in-test
// WebSocket "CRI streaming server"; CRI log decoding.
#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "minik8s/kubelet/server.h"
#include "minik8s/stream/websocket.h"
#include "server_internal.h"
#include "test/fakes/raw_client.h"
#include "test/fakes/fake_rest_client.h"

namespace minik8s::kubelet {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using nlohmann::json;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// ---------------------------------------------------------------- decoding

TEST(KubeletLogDecode, ParsesRecordsAndJoinsPartials) {
  auto r = parse_log_record("2024-01-02T03:04:05.123456789Z stdout F hello world");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->stream, "stdout");
  EXPECT_FALSE(r->partial);
  EXPECT_EQ(r->text, "hello world");
  EXPECT_EQ(r->time_ns, 1704164645123456789LL);
  EXPECT_FALSE(parse_log_record("garbage"));
  EXPECT_FALSE(parse_log_record("2024-01-02T03:04:05Z stdin F x"));
  EXPECT_EQ(*parse_rfc3339_ns("2024-01-02T05:04:05+02:00"), 1704164645LL * 1000000000LL);

  LogDecoder d;
  std::vector<LogLine> out;
  d.feed("2024-01-02T03:04:05Z stdout P abc", out);
  EXPECT_TRUE(out.empty());
  d.feed("\n2024-01-02T03:04:06Z stdout F def\nnot a record\n2024-01-02T03:04:07Z stderr F ", out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].text, "abcdef\n");
  EXPECT_EQ(out[0].timestamp, "2024-01-02T03:04:05Z");
  d.feed("\n", out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[1].text, "\n");
  EXPECT_EQ(out[1].stream, "stderr");
}

TEST(KubeletLogDecode, TailSinceTimestampsLimit) {
  std::vector<LogLine> lines;
  LogDecoder d;
  d.feed("2024-01-02T03:04:05Z stdout F one\n2024-01-02T03:04:06Z stdout F two\n2024-01-02T03:04:07Z stderr F three\n",
         lines);
  ASSERT_EQ(lines.size(), 3u);
  LogOptions o;
  int64_t left = 0;
  EXPECT_EQ(render_lines(lines, o, 0, &left), "one\ntwo\nthree\n");
  o.tail_lines = 2;
  EXPECT_EQ(render_lines(lines, o, 0, &left), "two\nthree\n");
  o.tail_lines = 0;
  EXPECT_EQ(render_lines(lines, o, 0, &left), "");
  o.tail_lines.reset();
  o.timestamps = true;
  EXPECT_EQ(render_lines(lines, o, 0, &left), "2024-01-02T03:04:05Z one\n2024-01-02T03:04:06Z two\n2024-01-02T03:04:07Z three\n");
  o.timestamps = false;
  int64_t now = *parse_rfc3339_ns("2024-01-02T03:04:08Z");
  o.since_seconds = 2;  // lines at or after :06
  EXPECT_EQ(render_lines(lines, o, now, &left), "two\nthree\n");
  o.since_seconds.reset();
  o.limit_bytes = 6;
  left = 6;
  EXPECT_EQ(render_lines(lines, o, 0, &left), "one\ntw");
  EXPECT_EQ(left, 0);
}

TEST(KubeletLogDecode, SinceSecondsSaturates) {
  const int64_t max = std::numeric_limits<int64_t>::max(), min = std::numeric_limits<int64_t>::min();
  int64_t now = *parse_rfc3339_ns("2024-01-02T03:04:08Z");
  EXPECT_EQ(since_cutoff_ns(now, 2), now - 2000000000LL);
  EXPECT_EQ(since_cutoff_ns(now, max), min);
  EXPECT_EQ(since_cutoff_ns(-now, max / 1000000000LL), min);  // the product fits, the difference does not
  EXPECT_EQ(since_cutoff_ns(now, max / 1000000000LL), now - max / 1000000000LL * 1000000000LL);
  std::vector<LogLine> lines;
  LogDecoder d;
  d.feed("1970-01-01T00:00:01Z stdout F ancient\n2024-01-02T03:04:07Z stdout F new\n", lines);
  ASSERT_EQ(lines.size(), 2u);
  LogOptions o;
  o.since_seconds = max;
  EXPECT_EQ(render_lines(lines, o, now, nullptr), "ancient\nnew\n");
}

// A log of ~400 KiB: short lines, a malformed record, logical lines made of P
// records that span the 64 KiB read blocks, and an incomplete record at the end.
std::string big_log(std::vector<std::string>* want_lines) {
  std::string log;
  std::mt19937 rng(7);
  for (int i = 0; i < 3000; ++i) {
    std::string ts = "2024-01-02T03:04:05." + std::to_string(100000000 + i) + "Z";
    if (i % 500 == 250) {
      // One logical line of 40 partial records of 1-2 KiB each (> 64 KiB in all).
      std::string whole;
      for (int k = 0; k < 40; ++k) {
        std::string part(1024 + rng() % 1024, static_cast<char>('a' + k % 26));
        log += ts + " stdout P " + part + "\n";
        whole += part;
      }
      log += ts + " stdout F end" + std::to_string(i) + "\n";
      want_lines->push_back(whole + "end" + std::to_string(i) + "\n");
    } else if (i % 700 == 3) {
      log += "not a record at all " + std::to_string(i) + "\n";
    } else {
      std::string text = "line " + std::to_string(i) + std::string(rng() % 60, 'x');
      log += ts + (i % 2 ? " stderr F " : " stdout F ") + text + "\n";
      want_lines->push_back(text + "\n");
    }
  }
  log += "2024-01-02T03:04:06Z stdout P never finished";  // no newline: not a line yet
  return log;
}

TEST(KubeletLogRead, BlockwiseAndBackwardTailMatchAFullDecode) {
  fs::path dir = fs::temp_directory_path() / ("minik8s-test-" + std::to_string(::getpid()) + "-klr-" +
                                              std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  std::vector<std::string> want;
  std::string log = big_log(&want);
  ASSERT_GT(log.size(), 5u * 64 * 1024);
  std::string path = (dir / "big.log").string();
  std::ofstream(path, std::ios::binary) << log;
  auto join = [&](size_t from) {
    std::string s;
    for (size_t i = from; i < want.size(); ++i) s += want[i];
    return s;
  };
  LogOptions o;
  auto all = read_logs(path, o, 0);
  ASSERT_TRUE(all.is_ok());
  EXPECT_EQ(*all, join(0));
  // Tails that end inside, at the edge of, and beyond the long partial lines and the malformed records.
  for (int64_t n : std::vector<int64_t>{0, 1, 2, 3, 50, 248, 249, 250, 251, 700, 2995, static_cast<int64_t>(want.size()),
                    static_cast<int64_t>(want.size()) + 1, int64_t{1} << 40}) {
    o.tail_lines = n;
    auto got = read_logs(path, o, 0);
    ASSERT_TRUE(got.is_ok());
    size_t from = static_cast<uint64_t>(n) >= want.size() ? 0 : want.size() - static_cast<size_t>(n);
    EXPECT_EQ(*got, join(from)) << "tailLines=" << n;
  }
  // With a limit, the output stops exactly there.
  o.tail_lines = 260;
  o.limit_bytes = 100000;
  auto lim = read_logs(path, o, 0);
  ASSERT_TRUE(lim.is_ok());
  EXPECT_EQ(*lim, join(want.size() - 260).substr(0, 100000));
  // A file whose very first record is the cut: the tail is everything after it.
  std::string small = (dir / "small.log").string();
  std::ofstream(small, std::ios::binary) << "2024-01-02T03:04:05Z stdout F a\n2024-01-02T03:04:06Z stdout F b\n";
  LogOptions t1;
  t1.tail_lines = 1;
  EXPECT_EQ(*read_logs(small, t1, 0), "b\n");
  EXPECT_EQ(read_logs((dir / "none.log").string(), t1, 0).status().code(), Code::kNotFound);
  fs::remove_all(dir);
}

// ---------------------------------------------------------------- fakes

struct FakeLocator : ContainerLocator {
  std::mutex mu;
  std::map<std::string, ContainerRef> current, previous;  // key "ns/pod/container"
  Result<ContainerRef> find_container(const std::string& ns, const std::string& pod, const std::string& container,
                                      bool prev) override {
    std::lock_guard l(mu);
    auto& m = prev ? previous : current;
    std::string c = container.empty() ? "main" : container;
    auto it = m.find(ns + "/" + pod + "/" + c);
    if (it == m.end()) return not_found("container \"" + c + "\" in pod \"" + pod + "\" not found");
    return it->second;
  }
  std::vector<PodUsage> pod_usage() override {
    PodUsage p;
    p.namespace_ = "default";
    p.name = "web";
    p.uid = "u1";
    p.containers.push_back({"main", 2500000000ULL, 1000000, 4096, 1});
    p.containers.push_back({"side", 500000000ULL, 500000, 1024, 1});
    p.cpu_usage_nano_cores = 1500000;
    p.memory_working_set_bytes = 5120;
    return {p};
  }
  std::string node_name() override { return "node-a"; }
  size_t running_pods() override { return 1; }
};

// Only exec() matters to the server; the rest says "unimplemented".
struct ExecOnlyRuntime : cri::Runtime {
  std::mutex mu;
  std::vector<cri::ExecRequest> calls;
  std::string url;
  Status no() { return Status(Code::kInternal, "not in this fake"); }
  Result<cri::VersionInfo> version() override { return no(); }
  Result<std::string> run_pod_sandbox(const cri::SandboxConfig&) override { return no(); }
  Status stop_pod_sandbox(const std::string&) override { return no(); }
  Status remove_pod_sandbox(const std::string&) override { return no(); }
  Result<cri::SandboxStatus> pod_sandbox_status(const std::string&) override { return no(); }
  Result<std::vector<cri::Sandbox>> list_pod_sandboxes(const cri::Labels&) override { return no(); }
  Result<std::string> create_container(const std::string&, const cri::ContainerConfig&,
                                       const cri::SandboxConfig&) override {
    return no();
  }
  Status start_container(const std::string&) override { return no(); }
  Status stop_container(const std::string&, int64_t) override { return no(); }
  Status remove_container(const std::string&) override { return no(); }
  Result<std::vector<cri::Container>> list_containers(const cri::ContainerFilter&) override { return no(); }
  std::map<std::string, cri::ContainerState> states;  // guarded by mu; others: an error (not kNotFound)
  void set_state(const std::string& id, cri::ContainerState st) {
    std::lock_guard l(mu);
    states[id] = st;
  }
  int status_calls = 0;
  Result<cri::ContainerStatus> container_status(const std::string& id) override {
    std::lock_guard l(mu);
    ++status_calls;
    auto it = states.find(id);
    if (it == states.end()) return no();
    cri::ContainerStatus cs;
    cs.container.id = id;
    cs.container.state = it->second;
    return cs;
  }
  Status update_container_resources(const std::string&, const cri::Resources&) override { return no(); }
  Result<cri::ExecSyncResult> exec_sync(const std::string&, const std::vector<std::string>&, int64_t) override {
    return no();
  }
  Result<std::string> exec(const cri::ExecRequest& r) override {
    std::lock_guard l(mu);
    calls.push_back(r);
    return url + "/" + r.container_id;
  }
  Result<std::vector<cri::ContainerStats>> list_container_stats() override { return no(); }
  Result<std::vector<cri::Image>> list_images() override { return no(); }
  Result<std::optional<cri::Image>> image_status(const std::string&) override { return no(); }
  Result<std::string> pull_image(const std::string&, const cri::SandboxConfig*) override { return no(); }
  Status remove_image(const std::string&) override { return no(); }
};

// A WebSocket server that speaks only v4.channel.k8s.io, like containerd 1.6's
// streaming server: answers each stdin frame with its upper-cased text on
// stdout and "err:" + text on stderr; on stdin "exit N\n" sends the exit
// Status and closes. Records every channel byte it receives.
class FakeStreamingServer {
 public:
  FakeStreamingServer() : acceptor_(ioc_, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)) {
    thread_ = std::thread([this] { run(); });
  }
  ~FakeStreamingServer() {
    beast::error_code ec;
    ::shutdown(acceptor_.native_handle(), SHUT_RDWR);
    acceptor_.close(ec);
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/exec"; }
  std::vector<int> channels() {
    std::lock_guard l(mu_);
    return channels_;
  }
  std::string target() {
    std::lock_guard l(mu_);
    return target_;
  }

 private:
  void run() {
    for (;;) {
      tcp::socket s(ioc_);
      beast::error_code ec;
      acceptor_.accept(s, ec);
      if (ec) return;
      try {
        serve(std::move(s));
      } catch (...) {
      }
    }
  }
  void serve(tcp::socket s) {
    beast::flat_buffer buf;
    http::request<http::string_body> req;
    http::read(s, buf, req);
    {
      std::lock_guard l(mu_);
      target_ = std::string(req.target());
    }
    std::string offered(req[http::field::sec_websocket_protocol]);
    websocket::stream<tcp::socket> ws(std::move(s));
    if (offered.find("v4.channel.k8s.io") == std::string::npos) {
      http::response<http::string_body> res{http::status::bad_request, 11};
      res.body() = "want v4.channel.k8s.io";
      res.prepare_payload();
      http::write(beast::get_lowest_layer(ws), res);
      return;
    }
    ws.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& r) { r.set(http::field::sec_websocket_protocol, "v4.channel.k8s.io"); }));
    ws.accept(req);
    ws.binary(true);
    for (;;) {
      beast::flat_buffer m;
      beast::error_code ec;
      ws.read(m, ec);
      if (ec) return;
      std::string msg = beast::buffers_to_string(m.data());
      if (msg.empty()) continue;
      {
        std::lock_guard l(mu_);
        channels_.push_back(static_cast<unsigned char>(msg[0]));
      }
      if (msg[0] != 0) continue;
      std::string text = msg.substr(1);
      if (text.rfind("exit ", 0) == 0) {
        int code = std::stoi(text.substr(5));
        ws.write(net::buffer(stream::frame(stream::kError, stream::exit_status_json(code))));
        ws.close(websocket::close_code::normal);
        return;
      }
      std::string up = text;
      for (auto& ch : up) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      ws.write(net::buffer(stream::frame(stream::kStdout, up)));
      ws.write(net::buffer(stream::frame(stream::kStderr, "err:" + text)));
    }
  }

  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<int> channels_;
  std::string target_;
};

// ---------------------------------------------------------------- fixture

class KubeletServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("minik8s-test-" + std::to_string(::getpid()) + "-kls-" +
                                        std::to_string(std::random_device{}()));
    fs::create_directories(dir_);
    server_ = std::make_unique<KubeletHttpServer>(locator_, runtime_, "127.0.0.1:0");
    ASSERT_TRUE(server_->start().is_ok());
  }
  void TearDown() override {
    server_.reset();
    fs::remove_all(dir_);
  }

  std::string write_log(const std::string& name, const std::string& content) {
    fs::path p = dir_ / name;
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  void add_container(const std::string& key, const std::string& id, const std::string& log, bool previous = false) {
    std::lock_guard l(locator_.mu);
    (previous ? locator_.previous : locator_.current)[key] = ContainerRef{"u1", id, log};
  }

  struct Resp {
    int code = 0;
    std::string body;
  };
  Resp get(const std::string& target) {
    net::io_context ioc;
    tcp::socket s(ioc);
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())));
    http::request<http::string_body> r{http::verb::get, target, 11};
    r.set(http::field::host, "k");
    http::write(s, r);
    beast::flat_buffer b;
    http::response<http::string_body> res;
    http::read(s, b, res);
    return {static_cast<int>(res.result_int()), res.body()};
  }

  fs::path dir_;
  FakeLocator locator_;
  ExecOnlyRuntime runtime_;
  std::unique_ptr<KubeletHttpServer> server_;
};

TEST_F(KubeletServerTest, HealthzStatsMetrics) {
  EXPECT_EQ(get("/healthz").body, "ok");
  auto s = get("/stats/summary");
  ASSERT_EQ(s.code, 200);
  json j = json::parse(s.body);
  EXPECT_EQ(j["node"]["nodeName"], "node-a");
  EXPECT_EQ(j["node"]["memory"]["workingSetBytes"], 5120);
  ASSERT_EQ(j["pods"].size(), 1u);
  EXPECT_EQ(j["pods"][0]["podRef"]["name"], "web");
  EXPECT_EQ(j["pods"][0]["cpu"]["usageNanoCores"], 1500000);
  EXPECT_EQ(j["pods"][0]["containers"][1]["name"], "side");
  EXPECT_EQ(j["pods"][0]["containers"][0]["cpu"]["usageCoreNanoSeconds"], 2500000000ULL);
  auto m = get("/metrics").body;
  EXPECT_NE(m.find("container_cpu_usage_seconds_total{container=\"main\",namespace=\"default\",pod=\"web\"} 2.500000000"),
            std::string::npos)
      << m;
  EXPECT_NE(m.find("container_memory_working_set_bytes{container=\"side\",namespace=\"default\",pod=\"web\"} 1024"),
            std::string::npos);
  EXPECT_NE(m.find("kubelet_running_pods 1"), std::string::npos);
  EXPECT_EQ(get("/nope").code, 404);
}

TEST_F(KubeletServerTest, ContainerLogsTailPreviousAndErrors) {
  add_container("default/web/main", "c2",
                write_log("cur.log", "2024-01-02T03:04:05Z stdout F one\n2024-01-02T03:04:06Z stderr P tw\n"
                                     "2024-01-02T03:04:06Z stderr F o\n2024-01-02T03:04:07Z stdout F three\n"));
  add_container("default/web/main", "c1", write_log("prev.log", "2024-01-01T00:00:00Z stdout F old run\n"), true);
  auto r = get("/containerLogs/default/web/main");
  EXPECT_EQ(r.code, 200);
  EXPECT_EQ(r.body, "one\ntwo\nthree\n");
  EXPECT_EQ(get("/containerLogs/default/web/main?tailLines=1").body, "three\n");
  EXPECT_EQ(get("/containerLogs/default/web/main?tailLines=2&timestamps=true").body,
            "2024-01-02T03:04:06Z two\n2024-01-02T03:04:07Z three\n");
  EXPECT_EQ(get("/containerLogs/default/web/main?limitBytes=6").body, "one\ntw");
  EXPECT_EQ(get("/containerLogs/default/web/main?previous=true").body, "old run\n");
  // "" container → the locator's default.
  EXPECT_EQ(get("/containerLogs/default/web").body, "one\ntwo\nthree\n");
  auto nf = get("/containerLogs/default/web/other");
  EXPECT_EQ(nf.code, 404);
  EXPECT_EQ(json::parse(nf.body)["message"], "container \"other\" in pod \"web\" not found");
  add_container("default/web/gone", "c3", (dir_ / "missing.log").string());
  EXPECT_EQ(get("/containerLogs/default/web/gone").code, 404);
}

TEST_F(KubeletServerTest, ContainerLogsFollowSeesGrowthAndReplacement) {
  std::string path = write_log("f.log", "2024-01-02T03:04:05Z stdout F first\n");
  add_container("default/web/main", "c2", path);
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())));
  http::request<http::string_body> r{http::verb::get, "/containerLogs/default/web/main?follow=true", 11};
  http::write(s, r);
  beast::flat_buffer b;
  http::response_parser<http::buffer_body> p;
  http::read_header(s, b, p);
  ASSERT_EQ(p.get().result_int(), 200u);
  std::string got;
  auto read_until = [&](const std::string& want) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    char tmp[4096];
    while (got.find(want) == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      p.get().body().data = tmp;
      p.get().body().size = sizeof tmp;
      beast::error_code ec;
      http::read_some(s, b, p, ec);
      if (ec && ec != http::error::need_buffer) break;
      got.append(tmp, sizeof tmp - p.get().body().size);
    }
    return got.find(want) != std::string::npos;
  };
  ASSERT_TRUE(read_until("first\n")) << got;
  std::ofstream(path, std::ios::app) << "2024-01-02T03:04:06Z stdout P sec" << std::flush;
  std::ofstream(path, std::ios::app) << "ond\n" << std::flush;  // not yet a complete record: no output
  std::ofstream(path, std::ios::app) << "2024-01-02T03:04:06Z stdout F !\n" << std::flush;
  ASSERT_TRUE(read_until("second!\n")) << got;
  // Rotation: a new file renamed over the old one is followed from its start.
  std::string fresh = write_log("f.log.new", "2024-01-02T03:05:00Z stdout F rotated\n");
  fs::rename(fresh, path);
  ASSERT_TRUE(read_until("rotated\n")) << got;
  EXPECT_EQ(got, "first\nsecond!\nrotated\n");
}

// A WebSocket client speaking v5 to the kubelet.
struct WsClient {
  net::io_context ioc;
  std::unique_ptr<stream::WsStream> ws;
  std::string proto;
  stream::UpgradeRefused refused;
  Status connect(int port, const std::string& target, std::vector<std::string> protos = {"v5.channel.k8s.io"}) {
    auto r = stream::connect_ws(ioc, "127.0.0.1", std::to_string(port), target, protos, &proto, &refused);
    if (!r) return r.status();
    ws = std::move(*r);
    return Status::ok();
  }
  void send(unsigned char ch, const std::string& s) { ws->write(net::buffer(stream::frame(ch, s))); }
  // Reads until close; returns the concatenated payload per channel.
  std::map<int, std::string> drain() {
    std::map<int, std::string> out;
    for (;;) {
      beast::flat_buffer b;
      beast::error_code ec;
      ws->read(b, ec);
      if (ec) break;
      std::string m = beast::buffers_to_string(b.data());
      if (!m.empty()) out[static_cast<unsigned char>(m[0])] += m.substr(1);
    }
    return out;
  }
};

TEST_F(KubeletServerTest, ExecRelaysV5ToAV4StreamingServer) {
  FakeStreamingServer cri;
  runtime_.url = cri.url();
  add_container("default/web/main", "cid-7", write_log("x.log", ""));
  WsClient c;
  ASSERT_TRUE(c.connect(server_->port(),
                        "/exec/default/web/main?command=sh&command=-c&command=echo%20hi&stdin=true&stdout=true&stderr=true")
                  .is_ok());
  EXPECT_EQ(c.proto, "v5.channel.k8s.io");
  c.send(stream::kStdin, "abc\n");
  c.send(stream::kResize, R"({"Width":80,"Height":24})");
  c.send(stream::kClose, std::string(1, '\0'));  // v5 close-stdin: not forwardable to a v4 server
  c.send(stream::kStdin, "exit 3");
  auto out = c.drain();
  EXPECT_EQ(out[stream::kStdout], "ABC\n");
  EXPECT_EQ(out[stream::kStderr], "err:abc\n");
  json st = json::parse(out[stream::kError]);
  EXPECT_EQ(st["reason"], "NonZeroExitCode");
  EXPECT_EQ(st["details"]["causes"][0]["message"], "3");
  // The runtime got the command and container; the streaming server saw stdin and resize, not 255.
  {
    std::lock_guard l(runtime_.mu);
    ASSERT_EQ(runtime_.calls.size(), 1u);
    EXPECT_EQ(runtime_.calls[0].container_id, "cid-7");
    EXPECT_EQ(runtime_.calls[0].cmd, (std::vector<std::string>{"sh", "-c", "echo hi"}));
    EXPECT_TRUE(runtime_.calls[0].stdin_);
    EXPECT_TRUE(runtime_.calls[0].stderr_);
    EXPECT_FALSE(runtime_.calls[0].tty);
  }
  EXPECT_EQ(cri.target(), "/exec/cid-7");
  EXPECT_EQ(cri.channels(), (std::vector<int>{0, 4, 0}));
}

TEST_F(KubeletServerTest, ExecV4PassesThroughAndErrorsAreStatuses) {
  FakeStreamingServer cri;
  runtime_.url = cri.url();
  add_container("default/web/main", "cid-8", write_log("x.log", ""));
  WsClient c;
  ASSERT_TRUE(c.connect(server_->port(), "/exec/default/web/main?command=true&stdout=true",
                        {"v4.channel.k8s.io", "channel.k8s.io"})
                  .is_ok());
  EXPECT_EQ(c.proto, "v4.channel.k8s.io");
  c.send(stream::kStdin, "exit 0");
  auto out = c.drain();
  EXPECT_EQ(json::parse(out[stream::kError])["status"], "Success");

  WsClient missing;
  EXPECT_FALSE(missing.connect(server_->port(), "/exec/default/web/nope?command=true").is_ok());
  EXPECT_EQ(missing.refused.code, 404);
  EXPECT_NE(missing.refused.body.find("container \\\"nope\\\" in pod \\\"web\\\" not found"), std::string::npos)
      << missing.refused.body;
  WsClient nocmd;
  EXPECT_FALSE(nocmd.connect(server_->port(), "/exec/default/web/main").is_ok());
  EXPECT_EQ(nocmd.refused.code, 400);
  WsClient badproto;
  EXPECT_FALSE(badproto.connect(server_->port(), "/exec/default/web/main?command=x", {"base64.channel.k8s.io"}).is_ok());
  EXPECT_EQ(badproto.refused.code, 400);
  // Plain HTTP (no upgrade) is refused with a reason.
  auto plain = get("/exec/default/web/main?command=x");
  EXPECT_EQ(plain.code, 400);
  EXPECT_NE(plain.body.find("WebSocket"), std::string::npos);
}

// The client is upgraded before the exec starts (output that arrived with the
// 101 would race client-go's stream setup), so a runtime that cannot be
// reached is reported on the error channel, as upstream does.
TEST_F(KubeletServerTest, ExecUpgradesFirstAndReportsARuntimeFailureOnTheErrorChannel) {
  runtime_.url = "http://127.0.0.1:1/exec";  // nothing listens on port 1
  add_container("default/web/main", "cid-9", write_log("x.log", ""));
  WsClient c;
  ASSERT_TRUE(c.connect(server_->port(), "/exec/default/web/main?command=true&stdout=true").is_ok());
  auto out = c.drain();
  json st = json::parse(out[stream::kError]);
  EXPECT_EQ(st["status"], "Failure");
  EXPECT_NE(st["message"].get<std::string>().find("runtime streaming server"), std::string::npos) << st.dump();
  EXPECT_TRUE(out[stream::kStdout].empty());
}

TEST_F(KubeletServerTest, StopEndsAFollowingLogStream) {
  add_container("default/web/main", "c2", write_log("s.log", "2024-01-02T03:04:05Z stdout F x\n"));
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server_->port())));
  http::request<http::string_body> r{http::verb::get, "/containerLogs/default/web/main?follow=1", 11};
  http::write(s, r);
  beast::flat_buffer b;
  http::response_parser<http::string_body> p;
  http::read_header(s, b, p);
  // Wait until the existing line has arrived: the stream is now following.
  beast::error_code ec;
  while (p.get().body().find("x\n") == std::string::npos && !p.is_done() && !ec) http::read_some(s, b, p, ec);
  ASSERT_NE(p.get().body().find("x\n"), std::string::npos) << ec.message();
  ASSERT_FALSE(p.is_done());
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  http::read(s, b, p, ec);  // the stream ends (cleanly or by close)
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
}


// Opens a follow stream and reads its body until it ends (or the deadline).
struct FollowReader {
  net::io_context ioc;
  tcp::socket s{ioc};
  beast::flat_buffer b;
  http::response_parser<http::buffer_body> p;
  std::string got;
  bool ended = false;
  void open(int port, const std::string& target) {
    s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(port)));
    http::request<http::string_body> r{http::verb::get, target, 11};
    http::write(s, r);
    http::read_header(s, b, p);
  }
  // Reads until `want` shows up (want "" = until the stream ends) or the deadline.
  bool read_until(const std::string& want, std::chrono::seconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    char tmp[4096];
    while (!ended && (want.empty() || got.find(want) == std::string::npos) &&
           std::chrono::steady_clock::now() < deadline) {
      p.get().body().data = tmp;
      p.get().body().size = sizeof tmp;
      beast::error_code ec;
      http::read_some(s, b, p, ec);
      got.append(tmp, sizeof tmp - p.get().body().size);
      if (p.is_done()) ended = true;
      if (ec && ec != http::error::need_buffer) break;
    }
    return want.empty() ? ended : got.find(want) != std::string::npos;
  }
};

TEST_F(KubeletServerTest, FollowEndsOnceTheContainerExits) {
  std::string path = write_log("e.log", "2024-01-02T03:04:05Z stdout F first\n");
  add_container("default/web/main", "c-run", path);
  runtime_.set_state("c-run", cri::ContainerState::kRunning);
  FollowReader f;
  f.open(server_->port(), "/containerLogs/default/web/main?follow=true");
  ASSERT_EQ(f.p.get().result_int(), 200u);
  ASSERT_TRUE(f.read_until("first\n")) << f.got;
  // Still running: the stream stays open past a few status checks.
  std::ofstream(path, std::ios::app) << "2024-01-02T03:04:06Z stdout F second\n" << std::flush;
  ASSERT_TRUE(f.read_until("second\n")) << f.got;
  EXPECT_FALSE(f.ended);
  // The last words, then the exit: they are sent and the response ends by itself.
  std::ofstream(path, std::ios::app) << "2024-01-02T03:04:07Z stdout F last\n" << std::flush;
  runtime_.set_state("c-run", cri::ContainerState::kExited);
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_TRUE(f.read_until("", 10s)) << f.got;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(f.got, "first\nsecond\nlast\n");
  {
    std::lock_guard l(runtime_.mu);
    EXPECT_GE(runtime_.status_calls, 1);
  }

  // Already exited (e.g. previous=true, or a completed pod): the follow ends at once, with the content.
  add_container("default/web/done", "c-done", write_log("d.log", "2024-01-02T03:04:05Z stdout F bye\n"));
  runtime_.set_state("c-done", cri::ContainerState::kExited);
  FollowReader g;
  g.open(server_->port(), "/containerLogs/default/web/done?follow=true");
  EXPECT_TRUE(g.read_until("", 5s)) << g.got;
  EXPECT_EQ(g.got, "bye\n");
}

TEST_F(KubeletServerTest, BadLogParametersAre400) {
  add_container("default/web/main", "c2", write_log("p.log", "2024-01-02T03:04:05Z stdout F one\n"));
  for (const char* q : {"sinceSeconds=0", "sinceSeconds=-5", "sinceSeconds=1000000001",
                        "sinceSeconds=99999999999999999999", "sinceSeconds=9223372036854775807", "sinceSeconds=abc",
                        "tailLines=-2", "tailLines=1x", "limitBytes=0", "limitBytes=-1"}) {
    auto r = get(std::string("/containerLogs/default/web/main?") + q);
    EXPECT_EQ(r.code, 400) << q;
    std::string key(q, std::strchr(q, '=') - q);
    json j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << q << ": " << r.body;
    EXPECT_EQ(j["reason"], "BadRequest");
    EXPECT_NE(j.value("message", "").find(key), std::string::npos) << q << ": " << r.body;
  }
  // The edges that are allowed; sinceSeconds keeps the (timestamp 2024) line.
  EXPECT_EQ(get("/containerLogs/default/web/main?sinceSeconds=1000000000").body, "one\n");
  EXPECT_EQ(get("/containerLogs/default/web/main?tailLines=-1").body, "one\n");
  EXPECT_EQ(get("/containerLogs/default/web/main?limitBytes=1").body, "o");
  EXPECT_EQ(get("/containerLogs/default/web/main?sinceSeconds=1").body, "");
}

TEST(KubeletServerNodeName, SummaryReportsTheNameGiven) {
  testing::FakeRestClient rest;
  client::Client client(rest);
  ExecOnlyRuntime runtime;
  KubeletOptions ko;
  ko.node_name = "node-from-agent";
  Kubelet kubelet(client, runtime, ko);  // not started: no pods, no stats
  KubeletServerOptions so;
  so.listen = "127.0.0.1:0";
  so.node_name = "node-from-agent";
  KubeletServer server(kubelet, runtime, so);
  ASSERT_TRUE(server.start().is_ok());
  net::io_context ioc;
  tcp::socket s(ioc);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<uint16_t>(server.port())));
  http::request<http::string_body> r{http::verb::get, "/stats/summary", 11};
  r.set(http::field::host, "k");
  http::write(s, r);
  beast::flat_buffer b;
  http::response<http::string_body> res;
  http::read(s, b, res);
  json j = json::parse(res.body());
  EXPECT_EQ(j["node"]["nodeName"], "node-from-agent");
  EXPECT_TRUE(j["pods"].empty());
  server.stop();
}


// ---------------------------------------------------------------- connection limits (docs/logs-exec.md)

int dial(int port) { return testing::dial_loopback(static_cast<uint16_t>(port)); }
bool send_text(int fd, const std::string& s) { return testing::send_all(fd, s); }

// Reads until want shows up (true), the server closes, or the deadline passes.
bool read_until(int fd, const std::string& want, std::chrono::milliseconds limit, std::string* out) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (!want.empty() && out->find(want) != std::string::npos) return true;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) continue;
    char buf[4096];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return want.empty();
    out->append(buf, static_cast<size_t>(n));
  }
  return !want.empty() && out->find(want) != std::string::npos;
}
// True when the server closes the connection before the deadline.
bool closed_by_server(int fd, std::chrono::milliseconds limit) {
  std::string ignored;
  return read_until(fd, "", limit, &ignored);
}

class KubeletServerLimitsTest : public KubeletServerTest {
 protected:
  void restart(std::chrono::milliseconds timeout, size_t max, ConnectionServer::Spawner spawn = nullptr) {
    server_.reset();
    ConnLimits lim;
    lim.header_timeout = lim.body_timeout = lim.idle_timeout = timeout;
    lim.max_connections = max;
    server_ = std::make_unique<KubeletHttpServer>(locator_, runtime_, "127.0.0.1:0", lim, std::move(spawn));
    ASSERT_TRUE(server_->start().is_ok());
  }
  const std::string healthz_ = "GET /healthz HTTP/1.1\r\nHost: k\r\n\r\n";
};

TEST_F(KubeletServerLimitsTest, SlowHeadersStalledBodiesAndIdleConnectionsAreClosed) {
  restart(300ms, 1024);
  int header = dial(server_->port()), body = dial(server_->port()), idle = dial(server_->port());
  auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(send_text(header, "GET /healthz HTTP/1.1\r\nHost:"));
  ASSERT_TRUE(send_text(body, "POST /healthz HTTP/1.1\r\nHost: k\r\nContent-Length: 5000\r\n\r\nx"));
  std::string got;
  ASSERT_TRUE(send_text(idle, healthz_));
  ASSERT_TRUE(read_until(idle, "ok", 5s, &got)) << got;
  EXPECT_TRUE(closed_by_server(header, 5s)) << "a slow header kept the connection";
  EXPECT_TRUE(closed_by_server(body, 5s)) << "a stalled body kept the connection";
  EXPECT_TRUE(closed_by_server(idle, 5s)) << "an idle keep-alive connection stayed open";
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 250ms);
  for (int fd : {header, body, idle}) ::close(fd);
  EXPECT_EQ(get("/healthz").body, "ok");
}

TEST_F(KubeletServerLimitsTest, PastTheCapA429StatusThenServedAgain) {
  restart(20s, 2);
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(dial(server_->port()));
    std::string got;
    ASSERT_TRUE(send_text(held.back(), healthz_));
    ASSERT_TRUE(read_until(held.back(), "ok", 5s, &got)) << got;
  }
  int fd = dial(server_->port());
  ASSERT_TRUE(send_text(fd, healthz_));
  std::string refused;
  read_until(fd, "", 5s, &refused);
  ::close(fd);
  ASSERT_EQ(refused.rfind("HTTP/1.1 429 ", 0), 0u) << refused;
  json st = json::parse(refused.substr(refused.find("\r\n\r\n") + 4), nullptr, false);
  EXPECT_EQ(st.value("kind", ""), "Status");
  EXPECT_EQ(st.value("message", ""), "too many open connections (limit 2)");
  ::close(held[0]);
  auto deadline = std::chrono::steady_clock::now() + 10s;
  std::string ok;
  while (ok != "ok" && std::chrono::steady_clock::now() < deadline) {
    int c = dial(server_->port());
    std::string got;
    if (send_text(c, healthz_) && read_until(c, "\r\n\r\nok", 1s, &got)) ok = "ok";
    ::close(c);
  }
  EXPECT_EQ(ok, "ok");
  ::close(held[1]);
}

TEST_F(KubeletServerLimitsTest, AThreadThatCannotStartRefusesOnlyThatConnection) {
  std::atomic<int> calls{0};
  restart(20s, 1024, [&](std::function<void()> fn) {
    if (calls++ == 0) throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again));
    return std::thread(std::move(fn));
  });
  int fd = dial(server_->port());
  ASSERT_TRUE(send_text(fd, healthz_));
  std::string refused;
  read_until(fd, "", 5s, &refused);
  ::close(fd);
  EXPECT_EQ(refused.rfind("HTTP/1.1 503 ", 0), 0u) << refused;
  EXPECT_EQ(get("/healthz").body, "ok");
}

TEST_F(KubeletServerLimitsTest, AFollowedLogOutlivesTheIdleTimeout) {
  restart(300ms, 1024);
  std::string path = write_log("idle.log", "2024-01-02T03:04:05Z stdout F first\n");
  add_container("default/web/main", "c-idle", path);
  int follow = dial(server_->port());
  ASSERT_TRUE(send_text(follow, "GET /containerLogs/default/web/main?follow=true HTTP/1.1\r\nHost: k\r\n\r\n"));
  std::string got;
  ASSERT_TRUE(read_until(follow, "first", 5s, &got)) << got;
  // An idle connection opened now is closed: the timeout has run out for the follow too.
  int idle = dial(server_->port());
  std::string ignored;
  ASSERT_TRUE(send_text(idle, healthz_));
  ASSERT_TRUE(read_until(idle, "ok", 5s, &ignored));
  ASSERT_TRUE(closed_by_server(idle, 5s));
  ::close(idle);
  std::ofstream(path, std::ios::app) << "2024-01-02T03:04:06Z stdout F second\n";
  EXPECT_TRUE(read_until(follow, "second", 5s, &got)) << got;
  ::close(follow);
}

}  // namespace
}  // namespace minik8s::kubelet
