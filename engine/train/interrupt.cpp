// The stop flag and the SIGINT/SIGTERM handlers (see interrupt.h).
#include "engine/train/interrupt.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace weft::train {

namespace {

// Written by the signal handler, so it must be a lock-free atomic (the only kind of shared
// object a handler may touch). -1 means "requested by request_stop()", 0 "not requested".
std::atomic<int> requested_signal{0};
static_assert(std::atomic<int>::is_always_lock_free);

// Distributed runs: whether stop_requested() reports the agreed decision, and that decision
// (the agreed signal, -1 for request_stop(), 0 for none). Touched by the training thread only.
bool agreement_on = false;
int agreed_signal = 0;

struct sigaction previous_interrupt_action, previous_terminate_action;

// Only async-signal-safe calls here: write(), signal(), raise().
extern "C" void on_stop_signal(int signal_number) {
  if (requested_signal.exchange(signal_number) != 0) {
    // Asked twice: give up on a clean stop and let the default action end the process.
    std::signal(signal_number, SIG_DFL);
    std::raise(signal_number);
    return;
  }
  static const char message[] =
      "\nstop requested: finishing the current step (signal again to quit at once)\n";
  const ssize_t ignored = ::write(STDERR_FILENO, message, sizeof(message) - 1);
  static_cast<void>(ignored);
}

}  // namespace

bool local_stop_requested() { return requested_signal.load() != 0; }

int local_stop_signal() { return requested_signal.load(); }

bool stop_requested() { return agreement_on ? agreed_signal != 0 : local_stop_requested(); }

int stop_signal() {
  const int value = agreement_on ? agreed_signal : requested_signal.load();
  return value > 0 ? value : 0;
}

void use_agreed_stop(bool on) {
  agreement_on = on;
  agreed_signal = 0;
}

void agree_stop(int signal_number) { agreed_signal = signal_number != 0 ? signal_number : -1; }

void request_stop() {
  int expected = 0;
  requested_signal.compare_exchange_strong(expected, -1);
}

void clear_stop_request() {
  requested_signal.store(0);
  agreed_signal = 0;
}

StopOnSignals::StopOnSignals() {
  struct sigaction action = {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // a read() interrupted by Ctrl-C resumes instead of failing
  sigaction(SIGINT, &action, &previous_interrupt_action);
  sigaction(SIGTERM, &action, &previous_terminate_action);
}

StopOnSignals::~StopOnSignals() {
  sigaction(SIGINT, &previous_interrupt_action, nullptr);
  sigaction(SIGTERM, &previous_terminate_action, nullptr);
}

}  // namespace weft::train
