#include "minik8s/ingress/ingress.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <thread>

#include "hosts_file.h"
#include "minik8s/api/resource.h"
#include "minik8s/client/informer.h"
#include "minik8s/util/time.h"
#include "nginx.h"
#include "render.h"

namespace minik8s::ingress {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using api::Json;

constexpr auto kCoalesce = 20ms;  // gather a burst of changes into one render
constexpr auto kHealthTick = 1s;  // re-check nginx and the hosts block
constexpr size_t kMaxPendingEvents = 200;

// The DNS objects named by the lines nginx complained about
// ("... in /p/nginx.conf.new:42").
std::set<std::string> owners_of_error(const std::string& message, const RenderedConfig& cfg) {
  std::set<std::string> out;
  static const std::regex kLine(R"(nginx\.conf(?:\.new)?:(\d+))");
  for (auto it = std::sregex_iterator(message.begin(), message.end(), kLine);
       it != std::sregex_iterator(); ++it) {
    size_t n = std::stoul((*it)[1].str());
    if (n >= 1 && n <= cfg.line_owner.size() && !cfg.line_owner[n - 1].empty())
      out.insert(cfg.line_owner[n - 1]);
  }
  return out;
}

}  // namespace

struct Ingress::Impl {
  Impl(client::Client& c, IngressOptions o)
      : client(c), opts(std::move(o)), nginx(opts.nginx, opts.prefix_dir) {}

  client::Client& client;
  IngressOptions opts;
  Nginx nginx;
  std::unique_ptr<client::Informer> dns_informer;
  std::unique_ptr<client::Informer> svc_informer;
  std::atomic<uint64_t> reloads{0};

  std::mutex mu;
  std::condition_variable cv;
  // Guarded by mu:
  bool dirty = true;
  bool stopping = false;
  std::deque<Json> pending_events;

  // Sync-thread state.
  std::string applied_config;      // what nginx runs (as far as we know)
  std::string rejected_config;     // last candidate nginx refused (not retried)
  std::set<std::string> reported;  // "ns/name\x1fmessage" already sent as Events

  std::thread sync_thread;
  std::thread event_thread;

  // Retried every second: say a repeated failure once, not every tick.
  std::string last_failure;  // sync thread
  void log_failure(const std::string& message) {
    if (message == last_failure) {
      spdlog::debug("{}", message);
    } else {
      spdlog::error("{}", message);
    }
    last_failure = message;
  }

  void mark_dirty() {
    std::lock_guard l(mu);
    dirty = true;
    cv.notify_all();
  }

  void sync_loop();
  void reconcile();
  void apply_config(const RenderedConfig& cfg);
  void apply_hosts(const std::vector<std::string>& hosts);
  void report_problems(const BuildResult& built);
  void event_loop();
};

void Ingress::Impl::sync_loop() {
  bool synced = false;
  while (true) {
    {
      std::unique_lock l(mu);
      cv.wait_for(l,
                  synced ? std::chrono::milliseconds(kHealthTick) : std::chrono::milliseconds(10),
                  [&] { return stopping || (synced && dirty); });
      if (stopping) return;
      if (dirty && synced) {
        // Let a burst (a kubectl apply of several objects) land first.
        cv.wait_for(l, kCoalesce, [&] { return stopping; });
        if (stopping) return;
      }
      dirty = false;
    }
    if (!synced) {
      // Rendering before both caches are complete would drop live routes.
      if (!dns_informer->has_synced() || !svc_informer->has_synced()) continue;
      synced = true;
    }
    reconcile();
  }
}

void Ingress::Impl::reconcile() {
  const auto& services = svc_informer->indexer();
  BuildResult built = build_routes(
      dns_informer->indexer().list(),
      [&](const std::string& ns, const std::string& name) { return services.get(ns, name); });
  RenderOptions ro;
  ro.prefix_dir = opts.prefix_dir;
  ro.listen_address = opts.listen_address;
  ro.port = opts.port;
  RenderedConfig cfg = render_nginx_config(built.hosts, ro);
  apply_config(cfg);
  std::vector<std::string> hosts;
  for (const HostRoutes& h : built.hosts) hosts.push_back(h.host);
  apply_hosts(hosts);
  report_problems(built);
}

void Ingress::Impl::apply_config(const RenderedConfig& cfg) {
  if (cfg.text != applied_config) {
    if (cfg.text == rejected_config) return;
    Status st = nginx.apply(cfg.text);
    if (st) {
      applied_config = cfg.text;
      rejected_config.clear();
      last_failure.clear();
      reloads.fetch_add(1);
      spdlog::info("ingress: nginx configuration applied ({} bytes, prefix {})", cfg.text.size(),
                   opts.prefix_dir);
    } else if (st.code() == Code::kInvalid) {
      rejected_config = cfg.text;
      std::string names;
      for (const auto& o : owners_of_error(st.message(), cfg))
        names += (names.empty() ? "DNS " : ", DNS ") + o;
      spdlog::error(
          "ingress: nginx rejected the configuration rendered from {}; keeping the previous one: "
          "{}",
          names.empty() ? "the DNS objects" : names, st.message());
    } else {
      log_failure("ingress: cannot apply the nginx configuration: " + st.to_string());
    }
    return;
  }
  // Unchanged: make sure a crashed or killed nginx comes back.
  if (nginx.running_pid() == 0) {
    Status st = nginx.ensure_running();
    if (st) {
      spdlog::warn("ingress: nginx under {} was not running; started it again", opts.prefix_dir);
    } else {
      log_failure("ingress: cannot start nginx: " + st.to_string());
    }
  }
}

void Ingress::Impl::apply_hosts(const std::vector<std::string>& hosts) {
  // Re-applied on every tick (cheap: one locked read): someone may have
  // rewritten the file, and a block left by an earlier run goes on the first.
  auto r = apply_hosts_block(opts.hosts_file, opts.block_tag, opts.hosts_ip, hosts);
  if (!r) {
    log_failure("ingress: hosts file: " + r.status().to_string());
    return;
  }
  if (*r)
    spdlog::info("ingress: hosts file {} block {}: {} host(s)", opts.hosts_file, opts.block_tag,
                 hosts.size());
}

void Ingress::Impl::report_problems(const BuildResult& built) {
  std::set<std::string> now;
  for (const auto& [owner, messages] : built.problems) {
    for (const auto& m : messages) {
      std::string id = owner + '\x1f' + m;
      now.insert(id);
      if (reported.count(id)) continue;
      spdlog::warn("ingress: DNS {}: {}", owner, m);
      auto obj = dns_informer->indexer().get(owner);
      if (!obj) continue;
      const Json& meta = (*obj)["metadata"];
      std::string ns = meta.value("namespace", "default");
      std::string name = meta.value("name", "");
      std::string stamp = format_rfc3339(std::chrono::system_clock::now());
      char suffix[32];
      std::snprintf(suffix, sizeof suffix, ".%llx",
                    static_cast<unsigned long long>(
                        std::chrono::system_clock::now().time_since_epoch().count()));
      std::string reason =
          m.find("not found") != std::string::npos ? "ServiceNotFound" : "IngressProblem";
      Json ev = {{"apiVersion", "v1"},
                 {"kind", "Event"},
                 {"metadata", {{"name", name + suffix}, {"namespace", ns}}},
                 {"involvedObject",
                  {{"apiVersion", "minik8s.io/v1"},
                   {"kind", "DNS"},
                   {"namespace", ns},
                   {"name", name},
                   {"uid", meta.value("uid", "")}}},
                 {"reason", reason},
                 {"message", m},
                 {"type", "Warning"},
                 {"source", {{"component", "minik8s-ingress"}, {"host", opts.block_tag}}},
                 {"firstTimestamp", stamp},
                 {"lastTimestamp", stamp},
                 {"count", 1},
                 {"reportingComponent", "minik8s-ingress"},
                 {"reportingInstance", opts.block_tag}};
      std::lock_guard l(mu);
      if (pending_events.size() < kMaxPendingEvents) pending_events.push_back(std::move(ev));
      cv.notify_all();
    }
  }
  reported = std::move(now);
}

// Events go out on their own thread: a slow API server must not hold up nginx.
void Ingress::Impl::event_loop() {
  const api::ResourceType* events = api::find_kind("v1", "Event");
  std::unique_lock l(mu);
  while (true) {
    cv.wait(l, [&] { return stopping || !pending_events.empty(); });
    if (stopping) return;
    Json ev = std::move(pending_events.front());
    pending_events.pop_front();
    l.unlock();
    if (events) {
      auto r = client.create(*events, ev);
      if (!r) spdlog::debug("ingress: event not recorded: {}", r.status().to_string());
    }
    l.lock();
  }
}

Ingress::Ingress(client::Client& client, IngressOptions options)
    : impl_(std::make_unique<Impl>(client, std::move(options))) {}

Ingress::~Ingress() { stop(); }

Status Ingress::start() {
  Impl& m = *impl_;
  if (m.sync_thread.joinable()) return Status::ok();
  if (m.opts.prefix_dir.empty()) return invalid("ingress: prefix_dir is required");
  if (m.opts.port < 1 || m.opts.port > 65535)
    return invalid("ingress: port " + std::to_string(m.opts.port) + " is out of range");
  std::error_code ec;
  fs::path prefix = fs::absolute(m.opts.prefix_dir, ec).lexically_normal();
  std::string p = prefix.string();
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  m.opts.prefix_dir = p;
  m.nginx = Nginx(m.opts.nginx, p);
  if (auto bin = m.nginx.find_binary(); !bin) return bin.status();
  const api::ResourceType* dns = api::find_kind("minik8s.io/v1", "DNS");
  const api::ResourceType* svc = api::find_kind("v1", "Service");
  if (!dns || !svc) return internal_error("ingress: the DNS or Service kind is not registered");

  // Adopt a running nginx with its live configuration: no reload when the
  // rendered text has not changed since the last agent.
  if (m.nginx.running_pid() > 0) {
    std::error_code rec;
    if (fs::exists(m.nginx.conf_path(), rec)) {
      std::ifstream in(m.nginx.conf_path(), std::ios::binary);
      m.applied_config.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    spdlog::info("ingress: adopted nginx {} under {}", m.nginx.running_pid(), p);
  }

  m.dns_informer = std::make_unique<client::Informer>(m.client, *dns);
  m.svc_informer = std::make_unique<client::Informer>(m.client, *svc);
  client::EventHandlers h;
  h.on_add = [&m](const client::ObjectPtr&) { m.mark_dirty(); };
  h.on_update = [&m](const client::ObjectPtr& a, const client::ObjectPtr& b) {
    if (!a || !b || (*a)["spec"] != (*b)["spec"] ||
        (*a)["metadata"].value("name", "") != (*b)["metadata"].value("name", "")) {
      m.mark_dirty();
    }
  };
  h.on_delete = [&m](const client::ObjectPtr&) { m.mark_dirty(); };
  m.dns_informer->add_event_handlers(h);
  m.svc_informer->add_event_handlers(h);
  {
    std::lock_guard l(m.mu);
    m.stopping = false;
    m.dirty = true;
  }
  m.dns_informer->start();
  m.svc_informer->start();
  m.sync_thread = std::thread([&m] { m.sync_loop(); });
  m.event_thread = std::thread([&m] { m.event_loop(); });
  spdlog::info("ingress: serving DNS objects on {}:{} (nginx prefix {}, hosts file {})",
               m.opts.listen_address, m.opts.port, p, m.opts.hosts_file);
  return Status::ok();
}

void Ingress::stop() {
  Impl& m = *impl_;
  {
    std::lock_guard l(m.mu);
    m.stopping = true;
    m.cv.notify_all();
  }
  if (m.sync_thread.joinable()) m.sync_thread.join();
  if (m.event_thread.joinable()) m.event_thread.join();
  if (m.dns_informer) m.dns_informer->stop();
  if (m.svc_informer) m.svc_informer->stop();
  m.dns_informer.reset();
  m.svc_informer.reset();
}

uint64_t Ingress::reloads() const { return impl_->reloads.load(); }

Status Ingress::cleanup(const IngressOptions& options) {
  Status first;
  if (!options.prefix_dir.empty()) {
    std::error_code ec;
    std::string p = fs::absolute(options.prefix_dir, ec).lexically_normal().string();
    while (p.size() > 1 && p.back() == '/') p.pop_back();
    Nginx nginx(options.nginx, p);
    if (Status st = nginx.stop(); !st) first = st;
    // Only what Nginx creates; the folder itself goes when nothing else is in it.
    for (const char* f : {"nginx.conf", "nginx.conf.new", "nginx.pid", "logs", "temp"}) {
      fs::remove_all(fs::path(p) / f, ec);
    }
    fs::remove(p, ec);
  }
  auto r = apply_hosts_block(options.hosts_file, options.block_tag, options.hosts_ip, {});
  if (!r && first) first = r.status();
  return first;
}

}  // namespace minik8s::ingress
