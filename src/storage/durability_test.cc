// Crash durability: a child process writes through SqliteStorage and reports
// each key only after create() returned OK; the parent SIGKILLs it mid-stream,
// reopens the store and checks that every acknowledged write survived intact
// and that the store is consistent.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "sqlite_storage.h"

namespace minik8s::storage {
namespace {

using namespace std::chrono_literals;

// Deterministic, self-checking value for (round, i): long enough to span
// several SQLite pages now and then.
std::string value_for(int round, int i) {
  std::string v = "round=" + std::to_string(round) + ";i=" + std::to_string(i) + ";";
  size_t len = 200 + static_cast<size_t>((i * 7919) % 9000);
  while (v.size() < len) v += static_cast<char>('a' + (v.size() + i) % 26);
  return v;
}

std::string key_for(int round, int i) {
  return "/registry/durability/r" + std::to_string(round) + "/" + std::to_string(i);
}

// Child: 4 writer threads creating keys forever; each ack is one write(2) of
// "<i>\n" to the pipe after create() returned OK. Never returns.
[[noreturn]] void child_main(const std::string& path, int round, int ack_fd) {
  SqliteOptions o;
  o.path = path;
  o.compaction_interval = 0ms;
  auto s = SqliteStorage::open(o);
  if (!s.is_ok()) _exit(2);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t;; i += 4) {
        auto r = (*s)->create(key_for(round, i), value_for(round, i));
        if (!r.is_ok()) _exit(3);
        std::string line = std::to_string(i) + "\n";
        if (::write(ack_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
          _exit(4);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  _exit(0);
}

class DurabilityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::random_device rd;
    dir_ = (std::filesystem::temp_directory_path() /
            ("mk-durability-" + std::to_string(::getpid()) + "-" + std::to_string(rd())))
               .string();
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string dir_;
};

TEST_F(DurabilityTest, AcknowledgedCreatesSurviveKill9) {
  const std::string path = dir_ + "/store.db";
  int64_t last_revision = 0;
  // Kill after this many acknowledgements (different points in the stream,
  // including one right at the start).
  for (int round = 0; round < 4; ++round) {
    const size_t kill_after = std::vector<size_t>{1, 300, 1500, 4000}[round];
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      child_main(path, round, fds[1]);
    }
    ::close(fds[1]);

    std::set<int> acked;
    std::string pending;
    char buf[4096];
    bool killed = false;
    auto deadline = std::chrono::steady_clock::now() + 20s;
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;  // EOF: the child is dead and the pipe drained
      pending.append(buf, static_cast<size_t>(n));
      size_t pos;
      while ((pos = pending.find('\n')) != std::string::npos) {
        acked.insert(std::stoi(pending.substr(0, pos)));
        pending.erase(0, pos + 1);
      }
      if (!killed && (acked.size() >= kill_after || std::chrono::steady_clock::now() > deadline)) {
        ::kill(pid, SIGKILL);
        killed = true;
      }
    }
    ::close(fds[0]);
    int wstatus = 0;
    ASSERT_EQ(::waitpid(pid, &wstatus, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGKILL)
        << "child exited on its own, status " << wstatus;
    ASSERT_GE(acked.size(), kill_after);

    SqliteOptions o;
    o.path = path;
    o.compaction_interval = 0ms;
    auto reopened = SqliteStorage::open(o);
    ASSERT_TRUE(reopened.is_ok()) << reopened.status().to_string();
    Storage& s = **reopened;

    for (int i : acked) {
      auto kv = s.get(key_for(round, i));
      ASSERT_TRUE(kv.is_ok()) << "round " << round << ": acknowledged key " << i
                              << " lost: " << kv.status().to_string();
      ASSERT_EQ(kv->value, value_for(round, i)) << "round " << round << " key " << i;
    }
    // Every row present (acknowledged or not) is whole; revisions are dense.
    auto all = s.list("/registry/durability/r" + std::to_string(round) + "/", "", 0);
    ASSERT_TRUE(all.is_ok()) << all.status().to_string();
    EXPECT_GE(all->items.size(), acked.size());
    std::vector<int64_t> revs;
    for (const auto& kv : all->items) {
      int i = std::stoi(kv.key.substr(kv.key.rfind('/') + 1));
      EXPECT_EQ(kv.value, value_for(round, i)) << "torn row for " << kv.key;
      EXPECT_EQ(kv.create_revision, kv.mod_revision);
      revs.push_back(kv.mod_revision);
    }
    std::sort(revs.begin(), revs.end());
    for (size_t j = 0; j < revs.size(); ++j) {
      ASSERT_EQ(revs[j], last_revision + 1 + static_cast<int64_t>(j)) << "revision gap";
    }
    EXPECT_EQ(s.current_revision(), last_revision + static_cast<int64_t>(revs.size()));
    // The revision continues after the crash.
    auto next = s.create("/registry/durability/after" + std::to_string(round), "x");
    ASSERT_TRUE(next.is_ok()) << next.status().to_string();
    EXPECT_EQ(*next, s.current_revision());
    EXPECT_EQ(*next, last_revision + static_cast<int64_t>(revs.size()) + 1);
    last_revision = *next;
  }
}

}  // namespace
}  // namespace minik8s::storage
