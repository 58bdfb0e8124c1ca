// Stopping a training run cleanly on Ctrl-C (SIGINT) or SIGTERM.
//
// A signal handler may do almost nothing safely, so it only records which signal came; the
// training loop polls stop_requested() between steps, finishes the step it is in, and stops at
// a point where the saved state is whole (engine/train/trainer.h says which). A second signal
// while the first is being honoured ends the process at once, the usual Ctrl-C-twice escape.
//
// An interrupted app exits with 128 + the signal number (130 for SIGINT, 143 for SIGTERM), the
// shell's convention, so a script can tell "stopped on request" from "failed" (exit 1).
#pragma once

namespace weft::train {

// True once SIGINT or SIGTERM arrived (while a StopOnSignals is alive) or request_stop() ran.
// In a distributed run (use_agreed_stop(true)), true once the ranks agreed to stop instead.
bool stop_requested();
// This process's own request, agreed on or not, and its signal (-1 for request_stop()).
bool local_stop_requested();
int local_stop_signal();
// Distributed runs: every rank must leave the loop at the same step, or the others would wait
// for it in the next collective. With agreement on, stop_requested() turns true only after
// agree_stop(), which the gradient exchange calls on every rank when any rank had a local
// request (engine/distributed/gradient_reducer.h); `signal_number` is the largest signal seen.
void use_agreed_stop(bool on);
void agree_stop(int signal_number);
// The signal that asked to stop, or 0 when nobody did or request_stop() did.
int stop_signal();
// Ask the loop to stop as a signal would (for tests and for callers with their own UI).
void request_stop();
// Forget a request (the trainer does this when a run starts).
void clear_stop_request();

// While alive, SIGINT and SIGTERM set the stop flag instead of killing the process; the
// previous handlers come back when it is destroyed.
class StopOnSignals {
 public:
  StopOnSignals();
  ~StopOnSignals();
  StopOnSignals(const StopOnSignals&) = delete;
  StopOnSignals& operator=(const StopOnSignals&) = delete;
};

}  // namespace weft::train
