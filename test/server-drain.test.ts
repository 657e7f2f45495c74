// Issue 18.1: a drain under keep-alive load answers every request a client sent. A real server
// process (`cascadeserve serve`) takes traffic from 8 keep-alive connections, each sending its
// next request as soon as the previous answer arrives; SIGTERM (then, in a second run, SIGINT)
// arrives mid-load. Every request sent must get exactly one HTTP response, 200 or a 503
// refusal, none may end in a connection reset, and the server's own count of answered
// requests must equal the client's count of responses.
import t, { type Test } from 'tap';
import { Agent, request } from 'node:http';
import { items, jsonRequest, writeFixturePlan } from '../testkit/server-fixture.js';
import { startServeProcess } from '../testkit/serve-process.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const kConnections = 8;

interface Counts {
  sent: number;
  ok: number;
  refused503: number;
  otherStatus: number;
  /** Requests written to a connection that ended without a response (reset, hang-up). */
  lost: number;
  /** Connections the server refused before any request was written on them. */
  notConnected: number;
  /** Responses that carried Connection: close (the client stops using the connection). */
  closeHeaders: number;
  badBodies: number;
  lostErrors: string[];
}

async function drainUnderLoad(t: Test, signal: 'SIGTERM' | 'SIGINT'): Promise<void> {
  const { planPath, cleanup } = writeFixturePlan();
  t.teardown(cleanup);
  // The serving line and the shutdown accounting are lines of the log on stderr.
  const serve = await startServeProcess(['--plan', planPath, '--port', '0']);
  const u = new URL(serve.url);
  const body = Buffer.from(JSON.stringify(jsonRequest(items(4))));
  const counts: Counts = { sent: 0, ok: 0, refused503: 0, otherStatus: 0, lost: 0, notConnected: 0, closeHeaders: 0, badBodies: 0, lostErrors: [] };
  let signalled = false;

  // One connection per loop (an agent of one socket): requests go back to back on it until the
  // server answers with Connection: close, as a keep-alive client does.
  const loop = async (_: unknown, connection: number) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    let written = false;
    let more = true;
    for (let k = connection; more; k++) {
      // Clients pause between requests (0 to 2 ms here): a signal then often finds connections
      // idle, between an answer and the next request, which is where requests got lost.
      if (k % 3 !== 0) await sleep(k % 3);
      more = await new Promise<boolean>((resolve) => {
        written = false;
        const req = request({ host: u.hostname, port: u.port, path: '/v2/models/fixture/infer', method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': body.length } }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (d) => chunks.push(d));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            try {
              if (res.statusCode === 200) {
                counts.ok++;
                if (JSON.parse(text).outputs?.[0]?.shape?.[0] !== 4) counts.badBodies++;
              } else if (res.statusCode === 503) {
                counts.refused503++;
                if (Object.keys(JSON.parse(text)).join() !== 'error') counts.badBodies++;
              } else counts.otherStatus++;
            } catch {
              counts.badBodies++;
            }
            const close = res.headers.connection === 'close';
            if (close) counts.closeHeaders++;
            resolve(!close);
          });
          res.on('error', (e) => {
            counts.lost++;
            counts.lostErrors.push(`response: ${(e as NodeJS.ErrnoException).code ?? e.message}`);
            resolve(false);
          });
        });
        // 'finish': the whole request was handed to the socket (sent, as far as a client knows).
        req.on('finish', () => {
          written = true;
          counts.sent++;
        });
        req.on('error', (e) => {
          const code = (e as NodeJS.ErrnoException).code ?? e.message;
          if (written) {
            counts.lost++;
            counts.lostErrors.push(code);
          } else if (code === 'ECONNREFUSED' && signalled) counts.notConnected++;
          else counts.lostErrors.push(`before sending: ${code}`);
          resolve(false);
        });
        req.end(body);
      });
    }
    agent.destroy();
  };
  const loops = Array.from({ length: kConnections }, loop);
  await sleep(700);
  const before = counts.ok;
  signalled = true;
  void serve.stop(signal);
  await Promise.race([Promise.all(loops), sleep(15_000)]);
  const code = await serve.exited;
  t.equal(code, 0, `exit 0 after ${signal}`);
  t.ok(before > 20, `${before} requests answered before ${signal}`);
  t.equal(counts.lost, 0, `no request sent was left without a response (${counts.lostErrors.join(', ') || 'none'})`);
  t.equal(counts.ok + counts.refused503 + counts.otherStatus, counts.sent, `every request sent (${counts.sent}) got exactly one response`);
  t.equal(counts.otherStatus, 0, 'only 200 and 503');
  t.equal(counts.badBodies, 0, 'every body complete and well-formed');
  t.equal(counts.closeHeaders, kConnections, 'each connection ended with a Connection: close answer, not a reset');
  const m = /shut down: answered (\d+) inference requests \((\d+) succeeded, (\d+) failed\)/.exec(serve.log());
  t.ok(m, 'the server printed its accounting');
  t.equal(Number(m?.[2]), counts.ok, 'successes: server count = client count');
  t.equal(Number(m?.[3]), counts.refused503, 'refusals: server count = client count');
  t.equal(Number(m?.[1]), counts.sent, 'answered (server) = sent (client)');
  t.comment(`${signal}: ${JSON.stringify({ ...counts, lostErrors: undefined })}`);
}

t.test('SIGTERM mid-load on 8 keep-alive connections: every request answered', (t) => drainUnderLoad(t, 'SIGTERM'));
t.test('SIGINT mid-load on 8 keep-alive connections: every request answered', (t) => drainUnderLoad(t, 'SIGINT'));
