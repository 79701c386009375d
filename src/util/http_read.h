// Reading HTTP/1.1 requests with the ConnLimits timeouts (minik8s/util/conn_server.h),
// for the Beast servers on a ConnectionServer connection (the API server and
// the kubelet). Beast's synchronous reads on an Asio socket wait forever (Asio
// retries past SO_RCVTIMEO), so each read first polls the descriptor until the
// current deadline.
// Header-only Beast templates: include from the servers' .cc files only.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <functional>

#include "minik8s/util/conn_server.h"

namespace minik8s::http_read {

namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;
using SteadyTime = std::chrono::steady_clock::time_point;

// Adopts a ConnectionServer descriptor into an Asio socket (which must not
// close it: release() it before the connection handler returns).
inline void adopt(tcp::socket& s, int fd, beast::error_code& ec) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  s.assign(ss.ss_family == AF_INET6 ? tcp::v6() : tcp::v4(), fd, ec);
}

// Releases the adopted descriptor on scope exit, wherever the socket went
// meanwhile (a WebSocket borrows it and gives it back).
class Release {
 public:
  explicit Release(tcp::socket& s) : s_(s) {}
  ~Release() {
    beast::error_code ec;
    if (s_.is_open()) s_.release(ec);
  }
  Release(const Release&) = delete;
  Release& operator=(const Release&) = delete;

 private:
  tcp::socket& s_;
};

// True when fd has something to read (or was closed/shut down) before the deadline.
inline bool wait_readable(int fd, SteadyTime deadline) {
  for (;;) {
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) left = std::chrono::milliseconds(0);
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    int r = ::poll(&p, 1, static_cast<int>(std::min<int64_t>(left.count(), 1 << 30)));
    if (r > 0) return true;
    if (r == 0 || errno != EINTR) return r != 0;
    if (left.count() == 0) return false;
  }
}

// A SyncReadStream over a socket whose reads fail with timed_out after the deadline.
class DeadlineReader {
 public:
  explicit DeadlineReader(tcp::socket& s) : s_(s) {}
  void expires_at(SteadyTime t) { deadline_ = t; }

  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& b, beast::error_code& ec) {
    if (deadline_ != SteadyTime::max() && !wait_readable(s_.native_handle(), deadline_)) {
      ec = boost::asio::error::timed_out;
      return 0;
    }
    return s_.read_some(b, ec);
  }
  template <class MutableBufferSequence>
  size_t read_some(const MutableBufferSequence& b) {
    beast::error_code ec;
    size_t n = read_some(b, ec);
    if (ec) BOOST_THROW_EXCEPTION(beast::system_error{ec});
    return n;
  }

 private:
  tcp::socket& s_;
  SteadyTime deadline_ = SteadyTime::max();
};

inline SteadyTime after(SteadyTime from, std::chrono::milliseconds d) {
  return d.count() > 0 ? from + d : SteadyTime::max();
}

// Reads the next request of a keep-alive connection into p: waits for its
// first byte up to the idle timeout (the connection's first request instead
// has the header timeout counted from accept), then for the whole header up
// to the header timeout after that byte, then for the whole body up to the
// body timeout after the header. ec is timed_out when a limit ran out, and
// Beast's error otherwise (body_limit, end_of_stream, ...). on_header, when
// given, sees the parsed header before the body is read (to set a body limit
// by path, say) and may stop the read by setting ec.
using HeaderHook = std::function<void(http::request_parser<http::string_body>&, beast::error_code&)>;
inline void read_request(tcp::socket& s, beast::flat_buffer& buf, http::request_parser<http::string_body>& p,
                         const ConnLimits& lim, bool first, SteadyTime accepted, beast::error_code& ec,
                         const HeaderHook& on_header = {}) {
  auto now = std::chrono::steady_clock::now();
  SteadyTime header_deadline;
  if (first) {
    header_deadline = after(accepted, lim.header_timeout);
    if (buf.size() == 0 && !wait_readable(s.native_handle(), header_deadline)) {
      ec = boost::asio::error::timed_out;
      return;
    }
  } else {
    if (buf.size() == 0 && !wait_readable(s.native_handle(), after(now, lim.idle_timeout))) {
      ec = boost::asio::error::timed_out;
      return;
    }
    header_deadline = after(std::chrono::steady_clock::now(), lim.header_timeout);
  }
  DeadlineReader r(s);
  r.expires_at(header_deadline);
  http::read_header(r, buf, p, ec);
  if (ec) return;
  if (on_header) {
    on_header(p, ec);
    if (ec) return;
  }
  r.expires_at(after(std::chrono::steady_clock::now(), lim.body_timeout));
  http::read(r, buf, p, ec);
}

}  // namespace minik8s::http_read
