#include "minik8s/util/signals.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <chrono>

namespace minik8s {
namespace {

using namespace std::chrono_literals;

// The gtest main runs tests on one thread: the mask and the pending signals
// below belong to it; each test restores the mask it found.
class Signals : public ::testing::Test {
 protected:
  void SetUp() override {
    pthread_sigmask(SIG_SETMASK, nullptr, &saved_mask_);
    saved_pipe_ = ::signal(SIGPIPE, SIG_DFL);
  }
  void TearDown() override {
    pthread_sigmask(SIG_SETMASK, &saved_mask_, nullptr);
    ::signal(SIGPIPE, saved_pipe_);
  }
  static bool blocked(int sig) {
    sigset_t now;
    pthread_sigmask(SIG_SETMASK, nullptr, &now);
    return sigismember(&now, sig) == 1;
  }
  sigset_t saved_mask_;
  void (*saved_pipe_)(int) = SIG_DFL;
};

TEST_F(Signals, BlocksTheStopSignalsAndIgnoresSigpipe) {
  sigset_t set = block_stop_signals({SIGCHLD});
  EXPECT_TRUE(blocked(SIGTERM));
  EXPECT_TRUE(blocked(SIGINT));
  EXPECT_TRUE(blocked(SIGCHLD));
  EXPECT_EQ(sigismember(&set, SIGCHLD), 1);
  EXPECT_EQ(sigismember(&set, SIGHUP), 0);
  EXPECT_FALSE(blocked(SIGHUP));
  EXPECT_EQ(::signal(SIGPIPE, SIG_DFL), SIG_IGN);
}

TEST_F(Signals, WaitReturnsThePendingSignalOrZeroAfterTheTimeout) {
  sigset_t set = block_stop_signals();
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(wait_for_signal(set, 20ms), 0);
  EXPECT_GE(std::chrono::steady_clock::now() - start, 20ms);
  EXPECT_EQ(wait_for_signal(set, 0ms), 0);
  ASSERT_EQ(pthread_kill(pthread_self(), SIGTERM), 0);  // stays pending: it is blocked
  EXPECT_EQ(wait_for_signal(set, 1000ms), SIGTERM);
  EXPECT_EQ(wait_for_signal(set, 0ms), 0);  // taken once
}

}  // namespace
}  // namespace minik8s
