// EtcdOptions and open_etcd_storage(): the Storage in an etcd v3 cluster
// (EtcdStorage, src/storage/etcd_storage.h; docs/storage.md "EtcdStorage").
// Separate from storage.h so that the many users of the interface do not
// rebuild when the etcd options change.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "minik8s/storage/storage.h"

namespace minik8s::storage {

// EtcdStorage (src/storage/etcd_storage.h): the store in an etcd v3 cluster,
// over etcd's gRPC API.
struct EtcdOptions {
  // Client URLs, http://HOST:PORT or https://HOST:PORT (all the same scheme);
  // the client connects to the first that answers and fails over in order.
  std::vector<std::string> endpoints;
  // Prepended to every key in etcd and stripped from every key returned
  // (several clusters or test cases sharing one etcd). Empty: keys as given.
  std::string key_prefix;
  // TLS (https endpoints): the CA that signed etcd's certificate; a client
  // certificate and key when etcd asks for one (--client-cert-auth).
  std::string ca_file, cert_file, key_file;
  std::chrono::milliseconds request_timeout{5000};  // every unary call; past it: kUnavailable
  std::chrono::milliseconds dial_timeout{10000};    // open() waits this long for etcd to answer
  // Background compaction, as SqliteOptions: keep at least this many
  // revisions and everything younger than the age; 0 interval = off.
  int64_t compaction_keep_revisions = 10000;
  std::chrono::seconds compaction_keep_age{300};
  std::chrono::milliseconds compaction_interval{60000};
};

// Connects to etcd and checks that it answers (kUnavailable after
// dial_timeout otherwise; kInvalid for a bad URL or unreadable TLS file).
Result<std::unique_ptr<Storage>> open_etcd_storage(const EtcdOptions& options);

}  // namespace minik8s::storage
