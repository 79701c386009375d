// The codec and the zone's answers, without sockets.
#include "zone.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <random>

#include "wire.h"

namespace minik8s::dns {
namespace {

using api::Json;

Json service(const std::string& ns, const std::string& name, const std::string& ip, Json ports = Json::array()) {
  if (ports.empty()) ports = Json::array({{{"name", "http"}, {"port", 80}, {"protocol", "TCP"}}});
  return {{"apiVersion", "v1"},
          {"kind", "Service"},
          {"metadata", {{"name", name}, {"namespace", ns}}},
          {"spec", {{"clusterIP", ip}, {"ports", ports}}}};
}

std::string query(const std::string& name, uint16_t type, uint16_t id = 0x1234, int edns = 0) {
  MessageWriter w(id, kFlagRD);
  // Questions keep the caller's case: put_name writes labels as given.
  w.add_question(name, type);
  if (edns) w.add_opt(static_cast<uint16_t>(edns));
  return w.take();
}

struct Answer {
  Action action;
  Message msg;
  std::string bytes;
};

Answer ask(const Snapshot& s, const std::string& q, bool udp = true, size_t cap = 4096) {
  std::vector<uint8_t> out(cap);
  size_t n = 0;
  Answer a;
  a.action = answer_query(s, reinterpret_cast<const uint8_t*>(q.data()), q.size(), udp, out.data(), cap, &n);
  a.bytes.assign(reinterpret_cast<const char*>(out.data()), n);
  if (a.action == Action::kRespond) {
    auto m = parse_message(a.bytes);
    EXPECT_TRUE(m.is_ok()) << m.status().to_string();
    if (m) a.msg = *m;
  }
  return a;
}

std::shared_ptr<const Snapshot> zone() {
  Json headless = service("db", "pg", "None");
  Json eps = {{"metadata", {{"name", "pg"}, {"namespace", "db"}}},
              {"subsets",
               {{{"addresses", {{{"ip", "10.244.1.5"}, {"hostname", "pg-0"}}, {{"ip", "10.244.2.6"}}}},
                 {"notReadyAddresses", {{{"ip", "10.244.3.7"}}}},
                 {"ports", {{{"name", "sql"}, {"port", 5432}, {"protocol", "TCP"}}}}}}}};
  Json ext = {{"metadata", {{"name", "ext"}, {"namespace", "default"}}},
              {"spec", {{"type", "ExternalName"}, {"externalName", "example.org"}}}};
  Json dnsobj = {{"metadata", {{"name", "site"}, {"namespace", "default"}}},
                 {"spec", {{"host", "example.com"}, {"paths", Json::array()}}}};
  ZoneOptions o;
  o.ingress_ip = "192.168.7.1";
  o.ttl = 7;
  return build_snapshot(o, {service("default", "web", "10.96.0.10"), headless, ext, Json("garbage"), Json::object()},
                        {eps, Json(42)}, {dnsobj});
}

TEST(Wire, RoundTripsEveryRecordKindWithCompression) {
  MessageWriter w(7, kFlagQR | kFlagAA);
  w.add_question("Web.default.svc.cluster.local", kTypeSRV);
  uint8_t ip[4] = {10, 0, 0, 1};
  w.add_a(MessageWriter::Section::kAnswer, "web.default.svc.cluster.local", 5, ip);
  w.add_srv(MessageWriter::Section::kAnswer, "_http._tcp.web.default.svc.cluster.local", 5, 0, 100, 80,
            "web.default.svc.cluster.local");
  w.add_name_record(MessageWriter::Section::kAnswer, "x.cluster.local", kTypeCNAME, 5, "web.default.svc.cluster.local");
  SoaData soa{"ns.dns.cluster.local", "hostmaster.cluster.local", 9, 1, 2, 3, 4};
  w.add_soa(MessageWriter::Section::kAuthority, "cluster.local", 5, soa);
  w.add_opt(1232);
  auto m = parse_message(w.bytes());
  ASSERT_TRUE(m.is_ok()) << m.status().to_string();
  EXPECT_EQ(m->header.id, 7);
  ASSERT_EQ(m->questions.size(), 1u);
  EXPECT_EQ(m->questions[0].name, "Web.default.svc.cluster.local");
  ASSERT_EQ(m->answers.size(), 3u);
  EXPECT_EQ(m->answers[0].ip, "10.0.0.1");
  EXPECT_EQ(m->answers[0].name, "Web.default.svc.cluster.local");  // compressed to the question
  EXPECT_EQ(m->answers[1].srv.port, 80);
  EXPECT_EQ(m->answers[1].srv.target, "web.default.svc.cluster.local");
  EXPECT_EQ(m->answers[2].target, "Web.default.svc.cluster.local");
  ASSERT_EQ(m->authority.size(), 1u);
  EXPECT_EQ(m->authority[0].soa.mname, "ns.dns.cluster.local");
  EXPECT_EQ(m->authority[0].soa.minimum, 4u);
  EXPECT_EQ(m->edns_udp_size(), 1232);
  // The first answer's owner is a pointer to the question name at offset 12.
  size_t first_answer = kHeaderSize + name_to_wire("web.default.svc.cluster.local")->size() + 4;
  EXPECT_EQ(static_cast<uint8_t>(w.bytes()[first_answer]), 0xC0);
  EXPECT_EQ(static_cast<uint8_t>(w.bytes()[first_answer + 1]), 0x0C);
}

TEST(Wire, RejectsLoopsAndForwardPointers) {
  std::string loop = std::string("\0\1\0\0\0\1\0\0\0\0\0\0", 12) + "\xC0\x0C" + std::string("\0\1\0\1", 4);
  EXPECT_FALSE(parse_message(loop).is_ok());
  std::string fwd = std::string("\0\1\0\0\0\1\0\0\0\0\0\0", 12) + "\xC0\x20" + std::string("\0\1\0\1", 4);
  EXPECT_FALSE(parse_message(fwd).is_ok());
  EXPECT_FALSE(name_to_wire(std::string(64, 'a') + ".b").is_ok());
  EXPECT_FALSE(name_to_wire("a..b").is_ok());
  EXPECT_TRUE(name_to_wire("a.b.").is_ok());
}

TEST(Zone, ServiceARecordEchoesCaseAndId) {
  auto z = zone();
  auto a = ask(*z, query("WEB.Default.svc.Cluster.Local", kTypeA, 0xBEEF));
  ASSERT_EQ(a.action, Action::kRespond);
  EXPECT_EQ(a.msg.header.id, 0xBEEF);
  EXPECT_EQ(a.msg.header.rcode(), kRcodeNoError);
  EXPECT_TRUE(a.msg.header.flags & kFlagAA);
  EXPECT_TRUE(a.msg.header.flags & kFlagRD);
  EXPECT_EQ(a.msg.questions[0].name, "WEB.Default.svc.Cluster.Local");
  ASSERT_EQ(a.msg.answers.size(), 1u);
  EXPECT_EQ(a.msg.answers[0].ip, "10.96.0.10");
  EXPECT_EQ(a.msg.answers[0].ttl, 7u);
  EXPECT_EQ(a.msg.answers[0].name, "WEB.Default.svc.Cluster.Local");
}

TEST(Zone, SrvByPortNameAndNumberWithAdditionalA) {
  auto z = zone();
  for (const char* name : {"_http._tcp.web.default.svc.cluster.local", "_80._tcp.web.default.svc.cluster.local"}) {
    auto a = ask(*z, query(name, kTypeSRV));
    ASSERT_EQ(a.msg.answers.size(), 1u) << name;
    EXPECT_EQ(a.msg.answers[0].srv.port, 80);
    EXPECT_EQ(a.msg.answers[0].srv.target, "web.default.svc.cluster.local");
    ASSERT_EQ(a.msg.additional.size(), 1u);
    EXPECT_EQ(a.msg.additional[0].ip, "10.96.0.10");
  }
  EXPECT_EQ(ask(*z, query("_https._tcp.web.default.svc.cluster.local", kTypeSRV)).msg.header.rcode(),
            kRcodeNxDomain);
}

TEST(Zone, PtrForClusterIp) {
  auto a = ask(*zone(), query("10.0.96.10.in-addr.arpa", kTypePTR));
  ASSERT_EQ(a.msg.answers.size(), 1u);
  EXPECT_EQ(a.msg.answers[0].target, "web.default.svc.cluster.local");
}

TEST(Zone, PodNameFromItsAddress) {
  auto z = zone();
  auto a = ask(*z, query("10-244-1-9.anyns.pod.cluster.local", kTypeA));
  ASSERT_EQ(a.msg.answers.size(), 1u);
  EXPECT_EQ(a.msg.answers[0].ip, "10.244.1.9");
  EXPECT_EQ(ask(*z, query("10-244-1-999.anyns.pod.cluster.local", kTypeA)).msg.header.rcode(), kRcodeNxDomain);
  EXPECT_EQ(ask(*z, query("10-244-1-9.x.anyns.pod.cluster.local", kTypeA)).msg.header.rcode(), kRcodeNxDomain);
}

TEST(Zone, HeadlessServiceAnswersReadyEndpoints) {
  auto z = zone();
  auto a = ask(*z, query("pg.db.svc.cluster.local", kTypeA));
  ASSERT_EQ(a.msg.answers.size(), 2u);
  EXPECT_EQ(a.msg.answers[0].ip, "10.244.1.5");
  EXPECT_EQ(a.msg.answers[1].ip, "10.244.2.6");
  auto host = ask(*z, query("pg-0.pg.db.svc.cluster.local", kTypeA));
  ASSERT_EQ(host.msg.answers.size(), 1u);
  EXPECT_EQ(host.msg.answers[0].ip, "10.244.1.5");
  auto srv = ask(*z, query("_sql._tcp.pg.db.svc.cluster.local", kTypeSRV));
  ASSERT_EQ(srv.msg.answers.size(), 2u);
  EXPECT_EQ(srv.msg.answers[0].srv.target, "pg-0.pg.db.svc.cluster.local");
  EXPECT_EQ(srv.msg.answers[1].srv.target, "10-244-2-6.pg.db.svc.cluster.local");
  EXPECT_EQ(srv.msg.additional.size(), 2u);
}

TEST(Zone, ExternalNameIsACname) {
  auto a = ask(*zone(), query("ext.default.svc.cluster.local", kTypeAAAA));
  ASSERT_EQ(a.msg.answers.size(), 1u);
  EXPECT_EQ(a.msg.answers[0].type, kTypeCNAME);
  EXPECT_EQ(a.msg.answers[0].target, "example.org");
}

TEST(Zone, DnsObjectHostResolvesToIngress) {
  auto z = zone();
  auto a = ask(*z, query("Example.COM", kTypeA));
  ASSERT_EQ(a.msg.answers.size(), 1u);
  EXPECT_EQ(a.msg.answers[0].ip, "192.168.7.1");
  auto aaaa = ask(*z, query("example.com", kTypeAAAA));
  ASSERT_EQ(aaaa.action, Action::kRespond);  // ours: no forwarding for another type
  EXPECT_EQ(aaaa.msg.header.rcode(), kRcodeNoError);
  EXPECT_TRUE(aaaa.msg.answers.empty());
  EXPECT_EQ(ask(*z, query("www.example.com", kTypeA)).action, Action::kForward);
}

TEST(Zone, NxDomainAndNoDataCarryTheSoa) {
  auto z = zone();
  auto nx = ask(*z, query("web.default.svc.cluster.local.default.svc.cluster.local", kTypeA));
  EXPECT_EQ(nx.msg.header.rcode(), kRcodeNxDomain);
  EXPECT_TRUE(nx.msg.header.flags & kFlagAA);
  ASSERT_EQ(nx.msg.authority.size(), 1u);
  EXPECT_EQ(nx.msg.authority[0].type, kTypeSOA);
  EXPECT_EQ(nx.msg.authority[0].name, "cluster.local");
  auto nodata = ask(*z, query("web.default.svc.cluster.local", kTypeAAAA));
  EXPECT_EQ(nodata.msg.header.rcode(), kRcodeNoError);
  EXPECT_TRUE(nodata.msg.answers.empty());
  EXPECT_EQ(nodata.msg.authority.size(), 1u);
  // Empty non-terminals exist (RFC 8020): NOERROR, not NXDOMAIN.
  EXPECT_EQ(ask(*z, query("default.svc.cluster.local", kTypeA)).msg.header.rcode(), kRcodeNoError);
  auto soa = ask(*z, query("cluster.local", kTypeSOA));
  ASSERT_EQ(soa.msg.answers.size(), 1u);
  EXPECT_EQ(soa.msg.answers[0].soa.rname, "hostmaster.cluster.local");
  // Not label-aligned with the zone: forwarded.
  EXPECT_EQ(ask(*z, query("xcluster.local", kTypeA)).action, Action::kForward);
  EXPECT_EQ(ask(*z, query("example.org", kTypeA)).action, Action::kForward);
}

TEST(Zone, UnsyncedZoneAnswersServfailInsideAndForwardsOutside) {
  auto z = build_snapshot({}, {service("default", "web", "10.96.0.10")}, {}, {}, /*ready=*/false);
  auto a = ask(*z, query("web.default.svc.cluster.local", kTypeA, 3));
  ASSERT_EQ(a.action, Action::kRespond);
  EXPECT_EQ(a.msg.header.id, 3);
  EXPECT_EQ(a.msg.header.rcode(), kRcodeServFail);
  EXPECT_TRUE(a.msg.answers.empty());
  EXPECT_EQ(ask(*z, query("example.org", kTypeA)).action, Action::kForward);
}

TEST(Zone, EdnsIsEchoedAndBigAnswersTruncateOverUdp) {
  std::vector<Json> svcs;
  Json eps = {{"metadata", {{"name", "big"}, {"namespace", "default"}}}, {"subsets", Json::array()}};
  Json addrs = Json::array();
  for (int i = 0; i < 100; ++i) addrs.push_back({{"ip", "10.244.0." + std::to_string(i + 1)}});
  eps["subsets"].push_back({{"addresses", addrs}, {"ports", {{{"port", 80}}}}});
  auto z = build_snapshot({}, {service("default", "big", "None")}, {eps}, {});
  auto small = ask(*z, query("big.default.svc.cluster.local", kTypeA));
  EXPECT_TRUE(small.msg.header.flags & kFlagTC);
  EXPECT_TRUE(small.msg.answers.empty());
  EXPECT_EQ(small.msg.questions.size(), 1u);
  auto edns = ask(*z, query("big.default.svc.cluster.local", kTypeA, 1, 4096));
  EXPECT_FALSE(edns.msg.header.flags & kFlagTC);
  EXPECT_EQ(edns.msg.answers.size(), 100u);
  EXPECT_EQ(edns.msg.edns_udp_size(), kEdnsUdpSize);
  auto tcp = ask(*z, query("big.default.svc.cluster.local", kTypeA), false, 65535);
  EXPECT_EQ(tcp.msg.answers.size(), 100u);
}

TEST(Zone, MalformedQueriesNeverCrash) {
  auto z = zone();
  std::mt19937 rng(42);
  std::string good = query("web.default.svc.cluster.local", kTypeA, 1, 1232);
  std::vector<uint8_t> out(4096);
  size_t n;
  for (size_t cut = 0; cut < good.size(); ++cut) {
    auto a = answer_query(*z, reinterpret_cast<const uint8_t*>(good.data()), cut, true, out.data(), 512, &n);
    EXPECT_EQ(a, cut < kHeaderSize ? Action::kDrop : Action::kRespond) << cut;  // FORMERR
    EXPECT_LE(n, 512u);
  }
  for (int i = 0; i < 20000; ++i) {
    std::string pkt = (i % 2) ? good : std::string(rng() % 300, '\0');
    for (size_t k = 0; k < pkt.size(); ++k) {
      if (i % 2 == 0 || rng() % 8 == 0) pkt[k] = static_cast<char>(rng());
    }
    if (pkt.size() > 2) pkt[2] &= 0x7f;  // mostly queries, not responses
    auto a = answer_query(*z, reinterpret_cast<const uint8_t*>(pkt.data()), pkt.size(), true, out.data(), 512, &n);
    EXPECT_LE(n, 512u);
    if (a == Action::kRespond) {
      EXPECT_GE(n, kHeaderSize);
    }
    (void)parse_message(pkt);
  }
  auto ok = ask(*z, good);
  EXPECT_EQ(ok.msg.answers.size(), 1u);
}

}  // namespace
}  // namespace minik8s::dns
