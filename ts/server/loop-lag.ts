// Event-loop lag, the earliest overload signal of an HTTP server: when requests arrive faster
// than the loop can parse them, they wait in socket buffers where admission control (which
// sees only the engine's backlog) cannot refuse them. A timer measures how late it fires; while
// the lag is over the bound, infer requests are refused in onRequest, before their bodies are
// parsed, which is the cheapest answer the server can give (in the manner of
// @fastify/under-pressure's maxEventLoopDelay).

export class LoopLagMonitor {
  readonly boundMs: number;
  #timer: NodeJS.Timeout;
  #last = performance.now();
  #lagMs = 0;
  static readonly kSampleMs = 10;

  constructor(boundMs: number) {
    this.boundMs = boundMs;
    this.#timer = setInterval(() => {
      const now = performance.now();
      const lag = Math.max(0, now - this.#last - LoopLagMonitor.kSampleMs);
      this.#last = now;
      // Rises at once, decays over a few samples: one quiet tick does not end a burst.
      this.#lagMs = Math.max(lag, this.#lagMs * 0.5);
    }, LoopLagMonitor.kSampleMs);
    this.#timer.unref();
  }

  /** Smoothed lag, milliseconds. */
  get lagMs(): number {
    // A loop too busy to run the timer at all is as late as the time since its last run.
    return Math.max(this.#lagMs, performance.now() - this.#last - LoopLagMonitor.kSampleMs);
  }

  get overloaded(): boolean {
    return this.lagMs > this.boundMs;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
