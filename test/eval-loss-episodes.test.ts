// benchmarks/eval/loss-episodes.ts (`probe.js --losses`): lost items grouped into episodes,
// checked against episodes laid out by hand. Tests do not import benchmarks/
// (test/layers.test.ts): the compiled module runs in a child process, as in eval-capacity.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { packageRoot } from '../ts/contracts/package-root.js';

interface Switch { tMs: number; from: number; to: number; rateQps: number; backlogItems: number; reason?: string }
interface Episode { startMs: number; endMs: number; lost: number; arrivalsQps: number; gearAtStart: number; switches: Switch[] }

function episodes(sendMs: number[], ok: number[], switches: Switch[]): { episodes: Episode[]; lines: string[] } {
  const module = pathToFileURL(join(packageRoot(), 'dist', 'benchmarks', 'eval', 'loss-episodes.js')).href;
  const script = `
    const { lossEpisodes, describeLossEpisode } = await import(${JSON.stringify(module)});
    const e = lossEpisodes({ sendMs: Float64Array.from(${JSON.stringify(sendMs)}), ok: Uint8Array.from(${JSON.stringify(ok)}) }, ${JSON.stringify(switches)});
    process.stdout.write(JSON.stringify({ episodes: e, lines: e.map(describeLossEpisode) }));`;
  return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
}

t.test('lost items grouped by gaps under 200 ms, with the gear, the arrival rate and the switches around each', async (t) => {
  // one request every 10 ms for 3 s; lost: 1000-1100 (11 items), 1250 (150 ms after: same
  // episode), then 2000 alone (750 ms later: a second episode)
  const sendMs = Array.from({ length: 300 }, (_, i) => i * 10);
  const lostAt = new Set([...Array.from({ length: 11 }, (_, i) => 1000 + i * 10), 1250, 2000]);
  const ok = sendMs.map((x) => (lostAt.has(x) ? 0 : 1));
  const switches: Switch[] = [
    { tMs: 500, from: 2, to: 0, rateQps: 90, backlogItems: 1, reason: 'drained' },
    { tMs: 900, from: 0, to: 1, rateQps: 100, backlogItems: 40, reason: 'would_miss' },
    { tMs: 1030, from: 1, to: 3, rateQps: 110, backlogItems: 60, reason: 'would_miss' },
    { tMs: 1400, from: 3, to: 4, rateQps: 100, backlogItems: 70, reason: 'failing' },
  ];
  const { episodes: e, lines } = episodes(sendMs, ok, switches);
  t.equal(e.length, 2, 'two episodes');
  t.same([e[0].startMs, e[0].endMs, e[0].lost], [1000, 1250, 12]);
  t.equal(e[0].gearAtStart, 1, 'gear 1 ran at 1000 ms (switched to at 900)');
  // 1000-1250 widened by 100 ms each side: 900..1350 holds 46 sends in 450 ms
  t.equal(Math.round(e[0].arrivalsQps), Math.round((46 * 1000) / 450));
  t.same(e[0].switches.map((w) => w.tMs), [900, 1030], 'from 300 ms before to 100 ms after');
  t.same([e[1].startMs, e[1].endMs, e[1].lost, e[1].gearAtStart], [2000, 2000, 1, 4]);
  t.same(e[1].switches, [], 'none within its window');
  t.match(lines[0], /^1000-1250 ms: 12 lost, gear 1 at its start, arrivals 102\/s; switches around it: 900 ms 0->1 would_miss \(rate 100, backlog 40\); 1030 ms 1->3 would_miss/);
  t.match(lines[1], /switches around it: none$/);
  // before any switch: the first switch's `from`
  const early = episodes(sendMs, sendMs.map((x) => (x === 100 ? 0 : 1)), switches).episodes;
  t.equal(early[0].gearAtStart, 2);
  t.same(episodes(sendMs, sendMs.map(() => 1), switches).episodes, [], 'nothing lost: no episode');
});
