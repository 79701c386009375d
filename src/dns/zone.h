// The cluster zone as an immutable snapshot, and the query hot path.
//
// build_snapshot() turns Service / Endpoints / DNS objects (API JSON) into a
// hash map from the lower-case wire name to pre-encoded responses, one per
// query type (a whole response template: header, lower-case question,
// answers, additional). answer_query() then only parses the question, looks
// the name up and copies the template, patching the ID, RD bit, the question
// (to echo its case) and an OPT record. Names outside the zone that are not
// DNS-object hosts come back as kForward.
//
// Thread safety: a Snapshot is immutable and shared read-only between the
// serving threads (std::shared_ptr<const Snapshot>). build_snapshot() never
// throws; objects with missing or malformed fields are skipped.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "minik8s/api/json.h"

namespace minik8s::dns {

struct ZoneOptions {
  std::string cluster_domain = "cluster.local";
  std::string ingress_ip = "127.0.0.1";  // DNS-object hosts resolve here
  uint32_t ttl = 5;
  uint32_t serial = 1;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Snapshot {
  struct Template {
    uint16_t qtype = 0;  // 0: answers any type (CNAME of an ExternalName Service)
    std::string bytes;   // the whole response with ID 0 and a lower-case question
  };
  // Lower-case wire name → its responses.
  std::unordered_map<std::string, std::vector<Template>, StringHash, std::equal_to<>> names;
  std::string zone_wire;   // lower-case wire form of the cluster domain
  std::string soa_record;  // pre-encoded SOA RR, owner written out in full
  std::string zone_name;   // "cluster.local"
  uint32_t ttl = 5;
  size_t services = 0;     // for logs and tests
  // False until the informers have synced: names inside the zone then get
  // SERVFAIL (retry later) rather than a negative answer clients would cache.
  bool ready = true;
};

std::shared_ptr<const Snapshot> build_snapshot(const ZoneOptions& options, const std::vector<api::Json>& services,
                                               const std::vector<api::Json>& endpoints,
                                               const std::vector<api::Json>& dns_objects, bool ready = true);

enum class Action {
  kRespond,  // out holds the response
  kForward,  // not ours: send the query upstream unchanged
  kDrop,     // not worth an answer (too short, a response, ...)
};

// Answers one query. udp: the response must fit the client's size (512, or
// its EDNS0 payload size capped at out_cap), else it is truncated with TC.
// out_cap ≥ 512. Returns the number of bytes written to out with kRespond.
Action answer_query(const Snapshot& snap, const uint8_t* query, size_t len, bool udp, uint8_t* out,
                    size_t out_cap, size_t* out_len);

// A response with the question echoed and rcode (SERVFAIL for a failed
// forward, FORMERR, ...); empty when the query is too broken to echo.
std::string error_response(const uint8_t* query, size_t len, uint8_t rcode);

}  // namespace minik8s::dns
