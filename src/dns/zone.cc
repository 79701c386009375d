#include "zone.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "wire.h"

namespace minik8s::dns {

namespace {

using Section = MessageWriter::Section;
constexpr uint16_t kTemplateFlags = kFlagQR | kFlagAA | kFlagRA;

int port_number(const api::Json& p) {
  const api::Json& v = api::field(p, "port");
  if (!v.is_number_integer()) return 0;
  auto n = v.get<long long>();
  return (n > 0 && n < 65536) ? static_cast<int>(n) : 0;
}

std::string reverse_name(const uint8_t ip[4]) {
  return std::to_string(ip[3]) + "." + std::to_string(ip[2]) + "." + std::to_string(ip[1]) + "." +
         std::to_string(ip[0]) + ".in-addr.arpa";
}

std::string dashed(const uint8_t ip[4]) {
  return std::to_string(ip[0]) + "-" + std::to_string(ip[1]) + "-" + std::to_string(ip[2]) + "-" +
         std::to_string(ip[3]);
}

struct Addr {
  uint8_t ip[4];
  std::string host;  // fqdn of the endpoint (headless) or of the service
};

struct PortSpec {
  std::string name;
  std::string proto;  // "tcp" / "udp" / "sctp"
  int port = 0;
};

class Builder {
 public:
  Builder(const ZoneOptions& o) : o_(o), snap_(std::make_shared<Snapshot>()) {}

  std::shared_ptr<Snapshot> snapshot() { return snap_; }

  // Records a template for (name, qtype) built by fill(writer).
  template <typename F>
  void add(const std::string& name, uint16_t qtype, F&& fill) {
    auto wire = name_to_wire(name);
    if (!wire) return;
    MessageWriter w(0, kTemplateFlags);
    w.add_question(to_lower(name), qtype == 0 ? kTypeA : qtype);
    fill(w);
    if (w.failed()) return;
    auto& list = snap_->names[*wire];
    for (auto& t : list) {
      if (t.qtype == qtype) return;  // first writer wins (a name claimed twice)
    }
    list.push_back({qtype, w.take()});
    add_ancestors(*wire);
  }

  // Names that exist without records of their own answer NOERROR/empty.
  void add_ancestors(const std::string& wire) {
    const std::string& zone = snap_->zone_wire;
    size_t zl = zone.size();
    if (wire.size() < zl || wire.compare(wire.size() - zl, zl, zone) != 0) return;
    size_t pos = 0;
    while (wire.size() - pos > zl) {
      pos += 1 + static_cast<uint8_t>(wire[pos]);
      if (wire.size() - pos < zl) break;
      snap_->names.try_emplace(wire.substr(pos));
    }
  }

  void a_record(const std::string& name, const std::vector<Addr>& addrs) {
    add(name, kTypeA, [&](MessageWriter& w) {
      for (const auto& a : addrs) w.add_a(Section::kAnswer, name, o_.ttl, a.ip);
    });
  }

  void srv_records(const std::string& qname, const std::vector<PortSpec>& ports, const std::vector<Addr>& addrs) {
    add(qname, kTypeSRV, [&](MessageWriter& w) {
      for (const auto& p : ports) {
        for (const auto& a : addrs) {
          w.add_srv(Section::kAnswer, qname, o_.ttl, 0, static_cast<uint16_t>(100 / std::max<size_t>(1, addrs.size())),
                    static_cast<uint16_t>(p.port), a.host);
        }
      }
      std::set<std::string> seen;
      for (const auto& a : addrs) {
        if (seen.insert(a.host + dashed(a.ip)).second) w.add_a(Section::kAdditional, a.host, o_.ttl, a.ip);
      }
    });
  }

  void ptr_record(const uint8_t ip[4], const std::string& target) {
    std::string name = reverse_name(ip);
    add(name, kTypePTR, [&](MessageWriter& w) { w.add_name_record(Section::kAnswer, name, kTypePTR, o_.ttl, target); });
  }

  void service(const api::Json& svc, const std::map<std::string, const api::Json*>& endpoints) {
    const api::Json& meta = api::field(svc, "metadata");
    const api::Json& spec = api::field(svc, "spec");
    std::string name = api::sfield(meta, "name"), ns = api::sfield(meta, "namespace");
    if (ns.empty()) ns = "default";
    if (name.empty()) return;
    std::string fqdn = name + "." + ns + ".svc." + o_.cluster_domain;
    if (!name_to_wire(fqdn)) return;
    ++snap_->services;
    if (api::sfield(spec, "type") == "ExternalName") {
      std::string target = api::sfield(spec, "externalName");
      if (target.empty() || !name_to_wire(target)) return;
      add(fqdn, 0, [&](MessageWriter& w) { w.add_name_record(Section::kAnswer, fqdn, kTypeCNAME, o_.ttl, target); });
      return;
    }
    std::string cluster_ip = api::sfield(spec, "clusterIP");
    std::vector<PortSpec> ports;
    auto read_ports = [&](const api::Json& list) {
      if (!list.is_array()) return;
      for (const auto& p : list) {
        PortSpec ps{api::sfield(p, "name"), to_lower(api::sfield(p, "protocol")), port_number(p)};
        if (ps.proto.empty()) ps.proto = "tcp";
        if (ps.port > 0) ports.push_back(std::move(ps));
      }
    };
    std::vector<Addr> addrs;
    uint8_t ip[4];
    if (cluster_ip != "None" && parse_ipv4(cluster_ip, ip)) {
      Addr a;
      std::memcpy(a.ip, ip, 4);
      a.host = fqdn;
      addrs.push_back(a);
      read_ports(api::field(spec, "ports"));
      ptr_record(ip, fqdn);
    } else if (cluster_ip == "None" || cluster_ip.empty()) {
      // Headless: the ready endpoint addresses, each with a name of its own.
      auto it = endpoints.find(ns + "/" + name);
      if (it != endpoints.end()) {
        const api::Json& subsets = api::field(*it->second, "subsets");
        if (subsets.is_array()) {
          std::set<std::string> seen_ports;
          for (const auto& ss : subsets) {
            const api::Json& list = api::field(ss, "addresses");
            if (list.is_array()) {
              for (const auto& e : list) {
                Addr a;
                if (!parse_ipv4(api::sfield(e, "ip"), a.ip)) continue;
                std::string host = api::sfield(e, "hostname");
                a.host = (host.empty() ? dashed(a.ip) : host) + "." + fqdn;
                if (!name_to_wire(a.host)) continue;
                addrs.push_back(a);
              }
            }
            const api::Json& plist = api::field(ss, "ports");
            if (plist.is_array()) {
              for (const auto& p : plist) {
                PortSpec ps{api::sfield(p, "name"), to_lower(api::sfield(p, "protocol")), port_number(p)};
                if (ps.proto.empty()) ps.proto = "tcp";
                if (ps.port > 0 && seen_ports.insert(ps.name + "/" + ps.proto + "/" + std::to_string(ps.port)).second) {
                  ports.push_back(std::move(ps));
                }
              }
            }
          }
        }
      }
      for (const auto& a : addrs) {
        a_record(a.host, {a});
        ptr_record(a.ip, a.host);
      }
    } else {
      return;  // an IPv6 or malformed cluster IP: nothing we can answer
    }
    if (addrs.empty()) {
      if (auto w = name_to_wire(fqdn)) {
        snap_->names.try_emplace(*w);
        add_ancestors(*w);
      }
      return;
    }
    a_record(fqdn, addrs);
    if (!ports.empty()) srv_records(fqdn, ports, addrs);
    for (const auto& p : ports) {
      std::string proto = "._" + p.proto + "." + fqdn;
      if (!p.name.empty()) srv_records("_" + p.name + proto, {p}, addrs);
      srv_records("_" + std::to_string(p.port) + proto, {p}, addrs);
    }
  }

  void dns_object(const api::Json& obj) {
    std::string host = api::sfield(api::field(obj, "spec"), "host");
    uint8_t ip[4];
    if (host.empty() || !parse_ipv4(o_.ingress_ip, ip)) return;
    Addr a;
    std::memcpy(a.ip, ip, 4);
    a_record(host, {a});
    if (auto w = name_to_wire(host)) snap_->names.try_emplace(*w);
  }

  void apex() {
    add(o_.cluster_domain, kTypeSOA, [&](MessageWriter& w) {
      w.add_soa(Section::kAnswer, o_.cluster_domain, o_.ttl, soa());
    });
  }

  SoaData soa() const {
    SoaData s;
    s.mname = "ns.dns." + o_.cluster_domain;
    s.rname = "hostmaster." + o_.cluster_domain;
    s.serial = o_.serial;
    s.refresh = 7200;
    s.retry = 1800;
    s.expire = 86400;
    s.minimum = o_.ttl;
    return s;
  }

 private:
  const ZoneOptions& o_;
  std::shared_ptr<Snapshot> snap_;
};

// Copies the question of a query (name + type + class) into a response being
// built in out; returns false when the query's question is not a plain name.
struct QueryInfo {
  uint16_t id = 0, flags = 0;
  size_t question_end = 0;  // offset after qtype/qclass
  uint16_t qtype = 0, qclass = 0;
  uint16_t edns_size = 0;   // 0: no OPT
  char wire[256];           // lower-case wire name
  size_t wire_len = 0;
  uint16_t label_offsets[128];  // offsets into wire of each label
  int labels = 0;
};

// Parses the header and question; false → FORMERR.
bool parse_query(const uint8_t* q, size_t len, QueryInfo* info) {
  size_t p = kHeaderSize;
  while (true) {
    if (p >= len) return false;
    uint8_t l = q[p];
    if (l & 0xC0) return false;  // nothing precedes the question: no pointer is valid
    if (info->wire_len + 1 + l > 255) return false;
    if (l == 0) {
      info->wire[info->wire_len++] = '\0';
      ++p;
      break;
    }
    if (p + 1 + l > len || info->labels >= 128) return false;
    info->label_offsets[info->labels++] = static_cast<uint16_t>(info->wire_len);
    info->wire[info->wire_len++] = static_cast<char>(l);
    for (size_t i = 0; i < l; ++i) {
      char c = static_cast<char>(q[p + 1 + i]);
      info->wire[info->wire_len++] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    p += 1 + l;
  }
  if (p + 4 > len) return false;
  info->qtype = get_u16(q + p);
  info->qclass = get_u16(q + p + 2);
  p += 4;
  info->question_end = p;
  // Skip answer and authority records, find OPT among the additional ones.
  int skip = get_u16(q + 6) + get_u16(q + 8);
  int additional = get_u16(q + 10);
  for (int i = 0; i < skip + additional; ++i) {
    size_t name_start = p;
    if (!read_name(q, len, &p, nullptr, nullptr)) return false;
    if (p + 10 > len) return false;
    uint16_t type = get_u16(q + p);
    uint16_t rdlen = get_u16(q + p + 8);
    if (i >= skip && type == kTypeOPT && p == name_start + 1) {
      if (info->edns_size != 0) return false;  // two OPT records
      info->edns_size = std::max<uint16_t>(get_u16(q + p + 2), kMaxUdpDefault);
    }
    p += 10;
    if (p + rdlen > len) return false;
    p += rdlen;
  }
  return true;
}

void put_opt(uint8_t* p, uint16_t size) {
  p[0] = 0;
  set_u16(p + 1, kTypeOPT);
  set_u16(p + 3, size);
  std::memset(p + 5, 0, 6);  // ttl (ext rcode, version, flags) + rdlen
}

constexpr size_t kOptSize = 11;

// Header + the query's question (+ OPT), with rcode and counts; a base for
// negative answers and truncated ones. Returns its length.
size_t write_head(const QueryInfo& info, const uint8_t* q, uint16_t flags, uint8_t* out) {
  set_u16(out, info.id);
  set_u16(out + 2, static_cast<uint16_t>(flags | (info.flags & kFlagRD)));
  set_u16(out + 4, 1);
  set_u16(out + 6, 0);
  set_u16(out + 8, 0);
  set_u16(out + 10, 0);
  size_t qlen = info.question_end - kHeaderSize;
  std::memcpy(out + kHeaderSize, q + kHeaderSize, qlen);
  return kHeaderSize + qlen;
}

size_t finish_opt(const QueryInfo& info, uint8_t* out, size_t n) {
  if (info.edns_size == 0) return n;
  put_opt(out + n, kEdnsUdpSize);
  set_u16(out + 10, static_cast<uint16_t>(get_u16(out + 10) + 1));
  return n + kOptSize;
}

bool in_zone(const Snapshot& snap, const QueryInfo& info) {
  size_t zl = snap.zone_wire.size();
  if (info.wire_len < zl) return false;
  size_t start = info.wire_len - zl;
  if (start != 0) {
    bool boundary = false;
    for (int i = 0; i < info.labels; ++i) {
      if (info.label_offsets[i] == start) boundary = true;
    }
    if (!boundary) return false;
  }
  return std::memcmp(info.wire + start, snap.zone_wire.data(), zl) == 0;
}

// a-b-c-d.<ns>.pod.<zone> → true with ip set.
bool pod_name(const Snapshot& snap, const QueryInfo& info, uint8_t ip[4]) {
  if (info.labels < 3) return false;
  size_t zl = snap.zone_wire.size();
  // Exactly three labels before the zone.
  int zone_labels = 0;
  for (size_t p = 0; p < zl && snap.zone_wire[p] != '\0'; p += 1 + static_cast<uint8_t>(snap.zone_wire[p])) {
    ++zone_labels;
  }
  if (info.labels != zone_labels + 3) return false;
  const char* pod = info.wire + info.label_offsets[2];
  if (std::memcmp(pod, "\3pod", 4) != 0) return false;
  std::string first(info.wire + 1, static_cast<uint8_t>(info.wire[0]));
  std::replace(first.begin(), first.end(), '-', '.');
  return parse_ipv4(first, ip) && std::count(first.begin(), first.end(), '.') == 3;
}

}  // namespace

std::shared_ptr<const Snapshot> build_snapshot(const ZoneOptions& options, const std::vector<api::Json>& services,
                                               const std::vector<api::Json>& endpoints,
                                               const std::vector<api::Json>& dns_objects, bool ready) {
  Builder b(options);
  auto snap = b.snapshot();
  snap->ready = ready;
  snap->ttl = options.ttl;
  snap->zone_name = to_lower(options.cluster_domain);
  auto zw = name_to_wire(options.cluster_domain);
  snap->zone_wire = zw ? *zw : std::string("\7cluster\5local\0", 15);
  MessageWriter soa(0, 0);
  soa.disable_compression();
  soa.add_soa(Section::kAuthority, options.cluster_domain, options.ttl, b.soa());
  snap->soa_record = soa.bytes().substr(kHeaderSize);
  snap->names.try_emplace(snap->zone_wire);
  b.apex();

  std::map<std::string, const api::Json*> eps;
  for (const auto& e : endpoints) {
    try {
      const api::Json& meta = api::field(e, "metadata");
      std::string ns = api::sfield(meta, "namespace");
      eps[(ns.empty() ? "default" : ns) + "/" + api::sfield(meta, "name")] = &e;
    } catch (const std::exception&) {
    }
  }
  for (const auto& s : services) {
    try {
      b.service(s, eps);
    } catch (const std::exception&) {  // a malformed object is skipped, never fatal
    }
  }
  for (const auto& d : dns_objects) {
    try {
      b.dns_object(d);
    } catch (const std::exception&) {
    }
  }
  return snap;
}

std::string error_response(const uint8_t* q, size_t len, uint8_t rcode) {
  if (len < kHeaderSize) return "";
  QueryInfo info;
  info.id = get_u16(q);
  info.flags = get_u16(q + 2);
  bool has_question = get_u16(q + 4) == 1 && parse_query(q, len, &info);
  std::string out(kHeaderSize + 256 + 4 + kOptSize, '\0');
  auto* o = reinterpret_cast<uint8_t*>(out.data());
  uint16_t flags = static_cast<uint16_t>(kFlagQR | kFlagRA | (info.flags & 0x7800) | rcode);
  size_t n;
  if (has_question) {
    n = finish_opt(info, o, write_head(info, q, flags, o));
  } else {
    set_u16(o, info.id);
    set_u16(o + 2, static_cast<uint16_t>(flags | (info.flags & kFlagRD)));
    n = kHeaderSize;
  }
  out.resize(n);
  return out;
}

Action answer_query(const Snapshot& snap, const uint8_t* q, size_t len, bool udp, uint8_t* out, size_t out_cap,
                    size_t* out_len) {
  *out_len = 0;
  if (len < kHeaderSize) return Action::kDrop;
  QueryInfo info;
  info.id = get_u16(q);
  info.flags = get_u16(q + 2);
  if (info.flags & kFlagQR) return Action::kDrop;  // a response: never answer (no loops)
  auto error = [&](uint8_t rcode) {
    std::string e = error_response(q, len, rcode);
    size_t n = std::min(e.size(), out_cap);
    std::memcpy(out, e.data(), n);
    *out_len = n;
    return Action::kRespond;
  };
  if (((info.flags >> 11) & 0x0f) != 0) return error(kRcodeNotImp);
  if (get_u16(q + 4) != 1 || !parse_query(q, len, &info)) return error(kRcodeFormErr);

  size_t limit = out_cap;
  if (udp) limit = std::min<size_t>(out_cap, info.edns_size ? info.edns_size : kMaxUdpDefault);
  size_t qlen = info.question_end - kHeaderSize;

  auto negative = [&](uint8_t rcode) {
    size_t n = write_head(info, q, static_cast<uint16_t>(kFlagQR | kFlagAA | kFlagRA | rcode), out);
    if (n + snap.soa_record.size() + kOptSize <= limit) {
      std::memcpy(out + n, snap.soa_record.data(), snap.soa_record.size());
      n += snap.soa_record.size();
      set_u16(out + 8, 1);
    }
    *out_len = finish_opt(info, out, n);
    return Action::kRespond;
  };

  if (info.qclass != kClassIN && info.qclass != kTypeANY) {
    return in_zone(snap, info) ? error(kRcodeRefused) : Action::kForward;
  }
  if (!snap.ready) return in_zone(snap, info) ? error(kRcodeServFail) : Action::kForward;
  std::string_view key(info.wire, info.wire_len);
  auto it = snap.names.find(key);
  if (it != snap.names.end()) {
    const Snapshot::Template* t = nullptr;
    for (const auto& c : it->second) {
      if (c.qtype == info.qtype || c.qtype == 0) {
        t = &c;
        break;
      }
    }
    if (!t && info.qtype == kTypeANY && !it->second.empty()) t = &it->second.front();
    if (!t) return negative(kRcodeNoError);
    size_t need = t->bytes.size() + (info.edns_size ? kOptSize : 0);
    if (need > limit) {
      size_t n = write_head(info, q, kFlagQR | kFlagAA | kFlagRA | kFlagTC, out);
      *out_len = finish_opt(info, out, n);
      return Action::kRespond;
    }
    std::memcpy(out, t->bytes.data(), t->bytes.size());
    set_u16(out, info.id);
    set_u16(out + 2, static_cast<uint16_t>(get_u16(out + 2) | (info.flags & kFlagRD)));
    std::memcpy(out + kHeaderSize, q + kHeaderSize, qlen);  // same length: echoes the client's case
    *out_len = finish_opt(info, out, t->bytes.size());
    return Action::kRespond;
  }
  if (!in_zone(snap, info)) return Action::kForward;
  uint8_t ip[4];
  if (pod_name(snap, info, ip)) {
    if (info.qtype != kTypeA && info.qtype != kTypeANY) return negative(kRcodeNoError);
    size_t n = write_head(info, q, kFlagQR | kFlagAA | kFlagRA, out);
    set_u16(out + 6, 1);
    uint8_t rr[16] = {0xC0, 0x0C, 0, kTypeA, 0, kClassIN};
    uint32_t ttl = snap.ttl;
    rr[6] = static_cast<uint8_t>(ttl >> 24);
    rr[7] = static_cast<uint8_t>(ttl >> 16);
    rr[8] = static_cast<uint8_t>(ttl >> 8);
    rr[9] = static_cast<uint8_t>(ttl);
    rr[10] = 0;
    rr[11] = 4;
    std::memcpy(rr + 12, ip, 4);
    std::memcpy(out + n, rr, sizeof rr);
    *out_len = finish_opt(info, out, n + sizeof rr);
    return Action::kRespond;
  }
  return negative(kRcodeNxDomain);
}

}  // namespace minik8s::dns
