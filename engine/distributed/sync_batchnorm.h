// Synchronised batch norm: the option, and the exchange the batch-norm kernels call between
// their per-channel partial results and the step that finishes them (kernels/params.h,
// BatchNormSync).
//
// By default each rank of a data-parallel run normalises with the statistics of its own shard
// of the batch. With set_sync_batchnorm(true) (the apps' --sync-batchnorm) every training-mode
// batch norm uses the statistics of the whole global batch: the forward exchanges each rank's
// per-channel (count, mean, M2) and merges them in rank order; the backward exchanges the two
// per-channel gradient sums and the count. N ranks x batch B then compute the statistics of one
// process with batch N x B, and the running statistics move identically on every rank.
//
// Why (count, mean, M2) rather than sums of x and x^2: E[x^2] - E[x]^2 cancels catastrophically
// when a channel's mean is large next to its spread (the CPU kernel avoids it with two passes,
// the CUDA kernel with Welford); each rank's moments are exact to double rounding and Chan's
// merge keeps them so. An all-reduce cannot merge moments (NCCL has only fixed operations), so
// the exchange is a gather done as a sum: each rank writes its slot of a zeroed [ranks, C, 3]
// buffer (adding zeros is exact). The buffer is ranks x 3 doubles per channel: small next to the
// activations it summarises.
//
// Transport: CPU tensors through the world communicator (MPI_Allreduce, with its deadline); CUDA
// tensors through a watched NCCL communicator of its own (nccl_comm.h), queued on the kernels'
// stream, so the host does not wait. With one process, or with the option off, batch_norm_sync()
// is null and the kernels run exactly as without this file.
#pragma once

#include "engine/device.h"
#include "kernels/params.h"

namespace weft::dist {

// The option (off by default). Set it before training, identically on every rank.
void set_sync_batchnorm(bool enabled);
bool sync_batchnorm();

// The exchange for a training-mode batch norm on `device`: null unless the option is on and the
// run has several ranks. weft::Error for devices it cannot exchange on (emu; cuda without NCCL).
const BatchNormSync* batch_norm_sync(Device device);

// Frees the NCCL communicators made for it (dist::shutdown calls it).
void release_sync_batchnorm();

}  // namespace weft::dist
