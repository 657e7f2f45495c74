// Debian's headless chromium driven over the DevTools protocol on a pipe
// (--remote-debugging-pipe: JSON messages separated by NUL bytes, the browser reads fd 3 and
// writes fd 4), so no WebSocket client is needed. For the /dashboard browser test.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';

export const kChromium = '/usr/bin/chromium';

export function chromiumAvailable(): boolean {
  return existsSync(kChromium);
}

export class HeadlessChromium {
  #proc: ChildProcess;
  #userDir: string;
  #in: Writable;
  #nextId = 1;
  #pending = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void; method: string }>();
  #buffer = Buffer.alloc(0);
  #exited: Promise<void>;

  private constructor(proc: ChildProcess, userDir: string) {
    this.#proc = proc;
    this.#userDir = userDir;
    this.#in = proc.stdio[3] as Writable;
    const out = proc.stdio[4] as Readable;
    out.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    this.#exited.then(() => {
      for (const p of this.#pending.values()) p.reject(new Error(`chromium exited during ${p.method}`));
      this.#pending.clear();
    });
  }

  static launch(): HeadlessChromium {
    const userDir = mkdtempSync(join(tmpdir(), 'cs-chromium-'));
    const args = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
      '--disable-dev-shm-usage', '--hide-scrollbars', `--user-data-dir=${userDir}`, '--remote-debugging-pipe', 'about:blank'];
    const proc = spawn(kChromium, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
    return new HeadlessChromium(proc, userDir);
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    let nul: number;
    while ((nul = this.#buffer.indexOf(0)) >= 0) {
      const msg = JSON.parse(this.#buffer.subarray(0, nul).toString('utf8')) as { id?: number; result?: unknown; error?: { message: string } };
      this.#buffer = this.#buffer.subarray(nul + 1);
      if (msg.id === undefined) continue; // events are not used
      const p = this.#pending.get(msg.id);
      if (!p) continue;
      this.#pending.delete(msg.id);
      if (msg.error) p.reject(new Error(`${p.method}: ${msg.error.message}`));
      else p.resolve(msg.result);
    }
  }

  /** One protocol call; with sessionId, to an attached page. */
  send(method: string, params: object = {}, sessionId?: string): Promise<any> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, method });
      this.#in.write(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }) + '\0');
    });
  }

  /** Opens a page at `url` with the given viewport; returns its session. */
  async open(url: string, width: number, height: number): Promise<ChromiumPage> {
    const { targetId } = await this.send('Target.createTarget', { url: 'about:blank' });
    const { sessionId } = await this.send('Target.attachToTarget', { targetId, flatten: true });
    const page = new ChromiumPage(this, sessionId);
    await page.send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
    await page.send('Page.navigate', { url });
    return page;
  }

  async close(): Promise<void> {
    if (this.#proc.exitCode === null && this.#proc.signalCode === null) {
      this.send('Browser.close').catch(() => {});
      const timer = setTimeout(() => this.#proc.kill('SIGKILL'), 5000);
      await this.#exited;
      clearTimeout(timer);
    }
    rmSync(this.#userDir, { recursive: true, force: true });
  }
}

export class ChromiumPage {
  constructor(readonly browser: HeadlessChromium, readonly sessionId: string) {}

  send(method: string, params: object = {}): Promise<any> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Evaluates an expression in the page; returns its value (JSON-serializable). */
  async evaluate<T>(expression: string): Promise<T> {
    const r = await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true });
    if (r.exceptionDetails) throw new Error(`page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  async screenshotPng(): Promise<Buffer> {
    const { data } = await this.send('Page.captureScreenshot', { format: 'png' });
    return Buffer.from(data as string, 'base64');
  }
}
