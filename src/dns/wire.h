// DNS wire format (RFC 1035, RFC 2782 SRV, RFC 6891 EDNS0 OPT): a bounds-checked
// parser and a writer with name compression. Internal to the dns component.
//
// parse_message() never throws and never reads outside the buffer: every
// malformed input (truncated section, label > 63, name > 255, compression
// pointer loop or forward pointer chain beyond 128 hops) is kBadRequest.
// Names are returned in presentation form, lower-cased is NOT applied (the
// caller compares with iequals()); the root is "".
// Thread-compatible value types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "minik8s/util/status.h"

namespace minik8s::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNS = 2;
inline constexpr uint16_t kTypeCNAME = 5;
inline constexpr uint16_t kTypeSOA = 6;
inline constexpr uint16_t kTypePTR = 12;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kTypeSRV = 33;
inline constexpr uint16_t kTypeOPT = 41;
inline constexpr uint16_t kTypeANY = 255;
inline constexpr uint16_t kClassIN = 1;

inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeFormErr = 1;
inline constexpr uint8_t kRcodeServFail = 2;
inline constexpr uint8_t kRcodeNxDomain = 3;
inline constexpr uint8_t kRcodeNotImp = 4;
inline constexpr uint8_t kRcodeRefused = 5;

// Flag bits of header bytes 2-3 (as one big-endian uint16).
inline constexpr uint16_t kFlagQR = 0x8000;
inline constexpr uint16_t kFlagAA = 0x0400;
inline constexpr uint16_t kFlagTC = 0x0200;
inline constexpr uint16_t kFlagRD = 0x0100;
inline constexpr uint16_t kFlagRA = 0x0080;

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxUdpDefault = 512;
inline constexpr uint16_t kEdnsUdpSize = 1232;  // what we advertise (DNS flag day 2020)

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;  // QR/opcode/AA/TC/RD/RA/Z/rcode as on the wire
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  uint8_t rcode() const { return flags & 0x0f; }
  uint8_t opcode() const { return (flags >> 11) & 0x0f; }
};

struct Question {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = kClassIN;
};

struct SoaData {
  std::string mname, rname;
  uint32_t serial = 0, refresh = 0, retry = 0, expire = 0, minimum = 0;
};

struct SrvData {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;
};

struct Record {
  std::string name;
  uint16_t type = 0;
  uint16_t klass = kClassIN;  // OPT: the UDP payload size
  uint32_t ttl = 0;           // OPT: extended rcode/version/flags
  std::string rdata;          // raw rdata bytes (names inside left compressed)
  // Decoded forms of the known types (filled by parse_message):
  std::string ip;      // A / AAAA in presentation form
  std::string target;  // CNAME / PTR / NS
  SrvData srv;
  SoaData soa;
};

struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<Record> answers, authority, additional;
  // The OPT record's payload size when the message carries one, else 0.
  uint16_t edns_udp_size() const;
};

Result<Message> parse_message(const uint8_t* data, size_t len);
inline Result<Message> parse_message(std::string_view bytes) {
  return parse_message(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// Reads the (possibly compressed) name at *pos; advances *pos past it in the
// original position. Appends the lower-cased wire form (labels + root byte) to
// wire_lower when not null and the presentation form to text when not null.
Status read_name(const uint8_t* data, size_t len, size_t* pos, std::string* text, std::string* wire_lower);

// "web.default.svc.cluster.local" (trailing dot optional) → wire labels,
// lower-cased. kInvalid for an empty label, a label > 63 or a name > 255.
Result<std::string> name_to_wire(std::string_view name);

bool iequals(std::string_view a, std::string_view b);
std::string to_lower(std::string_view s);

// Builds a message section by section, compressing names (RFC 1035 4.1.4).
// Counts in the header are kept in step with add_*().
class MessageWriter {
 public:
  MessageWriter(uint16_t id, uint16_t flags);
  void add_question(std::string_view name, uint16_t type, uint16_t klass = kClassIN);
  // Sections must be written in order: answers, then authority, then additional.
  enum class Section { kAnswer, kAuthority, kAdditional };
  void begin_record(Section section, std::string_view name, uint16_t type, uint32_t ttl,
                    uint16_t klass = kClassIN);
  // Rdata pieces between begin_record() and end_record().
  void put_u8(uint8_t v);
  void put_u16(uint16_t v);
  void put_u32(uint32_t v);
  void put_bytes(std::string_view b);
  void put_name(std::string_view name, bool compress = true);
  void end_record();

  // Convenience records.
  void add_a(Section s, std::string_view name, uint32_t ttl, const uint8_t ip[4]);
  void add_name_record(Section s, std::string_view name, uint16_t type, uint32_t ttl, std::string_view target);
  void add_srv(Section s, std::string_view name, uint32_t ttl, uint16_t prio, uint16_t weight, uint16_t port,
               std::string_view target);
  void add_soa(Section s, std::string_view name, uint32_t ttl, const SoaData& soa);
  void add_opt(uint16_t udp_size);

  const std::string& bytes() const { return buf_; }
  std::string take() { return std::move(buf_); }
  // Names written after this are never compressed (for records copied into
  // other messages at other offsets).
  void disable_compression() { compress_ = false; }
  // True when a name was invalid (the bytes are then unusable).
  bool failed() const { return failed_; }

 private:
  void bump(size_t count_offset);
  std::string buf_;
  std::vector<std::pair<std::string, uint16_t>> suffixes_;  // lower-case suffix → offset
  size_t rdlen_pos_ = 0;
  bool failed_ = false;
  bool compress_ = true;
};

// Big-endian helpers.
inline uint16_t get_u16(const uint8_t* p) { return static_cast<uint16_t>((p[0] << 8) | p[1]); }
inline void set_u16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

// Parses dotted IPv4 "10.0.0.1"; false when it is not one.
bool parse_ipv4(std::string_view s, uint8_t out[4]);

}  // namespace minik8s::dns
