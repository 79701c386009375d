#include "etcd_storage.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"

namespace minik8s::storage {

namespace pb = etcdserverpb;
using Clock = std::chrono::steady_clock;

namespace {

Status from_grpc(const grpc::Status& s, const std::string& what) {
  const std::string msg = what + ": etcd: " + s.error_message();
  switch (s.error_code()) {
    case grpc::StatusCode::OK:
      return Status::ok();
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::CANCELLED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
    case grpc::StatusCode::ABORTED:
      return Status(Code::kUnavailable, msg);
    case grpc::StatusCode::OUT_OF_RANGE:
      // etcd's two "revision" errors share the code; its message tells them apart.
      if (s.error_message().find("compacted") != std::string::npos) return Status(Code::kGone, msg);
      if (s.error_message().find("future") != std::string::npos) return bad_request(msg);
      return internal_error(msg);
    case grpc::StatusCode::INVALID_ARGUMENT:
      if (s.error_message().find("too large") != std::string::npos) {
        return Status(Code::kTooLarge, msg);
      }
      return bad_request(msg);
    case grpc::StatusCode::UNAUTHENTICATED:
    case grpc::StatusCode::PERMISSION_DENIED:
      return Status(Code::kUnavailable, msg);  // the store refused us: not the caller's fault
    default:
      return internal_error(msg);
  }
}

Status validate_key(const std::string& key) {
  if (key.empty()) return invalid("storage key must not be empty");
  return Status::ok();
}

// The first key after every key that starts with prefix; "\0" (etcd: "to the
// end") when there is none.
std::string prefix_end(const std::string& prefix) {
  std::string end = prefix;
  while (!end.empty()) {
    auto c = static_cast<unsigned char>(end.back());
    if (c < 0xff) {
      end.back() = static_cast<char>(c + 1);
      return end;
    }
    end.pop_back();
  }
  return std::string(1, '\0');
}

Result<std::string> read_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid(std::string(what) + ": cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct Endpoint {
  std::string host;  // IPv6 without brackets
  std::string port;
  bool tls = false;
};

Result<Endpoint> parse_endpoint(const std::string& url) {
  Endpoint ep;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    ep.tls = true;
  } else {
    return invalid("etcd endpoint " + url + ": want http://HOST:PORT or https://HOST:PORT");
  }
  while (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos || close + 1 >= rest.size() || rest[close + 1] != ':') {
      return invalid("etcd endpoint " + url + ": bad IPv6 address");
    }
    ep.host = rest.substr(1, close - 1);
    ep.port = rest.substr(close + 2);
  } else {
    auto colon = rest.rfind(':');
    if (colon == std::string::npos) return invalid("etcd endpoint " + url + ": no port");
    ep.host = rest.substr(0, colon);
    ep.port = rest.substr(colon + 1);
  }
  if (ep.host.empty() || ep.port.empty() ||
      !std::all_of(ep.port.begin(), ep.port.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
      ep.port.size() > 5 || ep.host.find_first_of("/?#@") != std::string::npos) {
    return invalid("etcd endpoint " + url + ": want http://HOST:PORT or https://HOST:PORT");
  }
  return ep;
}

bool is_ipv4(const std::string& h) {
  return !h.empty() && h.find_first_not_of("0123456789.") == std::string::npos;
}

}  // namespace

struct EtcdStorage::Core {
  EtcdOptions options;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Watch::Stub> watcher;
  std::atomic<int64_t> compacted{0};  // a lower bound of etcd's compacted revision

  // Maintenance thread.
  std::mutex stop_mu;
  std::condition_variable stop_cv;
  bool stopping = false;  // guarded by stop_mu
  std::deque<std::pair<Clock::time_point, int64_t>>
      samples;  // (when, revision); maintenance thread

  std::string to_etcd(const std::string& key) const { return options.key_prefix + key; }
  std::string from_etcd(const std::string& key) const {
    return key.substr(std::min(options.key_prefix.size(), key.size()));
  }
  KeyValue convert(const mvccpb::KeyValue& kv) const {
    KeyValue out;
    out.key = from_etcd(kv.key());
    out.value = kv.value();
    out.create_revision = kv.create_revision();
    out.mod_revision = kv.mod_revision();
    return out;
  }
  // Every call waits for a connection (up to its deadline) instead of failing
  // fast: with gRPC's synchronous API only a thread inside a call drives the
  // channel's reconnect, so fail-fast calls would leave it to gRPC's 5 s
  // backup poller and a restarted etcd would stay unreachable for seconds.
  void deadline(grpc::ClientContext& ctx) const {
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + options.request_timeout);
  }

  Status txn(const pb::TxnRequest& req, pb::TxnResponse* resp, const std::string& what) {
    grpc::ClientContext ctx;
    deadline(ctx);
    return from_grpc(kv->Txn(&ctx, req, resp), what);
  }
  Status range(const pb::RangeRequest& req, pb::RangeResponse* resp, const std::string& what) {
    grpc::ClientContext ctx;
    deadline(ctx);
    return from_grpc(kv->Range(&ctx, req, resp), what);
  }

  Result<int64_t> current() {
    pb::RangeRequest req;
    req.set_key(std::string(1, '\0'));
    req.set_count_only(true);
    pb::RangeResponse resp;
    if (Status st = range(req, &resp, "current revision"); !st) return st;
    return resp.header().revision();
  }

  // Whether a Range at rev still works (false: compacted).
  Result<bool> readable(int64_t rev) {
    pb::RangeRequest req;
    req.set_key(std::string(1, '\0'));
    req.set_count_only(true);
    req.set_revision(rev);
    pb::RangeResponse resp;
    Status st = range(req, &resp, "probe revision " + std::to_string(rev));
    if (st) return true;
    if (st.code() == Code::kGone) return false;
    return st;
  }

  // A write whose compare failed: the key is missing (kNotFound) or newer (kConflict).
  Status compare_failed(const pb::TxnResponse& resp, const std::string& key, int64_t expected) {
    if (resp.responses_size() == 0 || resp.responses(0).response_range().kvs_size() == 0) {
      return not_found("key " + key + " not found");
    }
    return conflict("key " + key + ": expected mod revision " + std::to_string(expected) +
                    ", found " +
                    std::to_string(resp.responses(0).response_range().kvs(0).mod_revision()));
  }

  Status compact_to(int64_t revision) {
    if (revision < 0) return invalid("compact: negative revision");
    if (revision == 0 || revision <= compacted.load()) return Status::ok();
    pb::CompactionRequest req;
    req.set_revision(revision);
    pb::CompactionResponse resp;
    grpc::ClientContext ctx;
    deadline(ctx);
    Status st = from_grpc(kv->Compact(&ctx, req, &resp), "compact to " + std::to_string(revision));
    if (!st && st.code() != Code::kGone) return st;  // kGone: etcd is compacted at or past it
    int64_t seen = compacted.load();
    while (seen < revision && !compacted.compare_exchange_weak(seen, revision)) {
    }
    return Status::ok();
  }
};

namespace {

using Core = EtcdStorage::Core;

// One etcd Watch stream. A reader thread turns WatchResponses into Events.
class EtcdWatchStream final : public WatchStream {
 public:
  EtcdWatchStream(std::shared_ptr<Core> core, std::string prefix)
      : core_(std::move(core)), prefix_(std::move(prefix)) {}
  ~EtcdWatchStream() override { close(); }

  // Sends the create request and waits for etcd to confirm it.
  Status start(int64_t start_revision) {
    // Creating a stream blocks until it can be sent: wait for a connection
    // first, bounded (this also drives a reconnect, see Core::deadline), then
    // create the stream fail-fast so that a lost connection cannot block it.
    if (!core_->channel->WaitForConnected(std::chrono::system_clock::now() +
                                          core_->options.request_timeout)) {
      return Status(Code::kUnavailable, "watch " + prefix_ + ": etcd unreachable");
    }
    stream_ = core_->watcher->Watch(&ctx_);
    pb::WatchRequest req;
    auto* create = req.mutable_create_request();
    std::string key = core_->to_etcd(prefix_);
    create->set_key(key.empty() ? std::string(1, '\0') : key);
    create->set_range_end(prefix_end(key));
    create->set_start_revision(start_revision);
    create->set_prev_kv(true);
    if (!stream_->Write(req)) {
      ctx_.TryCancel();
      grpc::Status gs = stream_->Finish();
      stream_.reset();
      return from_grpc(
          gs.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch stream closed") : gs,
          "watch " + prefix_);
    }
    reader_ = std::thread([this] { read_loop(); });
    std::unique_lock lock(mu_);
    bool answered =
        cv_.wait_for(lock, core_->options.request_timeout, [&] { return created_ || done_; });
    if (answered && (created_ || !queue_.empty() || status_.code() == Code::kGone)) {
      return Status::ok();  // kGone is reported by next(), as the suite allows
    }
    Status st = answered ? status_
                         : Status(Code::kUnavailable, "watch " + prefix_ + ": etcd did not answer");
    lock.unlock();
    close();
    return st;
  }

  std::optional<Event> next(std::chrono::milliseconds timeout) override {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || done_ || closed_; });
    if (closed_ || queue_.empty()) return std::nullopt;
    Event ev = std::move(queue_.front());
    queue_.pop_front();
    return ev;
  }

  Status status() const override {
    std::lock_guard lock(mu_);
    return status_;
  }

  void close() override {
    {
      std::lock_guard lock(mu_);
      if (closed_) return;
      closed_ = true;
    }
    cv_.notify_all();
    ctx_.TryCancel();
    if (reader_.joinable()) reader_.join();
  }

 private:
  void finish(Status st) {
    {
      std::lock_guard lock(mu_);
      if (!closed_ && status_.is_ok()) status_ = std::move(st);
      done_ = true;
    }
    cv_.notify_all();
  }

  void read_loop() {
    pb::WatchResponse resp;
    while (stream_->Read(&resp)) {
      if (resp.created()) {
        std::lock_guard lock(mu_);
        created_ = true;
      }
      if (resp.compact_revision() > 0) {
        ctx_.TryCancel();
        stream_->Finish();
        finish(Status(Code::kGone, "watch " + prefix_ + ": revision compacted (oldest available: " +
                                       std::to_string(resp.compact_revision()) + ")"));
        return;
      }
      if (resp.canceled()) {
        ctx_.TryCancel();
        stream_->Finish();
        finish(Status(Code::kUnavailable,
                      "watch " + prefix_ + " cancelled by etcd: " + resp.cancel_reason()));
        return;
      }
      std::deque<Event> batch;
      for (const auto& e : resp.events()) batch.push_back(convert(e));
      {
        std::lock_guard lock(mu_);
        for (auto& ev : batch) queue_.push_back(std::move(ev));
      }
      cv_.notify_all();
    }
    grpc::Status gs = stream_->Finish();
    finish(
        from_grpc(gs.ok() ? grpc::Status(grpc::StatusCode::UNAVAILABLE, "watch stream ended") : gs,
                  "watch " + prefix_));
  }

  Event convert(const mvccpb::Event& e) const {
    Event ev;
    ev.revision = e.kv().mod_revision();
    if (e.type() == mvccpb::Event::PUT) {
      ev.kv = core_->convert(e.kv());
      if (e.kv().create_revision() == e.kv().mod_revision()) {
        ev.type = Event::Type::kCreated;
      } else {
        ev.type = Event::Type::kUpdated;
        if (e.has_prev_kv()) ev.prev = core_->convert(e.prev_kv());
      }
    } else {
      ev.type = Event::Type::kDeleted;
      ev.kv.key = core_->from_etcd(e.kv().key());
      ev.kv.mod_revision = e.kv().mod_revision();
      if (e.has_prev_kv()) {
        ev.prev = core_->convert(e.prev_kv());
        ev.kv.value = ev.prev->value;
        ev.kv.create_revision = ev.prev->create_revision;
      }
    }
    return ev;
  }

  std::shared_ptr<Core> core_;
  const std::string prefix_;
  grpc::ClientContext ctx_;  // outlives stream_
  std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>> stream_;
  std::thread reader_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  // Guarded by mu_:
  std::deque<Event> queue_;
  Status status_;
  bool created_ = false;
  bool done_ = false;  // the reader ended
  bool closed_ = false;
};

}  // namespace

Result<std::unique_ptr<EtcdStorage>> EtcdStorage::open(const EtcdOptions& options) {
  if (options.endpoints.empty()) return invalid("etcd: no endpoints (--etcd-servers)");
  if (options.request_timeout.count() <= 0) return invalid("etcd: request timeout must be > 0");
  std::vector<Endpoint> eps;
  for (const auto& url : options.endpoints) {
    auto ep = parse_endpoint(url);
    if (!ep) return ep.status();
    if (!eps.empty() && ep->tls != eps.front().tls) {
      return invalid("etcd endpoints mix http:// and https://");
    }
    eps.push_back(*ep);
  }
  // One endpoint: gRPC's DNS resolver. Several: an address list that
  // pick_first walks in order (host names are not resolved here: give IPs).
  std::string target;
  if (eps.size() == 1) {
    const auto& h = eps[0].host;
    target = "dns:///" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + eps[0].port;
  } else {
    bool v4 = is_ipv4(eps[0].host);
    target = v4 ? "ipv4:" : "ipv6:";
    for (size_t i = 0; i < eps.size(); ++i) {
      const auto& h = eps[i].host;
      bool is_v6 = h.find(':') != std::string::npos;
      if ((v4 && !is_ipv4(h)) || (!v4 && !is_v6)) {
        return invalid("etcd: with several endpoints give IP addresses of one family, not " + h);
      }
      target += (i ? "," : "") + (v4 ? h : "[" + h + "]") + ":" + eps[i].port;
    }
  }

  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (eps.front().tls) {
    grpc::SslCredentialsOptions ssl;
    if (!options.ca_file.empty()) {
      auto ca = read_file(options.ca_file, "--etcd-cafile");
      if (!ca) return ca.status();
      ssl.pem_root_certs = *ca;
    }
    if (options.cert_file.empty() != options.key_file.empty()) {
      return invalid("etcd: --etcd-certfile and --etcd-keyfile go together");
    }
    if (!options.cert_file.empty()) {
      auto cert = read_file(options.cert_file, "--etcd-certfile");
      if (!cert) return cert.status();
      auto key = read_file(options.key_file, "--etcd-keyfile");
      if (!key) return key.status();
      ssl.pem_cert_chain = *cert;
      ssl.pem_private_key = *key;
    }
    creds = grpc::SslCredentials(ssl);
  } else {
    if (!options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty()) {
      return invalid("etcd: TLS files given but the endpoints are http://");
    }
    creds = grpc::InsecureChannelCredentials();
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30000);  // etcd's default minimum is 5 s
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10000);
  // After etcd comes back, calls work again within about a second. The
  // "min" backoff is gRPC's connect timeout: a restarting etcd accepts TCP
  // before it serves, and an attempt must outlast that (~1 s here).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  if (eps.front().tls && eps.size() > 1) {
    args.SetSslTargetNameOverride(eps.front().host);
  }

  auto core = std::make_shared<Core>();
  core->options = options;
  core->channel = grpc::CreateCustomChannel(target, creds, args);
  core->kv = pb::KV::NewStub(core->channel);
  core->watcher = pb::Watch::NewStub(core->channel);

  // Wait for etcd to answer (it may still be starting).
  {
    pb::RangeRequest req;
    req.set_key(std::string(1, '\0'));
    req.set_count_only(true);
    pb::RangeResponse resp;
    grpc::ClientContext ctx;
    ctx.set_wait_for_ready(true);
    ctx.set_deadline(std::chrono::system_clock::now() + options.dial_timeout);
    grpc::Status gs = core->kv->Range(&ctx, req, &resp);
    if (!gs.ok()) {
      std::string urls;
      for (const auto& u : options.endpoints) urls += (urls.empty() ? "" : ",") + u;
      return Status(Code::kUnavailable,
                    "etcd at " + urls + " did not answer: " + gs.error_message());
    }
  }
  return std::unique_ptr<EtcdStorage>(new EtcdStorage(std::move(core)));
}

Result<std::unique_ptr<Storage>> open_etcd_storage(const EtcdOptions& options) {
  auto s = EtcdStorage::open(options);
  if (!s) return s.status();
  return std::unique_ptr<Storage>(std::move(*s));
}

EtcdStorage::EtcdStorage(std::shared_ptr<Core> core) : core_(std::move(core)) {
  if (core_->options.compaction_interval.count() > 0) {
    maintenance_ = std::thread([this] { maintenance_loop(); });
  }
}

EtcdStorage::~EtcdStorage() {
  {
    std::lock_guard lock(core_->stop_mu);
    core_->stopping = true;
  }
  core_->stop_cv.notify_all();
  if (maintenance_.joinable()) maintenance_.join();
}

void EtcdStorage::maintenance_loop() {
  std::unique_lock lock(core_->stop_mu);
  while (!core_->stop_cv.wait_for(lock, core_->options.compaction_interval,
                                  [&] { return core_->stopping; })) {
    lock.unlock();
    (void)compact_by_policy();  // an unreachable etcd: try again next time
    lock.lock();
  }
}

Result<int64_t> EtcdStorage::compact_by_policy() {
  auto cur = core_->current();
  if (!cur) return cur.status();
  auto now = Clock::now();
  auto& samples = core_->samples;
  samples.emplace_back(now, *cur);
  // The newest sample older than keep_age bounds what may go.
  int64_t by_age = 0;
  while (!samples.empty() && now - samples.front().first >= core_->options.compaction_keep_age) {
    by_age = samples.front().second;
    samples.pop_front();
  }
  if (by_age > 0) samples.emplace_front(now - core_->options.compaction_keep_age, by_age);
  int64_t target = std::min(*cur - core_->options.compaction_keep_revisions, by_age);
  if (target <= core_->compacted.load()) return core_->compacted.load();
  if (Status st = core_->compact_to(target); !st) return st;
  return target;
}

Result<int64_t> EtcdStorage::create(const std::string& key, const std::string& value) {
  if (Status st = validate_key(key); !st) return st;
  const std::string k = core_->to_etcd(key);
  pb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key(k);
  cmp->set_target(pb::Compare::CREATE);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_create_revision(0);
  auto* put = req.add_success()->mutable_request_put();
  put->set_key(k);
  put->set_value(value);
  pb::TxnResponse resp;
  if (Status st = core_->txn(req, &resp, "create " + key); !st) return st;
  if (!resp.succeeded()) return already_exists("key " + key + " already exists");
  return resp.header().revision();
}

Result<KeyValue> EtcdStorage::get(const std::string& key) {
  if (Status st = validate_key(key); !st) return st;
  pb::RangeRequest req;
  req.set_key(core_->to_etcd(key));
  pb::RangeResponse resp;
  if (Status st = core_->range(req, &resp, "get " + key); !st) return st;
  if (resp.kvs_size() == 0) return not_found("key " + key + " not found");
  return core_->convert(resp.kvs(0));
}

Result<ListResult> EtcdStorage::list(const std::string& prefix, const std::string& start_after,
                                     int64_t limit, int64_t revision_at) {
  if (limit < 0 || revision_at < 0) return invalid("list: negative limit or revision");
  const std::string p = core_->to_etcd(prefix);
  std::string from = p.empty() ? std::string(1, '\0') : p;
  if (!start_after.empty()) {
    std::string after = core_->to_etcd(start_after) + std::string(1, '\0');
    if (after > from) from = after;
  }
  pb::RangeRequest req;
  req.set_key(from);
  req.set_range_end(prefix_end(p));
  req.set_limit(limit);
  req.set_revision(revision_at);
  pb::RangeResponse resp;
  if (Status st = core_->range(req, &resp, "list " + prefix); !st) return st;
  ListResult out;
  out.revision = revision_at > 0 ? revision_at : resp.header().revision();
  out.more = resp.more();
  out.items.reserve(resp.kvs_size());
  for (const auto& kv : resp.kvs()) out.items.push_back(core_->convert(kv));
  return out;
}

Result<int64_t> EtcdStorage::update(const std::string& key, const std::string& value,
                                    int64_t expected_mod_revision) {
  if (Status st = validate_key(key); !st) return st;
  if (expected_mod_revision <= 0) return invalid("update " + key + ": no expected revision");
  const std::string k = core_->to_etcd(key);
  pb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key(k);
  cmp->set_target(pb::Compare::MOD);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_mod_revision(expected_mod_revision);
  auto* put = req.add_success()->mutable_request_put();
  put->set_key(k);
  put->set_value(value);
  req.add_failure()->mutable_request_range()->set_key(k);
  pb::TxnResponse resp;
  if (Status st = core_->txn(req, &resp, "update " + key); !st) return st;
  if (!resp.succeeded()) return core_->compare_failed(resp, key, expected_mod_revision);
  return resp.header().revision();
}

Result<int64_t> EtcdStorage::remove(const std::string& key, int64_t expected_mod_revision) {
  if (Status st = validate_key(key); !st) return st;
  if (expected_mod_revision < 0) return invalid("remove " + key + ": negative revision");
  const std::string k = core_->to_etcd(key);
  if (expected_mod_revision == 0) {
    pb::DeleteRangeRequest req;
    req.set_key(k);
    pb::DeleteRangeResponse resp;
    grpc::ClientContext ctx;
    core_->deadline(ctx);
    if (Status st = from_grpc(core_->kv->DeleteRange(&ctx, req, &resp), "remove " + key); !st) {
      return st;
    }
    if (resp.deleted() == 0) return not_found("key " + key + " not found");
    return resp.header().revision();
  }
  pb::TxnRequest req;
  auto* cmp = req.add_compare();
  cmp->set_key(k);
  cmp->set_target(pb::Compare::MOD);
  cmp->set_result(pb::Compare::EQUAL);
  cmp->set_mod_revision(expected_mod_revision);
  req.add_success()->mutable_request_delete_range()->set_key(k);
  req.add_failure()->mutable_request_range()->set_key(k);
  pb::TxnResponse resp;
  if (Status st = core_->txn(req, &resp, "remove " + key); !st) return st;
  if (!resp.succeeded()) return core_->compare_failed(resp, key, expected_mod_revision);
  return resp.header().revision();
}

Result<std::unique_ptr<WatchStream>> EtcdStorage::watch(const std::string& prefix,
                                                        int64_t after_revision) {
  if (after_revision < 0) return invalid("watch: negative revision");
  auto stream = std::make_unique<EtcdWatchStream>(core_, prefix);
  if (Status st = stream->start(after_revision + 1); !st) return st;
  return std::unique_ptr<WatchStream>(std::move(stream));
}

Status EtcdStorage::compact(int64_t revision) {
  auto cur = core_->current();
  if (!cur) return cur.status();
  if (revision > *cur) {
    return bad_request("cannot compact to revision " + std::to_string(revision) +
                       ": current revision is " + std::to_string(*cur));
  }
  return core_->compact_to(revision);
}

int64_t EtcdStorage::current_revision() {
  auto cur = core_->current();
  return cur ? *cur : 0;
}

int64_t EtcdStorage::compacted_revision() {
  // Someone else (etcdctl, another server, etcd's auto-compaction) may have
  // compacted further than we know: find the oldest readable revision,
  // searching up from the known bound.
  int64_t lo = std::max<int64_t>(core_->compacted.load(), 1);
  auto ok = core_->readable(lo);
  if (!ok || *ok) return core_->compacted.load();
  auto cur = core_->current();
  if (!cur) return core_->compacted.load();
  int64_t hi = *cur;     // the current revision is always readable
  while (lo + 1 < hi) {  // invariant: lo unreadable, hi readable
    int64_t mid = lo + (hi - lo) / 2;
    auto r = core_->readable(mid);
    if (!r) return core_->compacted.load();
    (*r ? hi : lo) = mid;
  }
  int64_t seen = core_->compacted.load();
  while (seen < hi && !core_->compacted.compare_exchange_weak(seen, hi)) {
  }
  return core_->compacted.load();
}

}  // namespace minik8s::storage
