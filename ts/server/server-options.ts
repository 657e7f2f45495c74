// Start-up checks of createServer's numeric options, all run before the plan is read and
// before any engine (and its lane threads) exists: a bad option fails the start at once,
// naming the option, and leaves nothing running behind it.
import { fillLoadMonitorOptions } from './load-monitor.js';
import type { ServerOptions } from './server.js';

function check(name: keyof ServerOptions, value: unknown, ok: (x: number) => boolean, expected: string): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !ok(value)) throw new RangeError(`${name} must be ${expected}, got ${String(value)}`);
}

const isPositiveInteger = (x: number) => Number.isSafeInteger(x) && x >= 1;
const isFiniteNonNegative = (x: number) => Number.isFinite(x) && x >= 0;

/** Throws a RangeError naming the first option out of range. */
export function validateServerOptions(o: ServerOptions): void {
  check('bodyLimit', o.bodyLimit, isPositiveInteger, 'a positive integer (bytes)');
  check('maxImagesPerRequest', o.maxImagesPerRequest, isPositiveInteger, 'a positive integer');
  check('maxInFlightImages', o.maxInFlightImages, isPositiveInteger, 'a positive integer');
  check('upSwitchHoldMs', o.upSwitchHoldMs, isFiniteNonNegative, 'a finite number >= 0 (milliseconds)');
  check('overloadHorizonMs', o.overloadHorizonMs, isFiniteNonNegative, 'a finite number >= 0 (milliseconds)');
  check('accuracyWindowMs', o.accuracyWindowMs, (x) => Number.isFinite(x) && x > 0, 'a finite number > 0 (milliseconds)');
  check('maxEventLoopLagMs', o.maxEventLoopLagMs, isFiniteNonNegative, 'a finite number >= 0 (milliseconds)');
  // The load monitor's own rules, with the option names the caller used.
  try {
    fillLoadMonitorOptions({ windowMs: o.loadWindowMs, bucketMs: o.loadBucketMs, recentMs: o.loadRecentMs });
  } catch (e) {
    throw new RangeError((e as Error).message.replace(/^loadMonitor\.(\w)/, (_m, c: string) => `load${c.toUpperCase()}`));
  }
}
