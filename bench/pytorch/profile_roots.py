"""How step_bench.py --profile-steps adds up a torch.profiler run: every op's own time goes to
its outermost frame (a forward op as the module called it, aten::conv2d; a backward op to its
autograd node, ConvolutionBackward0; the optimizer's ops to Optimizer.step#Adam.step). Kept
apart from step_bench.py, which imports torch, so that tests can check it on stand-in events
(tests/tools/profile_gap_check.py) where PyTorch is not installed."""

AUTOGRAD_FRAME = "autograd::engine::evaluate_function: "


def is_cpu_event(event):
    """Whether a profiler event is an op on the host (DeviceType.CPU), not a kernel's own
    event on the device."""
    return str(getattr(event, "device_type", "")).endswith("CPU")


def event_time_ms(event, device):
    """An event's own time in ms: its kernels' device time on CUDA (the attribute's name
    changed in PyTorch 2.x), its own CPU time on the CPU. With CUDA the profiler lists each
    kernel twice, as an event of its own (on the device) and in the op that launched it: only
    the ops (CPU events) are counted, so no kernel is counted twice."""
    if device == "cuda":
        if not is_cpu_event(event):
            return 0.0
        for name in ("self_device_time_total", "self_cuda_time_total"):
            value = getattr(event, name, None)
            if value is not None:
                return value / 1e3
        return 0.0
    return event.self_cpu_time_total / 1e3


def outermost_frame(event):
    """The name every op's time is added to: its outermost profiler frame, with the autograd
    engine's prefix taken off a backward node's name."""
    while event.cpu_parent is not None:
        event = event.cpu_parent
    name = event.name
    return name[len(AUTOGRAD_FRAME):] if name.startswith(AUTOGRAD_FRAME) else name


def roots_ms(events, device, steps):
    """{outermost frame: ms per step} over `events`, largest first."""
    roots = {}
    for event in events:
        ms = event_time_ms(event, device)
        if ms > 0:
            root = outermost_frame(event)
            roots[root] = roots.get(root, 0.0) + ms / steps
    return dict(sorted(roots.items(), key=lambda item: -item[1]))
