// The model repository: the sets of models the server serves (a cascade and its members, from
// one plan.json and its cascade.json each), loaded, reloaded and unloaded while the server
// runs. A (re)load reads and validates the plan, creates the new engine beside the old one and
// warms it, then swaps the served names over in one synchronous step: requests that looked up
// the old models finish on them, new requests go to the new ones, and the old set closes once
// it has answered everything it took. A plan that fails leaves the old set serving and the
// call answers with the reason. Loads run one at a time, in the order they were asked for.
//
// Statistics carry over a reload (the new models keep the old ones' ModelStats), so /stats
// and the Prometheus counters stay cumulative; each reload is logged and counted in
// cascadeserve_model_loads_total{model, result}.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { Counter, type Registry } from 'prom-client';
import type { ServerContext } from './context.js';
import { HttpError, notFound } from './errors.js';
import type { MetricsSource } from './metrics.js';
import { describeModelFileMismatches, findModelFileMismatches, ModelMismatchError } from './model-files.js';
import { loadServingPlan, PlanLoadError, type ServingPlan } from './plan-loader.js';
import { ServedModel, type ServedModelOptions } from './served-model.js';
import { clip } from './codec.js';

/** A plan the repository can load: a folder of the repository, or the one --plan file. */
export interface RepositoryEntry {
  /** The folder name (repository mode) or the plan file's folder name. */
  folder: string;
  planPath: string;
}

export interface ModelIndexEntry {
  name: string;
  version: string;
  /** Triton's states: READY, UNAVAILABLE (unloaded, or its load failed), LOADING. */
  state: 'READY' | 'UNAVAILABLE' | 'LOADING';
  reason: string;
}

/** What the protocols' repository calls need (REST routes/repository.ts, gRPC service.ts). */
export interface RepositoryControl {
  index(readyOnly: boolean): ModelIndexEntry[];
  load(name: string): Promise<void>;
  unload(name: string): Promise<void>;
}

export interface RepositoryOptions {
  modelOptions: ServedModelOptions;
  serveMembers: boolean;
  registry: Registry;
  log: { info(obj: object, msg: string): void; warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  /**
   * Serve model files whose sha256 differs from the one the plan records (with a warning);
   * otherwise such a plan fails to load with ModelMismatchError naming each model and file.
   */
  allowModelMismatch: boolean;
  /** A repository directory, rescanned on index and load (null: one plan file). */
  directory: string | null;
  /** Why a set's engine could not be created (names the model file). */
  describeFailure(plan: ServingPlan, e: unknown): string;
}

interface ModelSet {
  entry: RepositoryEntry;
  plan: ServingPlan;
  cascade: ServedModel;
  models: ServedModel[];
}

/** The plan folders of a repository directory: every folder with cascade.json and plan.json. */
export function scanRepository(dir: string): RepositoryEntry[] {
  const abs = resolve(dir);
  let names: string[];
  try {
    names = readdirSync(abs).sort();
  } catch (e) {
    throw new Error(`cannot read the model repository ${abs}: ${(e as Error).message}`);
  }
  const entries: RepositoryEntry[] = [];
  for (const name of names) {
    const folder = join(abs, name);
    let isDir = false;
    try {
      isDir = statSync(folder).isDirectory();
    } catch {
      isDir = false;
    }
    if (isDir && existsSync(join(folder, 'cascade.json')) && existsSync(join(folder, 'plan.json'))) entries.push({ folder: name, planPath: join(folder, 'plan.json') });
  }
  return entries;
}

export class ModelRepository implements RepositoryControl {
  readonly #ctx: ServerContext;
  readonly #options: RepositoryOptions;
  /** By cascade (protocol) name, the sets serving now. */
  readonly #sets = new Map<string, ModelSet>();
  /** Entries known but not serving, by name: unloaded, or the first load failed. */
  readonly #unavailable = new Map<string, { entry: RepositoryEntry; reason: string }>();
  /** Every model's statistics by name, kept across reloads and unloads (metrics stay cumulative). */
  readonly #sources = new Map<string, ServedModel>();
  readonly #draining = new Set<Promise<void>>();
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;
  readonly #loads: Counter<'model' | 'result'>;

  constructor(ctx: ServerContext, options: RepositoryOptions) {
    this.#ctx = ctx;
    this.#options = options;
    this.#loads = new Counter({
      name: 'cascadeserve_model_loads_total',
      help: 'Model set loads and reloads (repository load calls, SIGHUP), by result (ok, failed)',
      labelNames: ['model', 'result'],
      registers: [options.registry],
    });
  }

  /** The metrics sources: every model served so far, its latest instance. */
  metricsSources(): MetricsSource[] {
    return [...this.#sources.values()].map((m) => ({ stats: m.stats, live: () => m.live(), cascade: m.kind === 'cascade' }));
  }

  /** The set serving the cascade named `name`. */
  plan(name: string): ServingPlan | undefined {
    return this.#sets.get(name)?.plan;
  }

  /** Loads the entries at start-up; any failure fails the start (nothing is served yet). */
  async start(entries: RepositoryEntry[]): Promise<void> {
    if (entries.length === 0) throw new Error(`the model repository ${this.#options.directory ?? ''} has no folder with cascade.json and plan.json`);
    for (const entry of entries) {
      const set = await this.#create(entry, null);
      if (this.#sets.has(set.cascade.name)) {
        await this.#closeSet(set);
        throw new Error(`two repository folders serve the model '${set.cascade.name}' (the manifests' name)`);
      }
      this.#install(set, null);
    }
  }

  index(readyOnly: boolean): ModelIndexEntry[] {
    const out: ModelIndexEntry[] = [];
    for (const set of this.#sets.values()) {
      for (const m of set.models) out.push({ name: m.name, version: '1', state: m.ready && !this.#ctx.closing ? 'READY' : 'UNAVAILABLE', reason: '' });
    }
    if (!readyOnly) {
      for (const [name, u] of this.#unavailable) if (!this.#sets.has(name)) out.push({ name, version: '1', state: 'UNAVAILABLE', reason: u.reason });
      // Folders added to the repository since the last scan: loadable, not loaded yet.
      for (const entry of this.#scan()) {
        if (![...this.#sets.values(), ...this.#unavailable.values()].some((s) => s.entry.planPath === entry.planPath)) out.push({ name: entry.folder, version: '1', state: 'UNAVAILABLE', reason: 'not loaded' });
      }
    }
    return out;
  }

  /**
   * (Re)loads the set named `name` (a cascade's name, or a repository folder's): resolves when
   * the new set serves; rejects with the reason when it cannot, the old set still serving.
   */
  load(name: string): Promise<void> {
    return this.#serially(async () => {
      const entry = this.#entryOf(name);
      const old = [...this.#sets.values()].find((s) => s.entry.planPath === entry.planPath) ?? null;
      let set: ModelSet;
      try {
        set = await this.#create(entry, old);
      } catch (e) {
        const reason = this.#reason(e);
        const label = old?.cascade.name ?? name;
        this.#loads.inc({ model: label, result: 'failed' });
        this.#options.log.error({ model: label, plan: entry.planPath, reason }, old ? 'reload failed; the previous plan keeps serving' : 'load failed');
        if (!old) this.#unavailable.set(label, { entry, reason });
        throw new HttpError('bad_request', `model '${clip(label, 64)}' was not loaded${old ? ' (the previous plan keeps serving)' : ''}: ${reason}`);
      }
      if (old && old.cascade.name !== set.cascade.name && this.#sets.has(set.cascade.name)) {
        await this.#closeSet(set);
        throw new HttpError('bad_request', `model '${clip(name, 64)}' was not loaded: its manifest now names '${set.cascade.name}', which another folder serves`);
      }
      if (!old && this.#sets.has(set.cascade.name)) {
        await this.#closeSet(set);
        throw new HttpError('bad_request', `model '${clip(name, 64)}' was not loaded: '${set.cascade.name}' is served from another folder`);
      }
      this.#install(set, old);
      this.#loads.inc({ model: set.cascade.name, result: 'ok' });
      this.#options.log.info({ model: set.cascade.name, plan: entry.planPath, gears: set.plan.gears.map((g) => g.id), replaced: old !== null }, old ? 'reloaded: the new engine serves, the old one drains' : 'loaded');
    });
  }

  unload(name: string): Promise<void> {
    return this.#serially(async () => {
      const set = this.#sets.get(name);
      if (!set) throw notFound(`model '${clip(name, 64)}' is not loaded; loaded: ${[...this.#sets.keys()].join(', ') || 'none'}`);
      this.#sets.delete(name);
      for (const m of set.models) if (this.#ctx.models.get(m.name) === m) this.#ctx.models.delete(m.name);
      this.#unavailable.set(name, { entry: set.entry, reason: 'unloaded' });
      this.#options.log.info({ model: name }, 'unloaded: draining');
      this.#drainAndClose(set);
    });
  }

  /** Reloads every loaded set (SIGHUP); failures are logged and counted, the old sets serving. */
  async reloadAll(): Promise<{ name: string; error?: string }[]> {
    const names = [...this.#sets.keys()];
    return Promise.all(names.map((name) => this.load(name).then(() => ({ name }), (e: Error) => ({ name, error: e.message }))));
  }

  /** Waits for loads in progress, then closes every set (after it has answered what it took). */
  async close(): Promise<void> {
    this.#closed = true;
    await this.#queue.catch(() => {});
    const sets = [...this.#sets.values()];
    this.#sets.clear();
    await Promise.all([...sets.map((s) => this.#closeSet(s)), ...this.#draining]);
  }

  #serially<T>(task: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(() => {
      if (this.#closed) throw new HttpError('unavailable', 'the server is shutting down');
      return task();
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  #scan(): RepositoryEntry[] {
    if (this.#options.directory === null) return [];
    try {
      return scanRepository(this.#options.directory);
    } catch {
      return [];
    }
  }

  #entryOf(name: string): RepositoryEntry {
    const loaded = this.#sets.get(name) ?? this.#unavailable.get(name);
    if (loaded) return loaded.entry;
    const folder = this.#scan().find((e) => e.folder === name);
    if (folder) return folder;
    throw notFound(`no model '${clip(name, 64)}' in the repository; known: ${[...this.#sets.keys(), ...this.#unavailable.keys()].join(', ') || 'none'}`);
  }

  async #create(entry: RepositoryEntry, old: ModelSet | null): Promise<ModelSet> {
    const plan = await loadServingPlan(entry.planPath);
    const mismatches = await findModelFileMismatches(plan);
    if (mismatches.length > 0) {
      if (!this.#options.allowModelMismatch) throw new ModelMismatchError(plan.planPath, mismatches);
      this.#options.log.warn({ plan: plan.planPath, mismatches }, `serving model files the plan was not made for (allowModelMismatch); its thresholds and batch times may not hold: ${describeModelFileMismatches(plan.planPath, mismatches)}`);
    }
    const stats = (name: string) => old?.models.find((m) => m.name === name)?.stats;
    let cascade: ServedModel;
    try {
      cascade = await ServedModel.cascade(plan, this.#options.modelOptions, stats(plan.cascadeName));
    } catch (e) {
      throw new PlanLoadError(`cannot load the cascade of plan ${plan.planPath}: ${this.#options.describeFailure(plan, e)}`);
    }
    const models = [cascade];
    if (this.#options.serveMembers) {
      for (const m of plan.members) {
        const name = `${plan.cascadeName}.${m.name}`;
        models.push(ServedModel.member(plan, m.name, this.#options.modelOptions, stats(name)));
      }
    }
    // ServedModel.cascade created and warmed the engine (every model of every gear on every lane).
    return { entry, plan, cascade, models };
  }

  /** Swaps the served names to `set` in one synchronous step; the old set drains. */
  #install(set: ModelSet, old: ModelSet | null): void {
    const ctx = this.#ctx;
    if (old) {
      this.#sets.delete(old.cascade.name);
      for (const m of old.models) if (ctx.models.get(m.name) === m) ctx.models.delete(m.name);
    }
    this.#sets.set(set.cascade.name, set);
    this.#unavailable.delete(set.cascade.name);
    for (const m of set.models) {
      ctx.models.set(m.name, m);
      this.#sources.set(m.name, m);
    }
    // ctx.cascade (readiness, the CLI's banner) is the first set loaded, or what replaced it.
    if ((old && ctx.cascade === old.cascade) || this.#sets.size === 1) ctx.cascade = set.cascade;
    if (old) this.#drainAndClose(old);
  }

  #drainAndClose(set: ModelSet): void {
    const done = this.#closeSet(set).then(() => {
      this.#options.log.info({ model: set.cascade.name }, 'the previous engine answered its requests and closed');
    });
    this.#draining.add(done);
    void done.finally(() => this.#draining.delete(done));
  }

  /** Closes a set once its models have answered every request they accepted. */
  async #closeSet(set: ModelSet): Promise<void> {
    for (;;) {
      const busy = set.models.some((m) => m.pendingRequests > 0 || (m.engineIfReady?.inFlight ?? 0) > 0);
      if (!busy) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(set.models.map((m) => m.close()));
  }

  #reason(e: unknown): string {
    let text = e instanceof Error ? e.message : String(e);
    // Paths inside the repository are shown relative to it.
    if (this.#options.directory !== null) text = text.split(resolve(this.#options.directory) + '/').join('');
    return text.replace(/\s*\n\s*/g, '; ');
  }
}

/**
 * Runs one first-stage batch of zeros through a new cascade engine before it takes traffic,
 * so that the first requests it serves do not pay for first-run allocations. The answers are
 * not looked at (a model may well fail on zeros; that is a matter for real requests).
 */
/** The entry of a single plan file (no repository directory). */
export function planEntry(planPath: string): RepositoryEntry {
  const abs = resolve(planPath);
  return { folder: basename(resolve(abs, '..')), planPath: abs };
}
