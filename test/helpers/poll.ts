// Waiting for a condition in tests: poll it instead of sleeping a fixed time and hoping it
// holds by then. The bound only turns a hang into a failure naming what never happened; on a
// slow machine the wait is longer, never wrong.
import { setTimeout as sleep } from 'node:timers/promises';

/** Resolves once `condition()` is true; rejects, naming `what`, after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const giveUpAt = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > giveUpAt) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}
