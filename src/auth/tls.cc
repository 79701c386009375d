#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "minik8s/auth/tls.h"
#include "openssl_error.h"

namespace minik8s::auth {
namespace {

using Clock = std::chrono::steady_clock;

// Asks for a client certificate and lets the handshake go on whatever the
// verdict; run() reads the verdict (SSL_get_verify_result) afterwards.
int accept_any(int, X509_STORE_CTX*) { return 1; }

std::optional<PeerIdentity> verified_peer(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert) return std::nullopt;
  if (SSL_get_verify_result(ssl) != X509_V_OK) {
    spdlog::debug("tls: ignoring a client certificate that does not verify: {}",
                  X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
    return std::nullopt;
  }
  PeerIdentity id;
  X509_NAME* name = X509_get_subject_name(cert);
  for (int i = 0; i < X509_NAME_entry_count(name); ++i) {
    X509_NAME_ENTRY* e = X509_NAME_get_entry(name, i);
    int nid = OBJ_obj2nid(X509_NAME_ENTRY_get_object(e));
    if (nid != NID_commonName && nid != NID_organizationName) continue;
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e));
    if (n < 0) continue;
    std::string v(reinterpret_cast<char*>(utf8), static_cast<size_t>(n));
    OPENSSL_free(utf8);
    if (nid == NID_commonName) {
      id.common_name = v;
    } else {
      id.organizations.push_back(v);
    }
  }
  return id;
}

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Pumps bytes both ways between a TLS session (on the client's socket) and
// the plaintext end of a socketpair until either side is done.
//   client → handler: SSL_read, send to the pair; the client's close_notify
//     (or EOF) half-closes the pair so that the handler reads EOF.
//   handler → client: recv from the pair, SSL_write; the handler's EOF
//     (it returned, or shut down its sending side) sends close_notify and
//     ends the relay once everything before it went out.
// A TLS error or a reset ends the relay at once; closing the pair's end
// then makes the handler's reads and writes fail.
void relay(SSL* ssl, int tcp_fd, int plain) {
  char in_buf[16384];  // decrypted, not yet given to the handler
  size_t in_len = 0, in_off = 0;
  char out_buf[16384];  // from the handler, not yet encrypted
  size_t out_len = 0;
  bool tls_read_open = true, plain_read_open = true;
  while (true) {
    bool progress = false;
    short tcp_events = 0, plain_events = 0;
    // Client → handler.
    if (tls_read_open && in_off == in_len) {
      int n = SSL_read(ssl, in_buf, sizeof in_buf);
      if (n > 0) {
        in_len = static_cast<size_t>(n);
        in_off = 0;
        progress = true;
      } else {
        int e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_WANT_READ) {
          tcp_events |= POLLIN;
        } else if (e == SSL_ERROR_WANT_WRITE) {
          tcp_events |= POLLOUT;
        } else if (e == SSL_ERROR_ZERO_RETURN) {
          tls_read_open = false;
          ::shutdown(plain, SHUT_WR);
          progress = true;
        } else {
          ERR_clear_error();
          return;  // reset or TLS error
        }
      }
    }
    if (in_off < in_len) {
      ssize_t n = ::send(plain, in_buf + in_off, in_len - in_off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        in_off += static_cast<size_t>(n);
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        plain_events |= POLLOUT;
      } else {
        return;  // the handler is gone
      }
    }
    // Handler → client.
    if (plain_read_open && out_len == 0) {
      ssize_t n = ::recv(plain, out_buf, sizeof out_buf, MSG_DONTWAIT);
      if (n > 0) {
        out_len = static_cast<size_t>(n);
        progress = true;
      } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        plain_events |= POLLIN;
      } else {
        plain_read_open = false;
        progress = true;
      }
    }
    if (out_len > 0) {
      int n = SSL_write(ssl, out_buf, static_cast<int>(out_len));
      if (n > 0) {
        // SSL_MODE_ENABLE_PARTIAL_WRITE is off: all of it went.
        out_len = 0;
        progress = true;
      } else {
        int e = SSL_get_error(ssl, n);
        if (e == SSL_ERROR_WANT_WRITE) {
          tcp_events |= POLLOUT;
        } else if (e == SSL_ERROR_WANT_READ) {
          tcp_events |= POLLIN;
        } else {
          ERR_clear_error();
          return;
        }
      }
    }
    if (!plain_read_open && out_len == 0) {
      SSL_shutdown(ssl);  // close_notify, best effort; the socket closes next
      return;
    }
    if (progress) continue;
    pollfd fds[2] = {{tcp_fd, tcp_events, 0}, {plain, plain_events, 0}};
    int r = ::poll(fds, 2, -1);
    if (r < 0 && errno != EINTR) return;
    // A hang-up on the client's socket with nothing asked of it (stop()
    // shut it down while both sides were idle) ends the relay.
    if (r > 0 && (fds[0].revents & (POLLHUP | POLLERR)) && !(fds[0].revents & POLLIN)) return;
  }
}

class TlsServerLayer final : public ConnectionLayer {
 public:
  explicit TlsServerLayer(SSL_CTX* ctx) : ctx_(ctx, SSL_CTX_free) {}

  void run(int fd, Clock::time_point deadline,
           const std::function<void(int, const std::optional<PeerIdentity>&)>& inner) override {
    std::unique_ptr<SSL, void (*)(SSL*)> ssl(SSL_new(ctx_.get()), SSL_free);
    if (!ssl) return;
    set_nonblocking(fd);
    SSL_set_fd(ssl.get(), fd);
    // The handshake, within the header timeout.
    while (true) {
      int r = SSL_accept(ssl.get());
      if (r == 1) break;
      int e = SSL_get_error(ssl.get(), r);
      short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
      if (events == 0) {
        spdlog::debug("tls: handshake failed: {}", ssl_error("SSL_accept"));
        ERR_clear_error();
        return;
      }
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return;
      pollfd p{fd, events, 0};
      if (::poll(&p, 1, static_cast<int>(left)) < 0 && errno != EINTR) return;
    }
    std::optional<PeerIdentity> peer = verified_peer(ssl.get());
    int pair[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) return;
    set_nonblocking(pair[0]);
    struct Closer {
      int* pair;
      std::thread* relay;
      ~Closer() {
        // The handler's end first: the relay sees EOF, sends what is left
        // and close_notify, and returns.
        ::close(pair[1]);
        if (relay->joinable()) relay->join();
        ::close(pair[0]);
      }
    };
    std::thread relay_thread;
    Closer closer{pair, &relay_thread};
    relay_thread = std::thread([&] {
      relay(ssl.get(), fd, pair[0]);
      // Whatever ended it, the handler's reads now see EOF and its writes fail
      // (a blocked watch write included).
      ::shutdown(pair[0], SHUT_RDWR);
    });
    inner(pair[1], peer);
  }

 private:
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> ctx_;
};

}  // namespace

Result<std::shared_ptr<ConnectionLayer>> make_tls_server_layer(const TlsServerConfig& config) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) return Status(Code::kInternal, ssl_error("SSL_CTX_new"));
  auto layer = std::make_shared<TlsServerLayer>(ctx);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, config.cert_file.c_str()) != 1) {
    return Status(Code::kInvalid, ssl_error("serving certificate " + config.cert_file));
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return Status(Code::kInvalid, ssl_error("serving key " + config.key_file));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return Status(Code::kInvalid, ssl_error("serving key " + config.key_file + " does not match " +
                                            config.cert_file));
  }
  if (!config.client_ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.client_ca_file.c_str(), nullptr) != 1) {
      return Status(Code::kInvalid, ssl_error("client CA " + config.client_ca_file));
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(config.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
  }
  // Sessions are not resumed across connections (no cache to bound).
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_num_tickets(ctx, 0);
  return std::shared_ptr<ConnectionLayer>(layer);
}

Result<ssl_ctx_st*> make_client_ssl_ctx(const TlsClientConfig& config) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) return Status(Code::kInternal, ssl_error("SSL_CTX_new"));
  std::unique_ptr<SSL_CTX, void (*)(SSL_CTX*)> owned(ctx, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (!config.ca_pem.empty()) {
    std::unique_ptr<BIO, int (*)(BIO*)> b(
        BIO_new_mem_buf(config.ca_pem.data(), static_cast<int>(config.ca_pem.size())), BIO_free);
    X509_STORE* store = SSL_CTX_get_cert_store(ctx);
    int n = 0;
    while (X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_cert(store, x);
      X509_free(x);
      ++n;
    }
    ERR_clear_error();
    if (n == 0)
      return Status(Code::kInvalid, "certificate-authority-data: no PEM certificate in it");
  } else if (!config.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, config.ca_file.c_str(), nullptr) != 1) {
      return Status(Code::kInvalid, ssl_error("certificate-authority " + config.ca_file));
    }
  } else {
    SSL_CTX_set_default_verify_paths(ctx);
  }
  if (!config.cert_pem.empty()) {
    std::unique_ptr<BIO, int (*)(BIO*)> b(
        BIO_new_mem_buf(config.cert_pem.data(), static_cast<int>(config.cert_pem.size())),
        BIO_free);
    X509* x = PEM_read_bio_X509(b.get(), nullptr, nullptr, nullptr);
    if (!x || SSL_CTX_use_certificate(ctx, x) != 1) {
      if (x) X509_free(x);
      return Status(Code::kInvalid, ssl_error("client-certificate-data"));
    }
    X509_free(x);
  } else if (!config.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, config.cert_file.c_str()) != 1) {
      return Status(Code::kInvalid, ssl_error("client-certificate " + config.cert_file));
    }
  }
  if (!config.key_pem.empty()) {
    std::unique_ptr<BIO, int (*)(BIO*)> b(
        BIO_new_mem_buf(config.key_pem.data(), static_cast<int>(config.key_pem.size())), BIO_free);
    EVP_PKEY* k = PEM_read_bio_PrivateKey(b.get(), nullptr, nullptr, nullptr);
    if (!k || SSL_CTX_use_PrivateKey(ctx, k) != 1) {
      if (k) EVP_PKEY_free(k);
      return Status(Code::kInvalid, ssl_error("client-key-data"));
    }
    EVP_PKEY_free(k);
  } else if (!config.key_file.empty()) {
    if (SSL_CTX_use_PrivateKey_file(ctx, config.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return Status(Code::kInvalid, ssl_error("client-key " + config.key_file));
    }
  }
  if (config.has_client_cert() != (!config.key_pem.empty() || !config.key_file.empty())) {
    return Status(Code::kInvalid, "a client certificate needs its key, and a key its certificate");
  }
  if (config.has_client_cert() && SSL_CTX_check_private_key(ctx) != 1) {
    return Status(Code::kInvalid,
                  ssl_error("the client key does not match the client certificate"));
  }
  SSL_CTX_set_verify(ctx, config.insecure_skip_verify ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, nullptr);
  return owned.release();
}

void prepare_client_ssl(ssl_st* ssl, const std::string& host, const TlsClientConfig& config) {
  if (config.insecure_skip_verify) {
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    return;
  }
  std::string name = config.server_name.empty() ? host : config.server_name;
  if (!name.empty() && name.front() == '[' && name.back() == ']')
    name = name.substr(1, name.size() - 2);
  unsigned char buf[16];
  if (inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl, name.c_str());
    SSL_set1_host(ssl, name.c_str());
  }
}

Result<int> dial_tls_tunnel(const std::string& host, const std::string& port,
                            const TlsClientConfig& config, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  auto ctx_r = make_client_ssl_ctx(config);
  if (!ctx_r) return ctx_r.status();
  std::shared_ptr<SSL_CTX> ctx(*ctx_r, SSL_CTX_free);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string h = host;
  if (!h.empty() && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (int e = ::getaddrinfo(h.c_str(), port.c_str(), &hints, &res); e != 0) {
    return Status(Code::kUnavailable, "resolve " + host + ": " + gai_strerror(e));
  }
  int fd = -1;
  std::string why = "no address";
  for (addrinfo* a = res; a && fd < 0; a = a->ai_next) {
    int s = ::socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (s < 0) continue;
    int r = ::connect(s, a->ai_addr, a->ai_addrlen);
    if (r != 0 && errno == EINPROGRESS) {
      auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      pollfd p{s, POLLOUT, 0};
      if (left > 0 && ::poll(&p, 1, static_cast<int>(left)) == 1) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len);
        r = err == 0 ? 0 : -1;
        errno = err ? err : ETIMEDOUT;
      } else {
        errno = ETIMEDOUT;
      }
    }
    if (r == 0) {
      fd = s;
    } else {
      why = std::strerror(errno);
      ::close(s);
    }
  }
  ::freeaddrinfo(res);
  if (fd < 0) return Status(Code::kUnavailable, "dial tcp " + host + ":" + port + ": " + why);
  std::shared_ptr<SSL> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  prepare_client_ssl(ssl.get(), host, config);
  while (true) {
    int r = SSL_connect(ssl.get());
    if (r == 1) break;
    int e = SSL_get_error(ssl.get(), r);
    short events = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (events == 0 || left <= 0) {
      std::string reason = events == 0 ? ssl_error("TLS handshake with " + host + ":" + port)
                                       : "TLS handshake with " + host + ":" + port + " timed out";
      long v = SSL_get_verify_result(ssl.get());
      if (v != X509_V_OK) reason += std::string(" (") + X509_verify_cert_error_string(v) + ")";
      ERR_clear_error();
      ::close(fd);
      return Status(Code::kUnavailable, reason);
    }
    pollfd p{fd, events, 0};
    ::poll(&p, 1, static_cast<int>(left));
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    ::close(fd);
    return Status(Code::kUnavailable, std::string("socketpair: ") + std::strerror(errno));
  }
  set_nonblocking(pair[0]);
  std::thread([ctx, ssl, fd, plain = pair[0]] {
    relay(ssl.get(), fd, plain);
    ::shutdown(plain, SHUT_RDWR);
    ::close(plain);
    ::close(fd);
  }).detach();
  return pair[1];
}

}  // namespace minik8s::auth
