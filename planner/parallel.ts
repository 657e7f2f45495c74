// Executors for planner tasks: in-process (single thread) or a Piscina worker pool.
// Both run the same handler (search-worker.ts), so results are identical.

import { Piscina } from 'piscina';
import type { WorkerResult, WorkerTask } from './messages.js';
import handle from './search-worker.js';

export interface Executor {
  readonly threads: number;
  run(task: WorkerTask): Promise<WorkerResult>;
  close(): Promise<void>;
}

export class InlineExecutor implements Executor {
  readonly threads = 1;
  run(task: WorkerTask): Promise<WorkerResult> {
    return handle(task);
  }
  async close(): Promise<void> {}
}

export class PiscinaExecutor implements Executor {
  readonly threads: number;
  #pool: Piscina<WorkerTask, WorkerResult>;
  private constructor(threads: number) {
    this.threads = threads;
    this.#pool = new Piscina<WorkerTask, WorkerResult>({
      filename: new URL('./search-worker.js', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 1000,
    });
  }
  static create(threads: number): PiscinaExecutor {
    if (!(Number.isInteger(threads) && threads >= 1)) throw new RangeError('threads must be an integer >= 1');
    return new PiscinaExecutor(threads);
  }
  run(task: WorkerTask): Promise<WorkerResult> {
    return this.#pool.run(task);
  }
  async close(): Promise<void> {
    await this.#pool.destroy();
  }
}

export function createExecutor(threads: number): Executor {
  return threads <= 1 ? new InlineExecutor() : PiscinaExecutor.create(threads);
}
