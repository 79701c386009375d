// Short names for Boost.Beast and Asio in the files that speak HTTP and
// WebSocket on raw sockets (the WebSocket codec, the API server's pod proxy,
// the kubelet's streaming server, mkctl's streams): write
// `using namespace minik8s::beast_names;` inside the file's namespace.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace minik8s::beast_names {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = boost::asio::ip::tcp;

}  // namespace minik8s::beast_names
