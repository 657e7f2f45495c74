// Loss episodes of one trial, for `probe.js --losses`: the items not answered (timed out,
// refused or failed) grouped where fewer than gapMs apart by scheduled send time, each with
// the arrival rate over it, the gear running when it began and the gear switches around it.
// It tells items lost while the policy steps down gear by gear from items lost at spikes
// beyond the cheapest gear.
import type { SwitchRecord } from './engine-replay.js';
import type { RequestRecord } from './measure.js';

export interface LossEpisode {
  /** Scheduled send times of the first and last lost item, ms since the trial's start. */
  startMs: number;
  endMs: number;
  lost: number;
  /** Arrivals per second from marginMs before the episode to marginMs after it. */
  arrivalsQps: number;
  /** The gear running at startMs (the first switch's `from` before any switch). */
  gearAtStart: number;
  /** Switches from beforeMs before the episode to marginMs after it. */
  switches: SwitchRecord[];
}

export interface LossEpisodeOptions {
  gapMs: number;
  beforeMs: number;
  marginMs: number;
}

const kDefaults: LossEpisodeOptions = { gapMs: 200, beforeMs: 300, marginMs: 100 };

/** `r.sendMs` ascending (trace order); `switches` in time order. */
export function lossEpisodes(r: Pick<RequestRecord, 'sendMs' | 'ok'>, switches: readonly SwitchRecord[], options: Partial<LossEpisodeOptions> = {}): LossEpisode[] {
  const o = { ...kDefaults, ...options };
  const spans: { startMs: number; endMs: number; lost: number }[] = [];
  for (let i = 0; i < r.ok.length; i++) {
    if (r.ok[i]) continue;
    const t = r.sendMs[i];
    const last = spans[spans.length - 1];
    if (last && t - last.endMs < o.gapMs) {
      last.endMs = t;
      last.lost++;
    } else spans.push({ startMs: t, endMs: t, lost: 1 });
  }
  return spans.map((s) => {
    const from = s.startMs - o.marginMs;
    const to = s.endMs + o.marginMs;
    let arrivals = 0;
    for (let i = 0; i < r.sendMs.length; i++) if (r.sendMs[i] >= from && r.sendMs[i] <= to) arrivals++;
    let gear = switches.length ? switches[0].from : 0;
    for (const w of switches) if (w.tMs <= s.startMs) gear = w.to;
    return {
      ...s,
      arrivalsQps: (arrivals * 1000) / (to - from),
      gearAtStart: gear,
      switches: switches.filter((w) => w.tMs >= s.startMs - o.beforeMs && w.tMs <= to),
    };
  });
}

/** One line per episode. */
export function describeLossEpisode(e: LossEpisode): string {
  const sw = e.switches.map((w) => `${w.tMs.toFixed(0)} ms ${w.from}->${w.to} ${w.reason ?? ''} (rate ${w.rateQps.toFixed(0)}${w.recentRateQps !== undefined ? `, recent ${w.recentRateQps.toFixed(0)}` : ''}, backlog ${w.backlogItems})`);
  return `${e.startMs.toFixed(0)}-${e.endMs.toFixed(0)} ms: ${e.lost} lost, gear ${e.gearAtStart} at its start, arrivals ${e.arrivalsQps.toFixed(0)}/s; switches around it: ${sw.join('; ') || 'none'}`;
}
