// Process-wide signal set-up for the long-running subcommands (minik8s
// server, agent, up). Stop signals are taken synchronously by the main thread
// (sigtimedwait/sigwait), never by a handler, so shutdown runs as ordinary
// code.
#pragma once

#include <signal.h>

#include <chrono>
#include <initializer_list>

namespace minik8s {

// Blocks SIGTERM, SIGINT and `also` (e.g. SIGCHLD for a supervisor) in the
// calling thread and ignores SIGPIPE (a peer that closed its socket is an
// EPIPE, not the end of the process). Call it from main before any thread
// starts: threads inherit the mask, so only the waiting thread sees the
// signals. Returns the blocked set, for wait_for_signal or sigwait.
sigset_t block_stop_signals(std::initializer_list<int> also = {});

// Waits up to timeout for one of `set` (blocked beforehand): its number, or 0
// when none came in time (or the wait was interrupted by another signal).
int wait_for_signal(const sigset_t& set, std::chrono::milliseconds timeout);

}  // namespace minik8s
