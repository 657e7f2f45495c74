// WaitSpin: the JavaScript thread's share of the engine's low-load latency. A request that
// finds the engine idle leaves the event loop nothing to do until its answer, so libuv parks
// the thread in epoll, and waking it for the answer (the thread-safe function's eventfd write,
// then the kernel waking the thread, on a VM often a halted vCPU) cost tens to hundreds of
// microseconds: most of the engine's low-load overhead (`npm run bench -- session` reports the
// wake-up alone, benchmarks/event-loop-wake.ts). So after such a submit the loop keeps turning
// (setImmediate: libuv then polls with a zero timeout, so sockets, timers and the answer's
// delivery run as usual) until nothing is in flight or `spinUs` has passed. Each turn yields
// the CPU to any other runnable thread (`yieldCpu`): a lane the scheduler woke on this thread's
// CPU would otherwise wait out the whole spin (measured: every other request took 230 us).
// Two guards keep the spin from taking CPU that does work: the engine only spins where its
// lanes leave a core free (on a lane's core it would slow the run it waits for), and only
// while answers do come within the window: the recent share of idle submits answered within
// spinUs, decaying by 1/kDecay per answer, must be at least one half (as the lanes' own spin,
// native/engine/idle_spin.h). Batching delays or a large model push answers past the window,
// and the spin then stops until they come back within it.

const kDecay = 8;

export class WaitSpin {
  readonly spinMs: number;
  #inFlight: () => number;
  #yieldCpu: () => void;
  #score = 1;
  /** When the running spin ends (performance.now() ms); NaN: none runs. */
  #untilMs = NaN;
  /** When the engine left idle (the timed wait's start); NaN: no wait is timed. */
  #waitSinceMs = NaN;
  #stopped = false;

  /**
   * `inFlight`: the engine's items in flight; the spin ends when it reaches 0. `yieldCpu`: run
   * each turn, gives the CPU to another runnable thread (the addon's yieldThread).
   */
  constructor(spinUs: number, inFlight: () => number, yieldCpu: () => void = () => {}) {
    this.spinMs = spinUs / 1000;
    this.#inFlight = inFlight;
    this.#yieldCpu = yieldCpu;
  }

  /** Whether spins run now (answers recently came within the window). */
  get spinning(): boolean {
    return this.#score >= 0.5;
  }

  /** Whether a spin runs now. */
  get active(): boolean {
    return !Number.isNaN(this.#untilMs);
  }

  /** A submit found the engine idle (nothing in flight before it) and queued items. */
  onIdleSubmit(): void {
    if (this.spinMs <= 0 || this.#stopped) return;
    const now = performance.now();
    this.#waitSinceMs = now;
    if (this.#score < 0.5) return;
    const running = !Number.isNaN(this.#untilMs);
    this.#untilMs = now + this.spinMs;
    if (!running) setImmediate(this.#tick);
  }

  /** Results were settled; `inFlight` is what is left. */
  onSettled(inFlight: number): void {
    if (inFlight > 0 || Number.isNaN(this.#waitSinceMs)) return;
    const within = performance.now() - this.#waitSinceMs <= this.spinMs ? 1 : 0;
    this.#score += (within - this.#score) / kDecay;
    this.#waitSinceMs = NaN;
  }

  /** No more spins (the engine closed). */
  stop(): void {
    this.#stopped = true;
  }

  #tick = (): void => {
    if (this.#stopped || this.#inFlight() === 0 || performance.now() > this.#untilMs) {
      this.#untilMs = NaN;
      return;
    }
    this.#yieldCpu();
    setImmediate(this.#tick);
  };
}
