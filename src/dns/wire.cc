#include "wire.h"

#include <arpa/inet.h>

#include <cstring>

namespace minik8s::dns {

namespace {

constexpr int kMaxPointerHops = 128;
constexpr size_t kMaxNameWire = 255;

uint32_t get_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

Status bad(const char* what, size_t pos) {
  return bad_request(std::string("malformed DNS message: ") + what + " at offset " + std::to_string(pos));
}

Status read_record(const uint8_t* d, size_t len, size_t* pos, Record* r) {
  if (auto s = read_name(d, len, pos, &r->name, nullptr); !s) return s;
  if (*pos + 10 > len) return bad("truncated record header", *pos);
  r->type = get_u16(d + *pos);
  r->klass = get_u16(d + *pos + 2);
  r->ttl = get_u32(d + *pos + 4);
  uint16_t rdlen = get_u16(d + *pos + 8);
  *pos += 10;
  if (*pos + rdlen > len) return bad("truncated rdata", *pos);
  size_t start = *pos, end = *pos + rdlen;
  r->rdata.assign(reinterpret_cast<const char*>(d + start), rdlen);
  switch (r->type) {
    case kTypeA: {
      if (rdlen != 4) return bad("A rdata length", start);
      char buf[INET_ADDRSTRLEN];
      inet_ntop(AF_INET, d + start, buf, sizeof buf);
      r->ip = buf;
      break;
    }
    case kTypeAAAA: {
      if (rdlen != 16) return bad("AAAA rdata length", start);
      char buf[INET6_ADDRSTRLEN];
      inet_ntop(AF_INET6, d + start, buf, sizeof buf);
      r->ip = buf;
      break;
    }
    case kTypeCNAME:
    case kTypePTR:
    case kTypeNS: {
      size_t p = start;
      if (auto s = read_name(d, end, &p, &r->target, nullptr); !s) return s;
      if (p != end) return bad("name rdata length", start);
      break;
    }
    case kTypeSRV: {
      if (rdlen < 7) return bad("SRV rdata length", start);
      r->srv.priority = get_u16(d + start);
      r->srv.weight = get_u16(d + start + 2);
      r->srv.port = get_u16(d + start + 4);
      size_t p = start + 6;
      if (auto s = read_name(d, end, &p, &r->srv.target, nullptr); !s) return s;
      if (p != end) return bad("SRV rdata length", start);
      break;
    }
    case kTypeSOA: {
      size_t p = start;
      if (auto s = read_name(d, end, &p, &r->soa.mname, nullptr); !s) return s;
      if (auto s = read_name(d, end, &p, &r->soa.rname, nullptr); !s) return s;
      if (p + 20 != end) return bad("SOA rdata length", start);
      r->soa.serial = get_u32(d + p);
      r->soa.refresh = get_u32(d + p + 4);
      r->soa.retry = get_u32(d + p + 8);
      r->soa.expire = get_u32(d + p + 12);
      r->soa.minimum = get_u32(d + p + 16);
      break;
    }
    default:
      break;
  }
  *pos = end;
  return Status::ok();
}

}  // namespace

// Names inside rdata are read against `len` = end of the rdata for the first
// label run, but compression pointers may point anywhere before; callers pass
// the rdata end as len, which is still ≥ any legal pointer target (pointers
// only go backwards), so the bounds stay inside the message.
Status read_name(const uint8_t* d, size_t len, size_t* pos, std::string* text, std::string* wire_lower) {
  size_t p = *pos;
  size_t after = 0;  // position after the name in the original stream
  bool jumped = false;
  size_t wire_len = 0;
  int hops = 0;
  if (text) text->clear();
  while (true) {
    if (p >= len) return bad("truncated name", p);
    uint8_t l = d[p];
    if ((l & 0xC0) == 0xC0) {
      if (p + 1 >= len) return bad("truncated pointer", p);
      size_t target = static_cast<size_t>(((l & 0x3F) << 8) | d[p + 1]);
      if (target >= p) return bad("forward compression pointer", p);
      if (++hops > kMaxPointerHops) return bad("compression loop", p);
      if (!jumped) after = p + 2;
      jumped = true;
      p = target;
      continue;
    }
    if ((l & 0xC0) != 0) return bad("reserved label type", p);
    if (l == 0) {
      if (wire_lower) wire_lower->push_back('\0');
      if (!jumped) after = p + 1;
      break;
    }
    if (p + 1 + l > len) return bad("truncated label", p);
    wire_len += 1 + l;
    if (wire_len + 1 > kMaxNameWire) return bad("name too long", p);
    if (text) {
      if (!text->empty()) text->push_back('.');
      text->append(reinterpret_cast<const char*>(d + p + 1), l);
    }
    if (wire_lower) {
      wire_lower->push_back(static_cast<char>(l));
      for (size_t i = 0; i < l; ++i) wire_lower->push_back(lower(static_cast<char>(d[p + 1 + i])));
    }
    p += 1 + l;
  }
  *pos = after;
  return Status::ok();
}

uint16_t Message::edns_udp_size() const {
  for (const auto& r : additional) {
    if (r.type == kTypeOPT) return r.klass;
  }
  return 0;
}

Result<Message> parse_message(const uint8_t* d, size_t len) {
  Message m;
  if (len < kHeaderSize) return bad("short header", 0);
  m.header.id = get_u16(d);
  m.header.flags = get_u16(d + 2);
  m.header.qdcount = get_u16(d + 4);
  m.header.ancount = get_u16(d + 6);
  m.header.nscount = get_u16(d + 8);
  m.header.arcount = get_u16(d + 10);
  size_t pos = kHeaderSize;
  for (int i = 0; i < m.header.qdcount; ++i) {
    Question q;
    if (auto s = read_name(d, len, &pos, &q.name, nullptr); !s) return s;
    if (pos + 4 > len) return bad("truncated question", pos);
    q.type = get_u16(d + pos);
    q.klass = get_u16(d + pos + 2);
    pos += 4;
    m.questions.push_back(std::move(q));
  }
  auto section = [&](int count, std::vector<Record>& out) -> Status {
    for (int i = 0; i < count; ++i) {
      Record r;
      if (auto s = read_record(d, len, &pos, &r); !s) return s;
      out.push_back(std::move(r));
    }
    return Status::ok();
  };
  if (auto s = section(m.header.ancount, m.answers); !s) return s;
  if (auto s = section(m.header.nscount, m.authority); !s) return s;
  if (auto s = section(m.header.arcount, m.additional); !s) return s;
  return m;
}

Result<std::string> name_to_wire(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out;
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) return invalid("invalid DNS name label in \"" + std::string(name) + "\"");
    out.push_back(static_cast<char>(label.size()));
    for (char c : label) out.push_back(lower(c));
    if (dot == std::string_view::npos) break;
    name.remove_prefix(dot + 1);
    if (name.empty()) return invalid("invalid DNS name (empty label)");
  }
  out.push_back('\0');
  if (out.size() > kMaxNameWire) return invalid("DNS name longer than 255 bytes");
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = lower(c);
  return out;
}

bool parse_ipv4(std::string_view s, uint8_t out[4]) {
  if (s.size() >= INET_ADDRSTRLEN) return false;
  char buf[INET_ADDRSTRLEN];
  std::memcpy(buf, s.data(), s.size());
  buf[s.size()] = '\0';
  return inet_pton(AF_INET, buf, out) == 1;
}

// ------------------------------------------------------------------ writer

MessageWriter::MessageWriter(uint16_t id, uint16_t flags) {
  buf_.resize(kHeaderSize, '\0');
  set_u16(reinterpret_cast<uint8_t*>(buf_.data()), id);
  set_u16(reinterpret_cast<uint8_t*>(buf_.data()) + 2, flags);
}

void MessageWriter::bump(size_t off) {
  auto* p = reinterpret_cast<uint8_t*>(buf_.data()) + off;
  set_u16(p, static_cast<uint16_t>(get_u16(p) + 1));
}

void MessageWriter::put_u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
void MessageWriter::put_u16(uint16_t v) {
  put_u8(static_cast<uint8_t>(v >> 8));
  put_u8(static_cast<uint8_t>(v));
}
void MessageWriter::put_u32(uint32_t v) {
  put_u16(static_cast<uint16_t>(v >> 16));
  put_u16(static_cast<uint16_t>(v));
}
void MessageWriter::put_bytes(std::string_view b) { buf_.append(b); }

void MessageWriter::put_name(std::string_view name, bool compress) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  auto wire = name_to_wire(name);
  if (!wire) {
    failed_ = true;
    put_u8(0);
    return;
  }
  // Walk the labels of the original-case name; at each suffix look for an
  // earlier occurrence (compared lower-case), else record this one.
  std::string_view rest = name;
  while (!rest.empty()) {
    std::string key = to_lower(rest);
    if (compress && compress_) {
      for (const auto& [suffix, off] : suffixes_) {
        if (suffix == key) {
          put_u16(static_cast<uint16_t>(0xC000 | off));
          return;
        }
      }
    }
    if (buf_.size() < 0x3FFF) suffixes_.emplace_back(std::move(key), static_cast<uint16_t>(buf_.size()));
    size_t dot = rest.find('.');
    std::string_view label = rest.substr(0, dot);
    put_u8(static_cast<uint8_t>(label.size()));
    put_bytes(label);
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  put_u8(0);
}

void MessageWriter::add_question(std::string_view name, uint16_t type, uint16_t klass) {
  put_name(name);
  put_u16(type);
  put_u16(klass);
  bump(4);
}

void MessageWriter::begin_record(Section section, std::string_view name, uint16_t type, uint32_t ttl,
                                 uint16_t klass) {
  put_name(name);
  put_u16(type);
  put_u16(klass);
  put_u32(ttl);
  rdlen_pos_ = buf_.size();
  put_u16(0);
  bump(section == Section::kAnswer ? 6 : section == Section::kAuthority ? 8 : 10);
}

void MessageWriter::end_record() {
  size_t rdlen = buf_.size() - rdlen_pos_ - 2;
  set_u16(reinterpret_cast<uint8_t*>(buf_.data()) + rdlen_pos_, static_cast<uint16_t>(rdlen));
}

void MessageWriter::add_a(Section s, std::string_view name, uint32_t ttl, const uint8_t ip[4]) {
  begin_record(s, name, kTypeA, ttl);
  put_bytes(std::string_view(reinterpret_cast<const char*>(ip), 4));
  end_record();
}

void MessageWriter::add_name_record(Section s, std::string_view name, uint16_t type, uint32_t ttl,
                                    std::string_view target) {
  begin_record(s, name, type, ttl);
  put_name(target);
  end_record();
}

void MessageWriter::add_srv(Section s, std::string_view name, uint32_t ttl, uint16_t prio, uint16_t weight,
                            uint16_t port, std::string_view target) {
  begin_record(s, name, kTypeSRV, ttl);
  put_u16(prio);
  put_u16(weight);
  put_u16(port);
  put_name(target, false);  // RFC 2782: the target is not compressed
  end_record();
}

void MessageWriter::add_soa(Section s, std::string_view name, uint32_t ttl, const SoaData& soa) {
  begin_record(s, name, kTypeSOA, ttl);
  put_name(soa.mname);
  put_name(soa.rname);
  put_u32(soa.serial);
  put_u32(soa.refresh);
  put_u32(soa.retry);
  put_u32(soa.expire);
  put_u32(soa.minimum);
  end_record();
}

void MessageWriter::add_opt(uint16_t udp_size) {
  put_u8(0);  // root
  put_u16(kTypeOPT);
  put_u16(udp_size);
  put_u32(0);
  put_u16(0);
  bump(10);
}

}  // namespace minik8s::dns
