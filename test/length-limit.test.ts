// A model that cannot run long sequences (a position table of 8 rows, as a transformer's:
// test/fixtures/tokens_positional.onnx) beside one that can (tokens_meanpool.onnx), from a folder
// through init, profile, plan and the server: init finds the limit by running the model (checked
// here against onnxruntime-node: length 8 runs, 9 fails), writes it as models[].maxLength, and
// the server refuses a longer request with a 400 naming the input instead of failing it (and,
// before failure isolation ran each row at its own length, its batch-mates) in ONNX Runtime. A
// model served alone keeps its own limit: the unlimited one answers the long request.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { runInitCommand } from '../ts/cli/init-command.js';
import { runPlanCommand } from '../ts/cli/plan-command.js';
import { runProfileCommand } from '../ts/cli/profile-command.js';
import { createServer } from '../ts/server/server.js';
import { fixture } from '../testkit/paths.js';
import { tokenFixtureConstant, tokenItem, writeTokenFolder } from '../testkit/token-folder.js';
import { postJson } from '../testkit/server-fixture.js';

const kPositions = tokenFixtureConstant('POSITIONS');
const kPadded = 6;
const kItems = 48;

const io = () => {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) } }, out, err };
};

const request = (length: number) => {
  const { ids, mask } = tokenItem(0, length);
  return { inputs: [
    { name: 'input_ids', shape: [1, length], datatype: 'INT64', data: Array.from(ids, Number) },
    { name: 'attention_mask', shape: [1, length], datatype: 'INT64', data: Array.from(mask, Number) },
  ] };
};

t.test('init finds a model\'s length limit; the server refuses longer requests with a 400', async (t) => {
  // onnxruntime-node, independently: the positional model runs kPositions positions, not one more.
  const s = await ort.InferenceSession.create(fixture('tokens_positional.onnx'));
  const feeds = (length: number) => {
    const { ids, mask } = tokenItem(0, length);
    return { input_ids: new ort.Tensor('int64', ids, [1, length]), attention_mask: new ort.Tensor('int64', mask, [1, length]) };
  };
  await s.run(feeds(kPositions));
  await t.rejects(s.run(feeds(kPositions + 1)), 'onnxruntime-node fails one position more');
  await s.release();

  const dir = join(mkdtempSync(join(tmpdir(), 'cs-length-')), 'tokens');
  t.teardown(() => rmSync(join(dir, '..'), { recursive: true, force: true }));
  writeTokenFolder(dir, { models: { positional: 'tokens_positional.onnx', meanpool: 'tokens_meanpool.onnx' }, items: kItems, padded: kPadded });

  let p = io();
  t.equal(await runInitCommand([dir], p.io), 0, p.err.join(''));
  const manifest = JSON.parse(readFileSync(join(dir, 'cascade.json'), 'utf8'));
  const limits = Object.fromEntries(manifest.models.map((m: { name: string; maxLength?: number }) => [m.name, m.maxLength ?? null]));
  t.same(limits, { positional: kPositions, meanpool: null }, 'the positional model\'s limit, none for the other');
  t.match(p.out.join(''), new RegExp(`positional runs lengths up to ${kPositions} \\(at ${kPositions + 1}: .*\\): longer requests are refused`));

  p = io();
  t.equal(await runProfileCommand([join(dir, 'cascade.json'), '--out', join(dir, 'profile.json'), '--max-batch', '8', '--reps', '3', '--warmup', '1'], p.io), 0, p.err.join(''));
  p = io();
  t.equal(await runPlanCommand(['--profile', join(dir, 'profile.json'), '--slo-p95-ms', '50', '--lanes', '1', '--threads', '1', '--max-qps', '2000', '--out', join(dir, 'plan.json')], p.io), 0, p.err.join(''));

  const server = await createServer({ plan: join(dir, 'plan.json'), port: 0, host: '127.0.0.1' });
  t.teardown(() => server.close());
  const url = await server.listen();
  const cascade = await postJson(`${url}/v2/models/tokens/infer`, request(kPositions));
  t.equal(cascade.status, 200, `the cascade answers length ${kPositions}`);
  const long = await postJson(`${url}/v2/models/tokens/infer`, request(kPositions + 1));
  t.equal(long.status, 400, `and refuses length ${kPositions + 1}`);
  t.equal(long.json.error, `inputs[0].shape[1]: input 'input_ids' has length ${kPositions + 1}, longer than the ${kPositions} positions this model runs (cascade.json models[].maxLength)`);
  const alone = await postJson(`${url}/v2/models/tokens.meanpool/infer`, request(4 * kPositions));
  t.equal(alone.status, 200, 'the unlimited model served alone answers a long request');
  const limited = await postJson(`${url}/v2/models/tokens.positional/infer`, request(kPositions + 1));
  t.equal(limited.status, 400, 'the limited one alone refuses it');
});
