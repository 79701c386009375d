// Server-side TLS for the ConnectionServer (docs/auth.md "TLS"): a
// ConnectionLayer that terminates TLS on each connection's thread and relays
// the plaintext over a socketpair to the unchanged HTTP handler, which is
// then the same code with or without TLS (the API server; the kubelet's
// server can take the same layer).
//
// Client certificates are asked for but not required: one that verifies
// against client_ca_file becomes the connection's PeerIdentity (CN, O list);
// one that does not is ignored (the request is anonymous).
//
// Thread safety: the layer is immutable once made; run() is called from any
// number of connection threads. Each TLS connection costs one more thread
// (the relay) while it lasts.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "minik8s/util/conn_server.h"
#include "minik8s/util/status.h"

struct ssl_ctx_st;
struct ssl_st;

namespace minik8s::auth {

struct TlsServerConfig {
  std::string cert_file;       // PEM serving certificate (chain)
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA bundle for client certificates; empty: none asked for
};

// kInvalid naming the file when a certificate, key or CA cannot be loaded or
// the key does not match the certificate.
Result<std::shared_ptr<ConnectionLayer>> make_tls_server_layer(const TlsServerConfig& config);

// What a client needs to speak TLS to a server (kubeconfig: the cluster's
// certificate-authority(-data), insecure-skip-tls-verify, tls-server-name;
// the user's client-certificate(-data), client-key(-data)). PEM text wins
// over the file when both are set.
struct TlsClientConfig {
  std::string ca_file, ca_pem;      // the server's CA; both empty: the system's roots
  std::string cert_file, cert_pem;  // optional client certificate ...
  std::string key_file, key_pem;    // ... and its key
  bool insecure_skip_verify = false;
  std::string server_name;  // checked instead of the host dialed (empty: the host)
  bool has_client_cert() const { return !cert_file.empty() || !cert_pem.empty(); }
};

// A client SSL_CTX (TLS 1.2+, peer verification unless insecure); the caller
// owns it (SSL_CTX_free, or hand it to boost::asio::ssl::context). kInvalid
// naming the file or field that cannot be loaded.
Result<ssl_ctx_st*> make_client_ssl_ctx(const TlsClientConfig& config);
// Per connection, before the handshake: SNI (for a host name) and the check
// of the server certificate's DNS or IP subjectAltNames against host (or
// config.server_name).
void prepare_client_ssl(ssl_st* ssl, const std::string& host, const TlsClientConfig& config);
// A plaintext descriptor onto a TLS connection to host:port: dials, shakes
// hands (within timeout) and relays on a thread of its own, which ends when
// the caller closes the descriptor or the server ends the connection. For
// code written against a plain socket (the WebSocket dialer). kUnavailable
// when the server cannot be reached or the handshake fails (the reason, e.g.
// "certificate verify failed", in the message).
Result<int> dial_tls_tunnel(const std::string& host, const std::string& port,
                            const TlsClientConfig& config, std::chrono::milliseconds timeout);

}  // namespace minik8s::auth
