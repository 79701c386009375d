#include "minik8s/util/fd_io.h"

#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace minik8s {
namespace {

using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

struct SocketPair {
  SocketPair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd), 0); }
  ~SocketPair() {
    for (int f : fd) {
      if (f >= 0) ::close(f);
    }
  }
  int fd[2] = {-1, -1};
};

TEST(FdIo, WholeWritesAndReadsAcrossPieces) {
  SocketPair p;
  std::string big(1 << 20, 'x');  // more than the socket buffer: written while the reader drains
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + i % 26);
  std::string got(big.size(), '\0');
  std::thread reader([&] { EXPECT_TRUE(read_exact(p.fd[1], got.data(), got.size(), SteadyClock::now() + 10s)); });
  EXPECT_TRUE(write_all(p.fd[0], big.data(), big.size(), SteadyClock::now() + 10s));
  reader.join();
  EXPECT_EQ(got, big);
}

TEST(FdIo, ReadEndsAtTheDeadlineAndAtEof) {
  SocketPair p;
  uint8_t b[4];
  auto t0 = SteadyClock::now();
  EXPECT_FALSE(read_exact(p.fd[1], b, sizeof b, t0 + 50ms));
  EXPECT_GE(SteadyClock::now() - t0, 50ms);
  ASSERT_TRUE(write_all(p.fd[0], "ab", 2, SteadyClock::now() + 1s));
  ::shutdown(p.fd[0], SHUT_WR);
  EXPECT_FALSE(read_exact(p.fd[1], b, sizeof b, SteadyClock::now() + 5s));  // 2 of 4 bytes, then EOF
}

TEST(FdIo, WakeFdEndsTheWait) {
  SocketPair p;
  int wake = ::eventfd(0, EFD_CLOEXEC);
  ASSERT_GE(wake, 0);
  uint64_t one = 1;
  ASSERT_EQ(::write(wake, &one, sizeof one), static_cast<ssize_t>(sizeof one));
  uint8_t b[1];
  auto t0 = SteadyClock::now();
  EXPECT_FALSE(read_exact(p.fd[1], b, sizeof b, t0 + 10s, wake));
  EXPECT_LT(SteadyClock::now() - t0, 5s);
  ::close(wake);
}

TEST(FdIo, WriteToAClosedPeerFailsWithoutSigpipe) {
  SocketPair p;
  ::close(p.fd[1]);
  p.fd[1] = -1;
  EXPECT_FALSE(write_all(p.fd[0], "abc", 3, SteadyClock::now() + 1s));
}

}  // namespace
}  // namespace minik8s
