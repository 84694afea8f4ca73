// The wall clock of the service: epoch milliseconds from the monotonic high-resolution timer
// anchored at process start, so a step of the system clock does not make cycle durations or
// chain latencies negative. Tests inject their own clock instead.
export const wallClock = (): number => performance.timeOrigin + performance.now();
