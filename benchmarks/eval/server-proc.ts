// The system under test as a child process: `cascadeserve serve --plan X --port 0`, so the
// load generator (this process) never shares the server's event loop. Gear switches are read
// from the server's JSON log lines on stderr. Each server comes with a keep-alive pool whose
// connections are opened before any trial (see ReplayOptions.pool).
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../../ts/contracts/package-root.js';
import { ConnectionPool } from './http-client.js';
import { openConnections } from './replay.js';

/** Connections opened up front (the pool may grow to 256 under overload). */
const kWarmConnections = 128;

export interface SwitchLine {
  time: number; // epoch ms
  from: number;
  to: number;
  toIndex: number;
  rateQps: number;
  backlogItems: number;
  recentRateQps: number;
  /** The host slowdown the decision read (absent: none measured). */
  slowdown?: number;
  /** How clumped the arrivals were at the switch (GearSwitchRecord.recentDispersion; absent: none measured). */
  recentDispersion?: number;
  reason?: string;
}

export interface ServerProc {
  url: string;
  child: ChildProcess;
  switches: SwitchLine[];
  /** Keep-alive connections for every request to this server. */
  pool: ConnectionPool;
  /**
   * Stops the process (SIGSTOP) until resume(): between its trials a server takes no CPU time
   * from the system under trial (its timers and threads would wake and preempt it).
   */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/**
 * One trial on a server that is stopped outside its trials: resumed, `run`, then kept running
 * for kSettleMs (its backlog drains and its gear returns to the top one) and stopped again.
 * The switches are those made during `run`, not the settle's return.
 */
export async function trialOnPausedServer<T>(srv: ServerProc, run: () => Promise<T>): Promise<{ result: T; switches: SwitchLine[] }> {
  const before = srv.switches.length;
  srv.resume();
  try {
    const result = await run();
    return { result, switches: srv.switches.slice(before) };
  } finally {
    await new Promise((r) => setTimeout(r, kSettleMs));
    srv.pause();
  }
}
const kSettleMs = 500;

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

export async function startServer(planPath: string, extraArgs: string[] = []): Promise<ServerProc> {
  const bin = join(packageRoot(), 'dist', 'ts', 'cli', 'bin.js');
  const child = spawn(process.execPath, [bin, 'serve', '--plan', planPath, '--port', '0', ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  const switches: SwitchLine[] = [];
  let onListening: ((url: string) => void) | undefined;
  let errText = '';
  let errBuf = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => {
    errBuf += d;
    let k;
    while ((k = errBuf.indexOf('\n')) >= 0) {
      const line = errBuf.slice(0, k);
      errBuf = errBuf.slice(k + 1);
      const listening = /serving '[^']*' at (http:\/\/\S+)/.exec(line);
      if (listening) onListening?.(listening[1]);
      if (line.includes('gear switch')) {
        try {
          const j = JSON.parse(line) as SwitchLine;
          switches.push({ time: j.time, from: j.from, to: j.to, toIndex: j.toIndex, rateQps: j.rateQps, backlogItems: j.backlogItems, recentRateQps: j.recentRateQps, ...(typeof j.slowdown === 'number' ? { slowdown: Math.round(j.slowdown * 1000) / 1000 } : {}), ...(typeof j.recentDispersion === 'number' ? { recentDispersion: Math.round(j.recentDispersion * 100) / 100 } : {}), ...(j.reason ? { reason: j.reason } : {}) });
        } catch {
          /* not JSON */
        }
      } else if (errText.length < 4000) errText += line + '\n';
    }
  });
  // The server logs its URL on stderr (JSON lines; the message ends the URL with a space).
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within 60 s: ${errText}`)), 60_000);
    onListening = (u) => {
      clearTimeout(timer);
      resolve(u);
    };
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${errText}`));
    });
  });
  const pool = new ConnectionPool(url, { maxConnections: 256 });
  await openConnections(pool, kWarmConnections);
  return {
    url,
    child,
    switches,
    pool,
    pause: () => void (child.exitCode === null && child.kill('SIGSTOP')),
    resume: () => void (child.exitCode === null && child.kill('SIGCONT')),
    stop: () =>
      new Promise<void>((resolve) => {
        pool.destroy();
        if (child.exitCode === null) child.kill('SIGCONT'); // a stopped process would not see SIGTERM until continued
        if (child.exitCode !== null) return resolve();
        const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
        child.once('exit', () => {
          clearTimeout(kill);
          resolve();
        });
        child.kill('SIGTERM');
      }),
  };
}
