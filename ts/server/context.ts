// What the route plugins share: the served models, metrics and the server's policies.
import { notFound } from './errors.js';
import type { LoopLagMonitor } from './loop-lag.js';
import type { ServerMetrics } from './metrics.js';
import type { ServedModel } from './served-model.js';

export interface ServerContext {
  /** Protocol name -> model: the cascade and its members. */
  models: Map<string, ServedModel>;
  cascade: ServedModel;
  metrics: ServerMetrics;
  /** Status for overload refusals: 429 (with Retry-After) or 503. */
  overloadStatus: 429 | 503;
  serverName: string;
  serverVersion: string;
  /** Event-loop lag shedding (null when disabled). */
  loopLag: LoopLagMonitor | null;
  /** Set when shutdown begins: readiness turns false, new requests are refused. */
  closing: boolean;
}

/**
 * The model a route's :name (and optional :version) names, or a 404. Names are only looked up
 * in the served set (never turned into file paths); a name is echoed in the error only when
 * it looks like a model name, so that no client text with path tricks or control characters
 * is reflected.
 */
export function lookupModel(ctx: ServerContext, params: { name: string; version?: string }): ServedModel {
  const model = Object.hasOwn(Object(params), 'name') ? ctx.models.get(params.name) : undefined;
  if (!model) throw notFound(`unknown model ${shown(params.name)}; served: ${[...ctx.models.keys()].join(', ')}`);
  if (params.version !== undefined && params.version !== '1') throw notFound(`model '${model.name}' has no version ${shown(params.version)} (versions: 1)`);
  return model;
}

const kPlainName = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const shown = (name: unknown): string => (typeof name === 'string' && kPlainName.test(name) && !name.includes('..') ? `'${name}'` : '(not a valid model name)');
