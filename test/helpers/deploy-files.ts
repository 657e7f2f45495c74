// Reads the deployment files (deploy/) for the tests: YAML through Debian's python3-yaml
// (installed with yamllint by scripts/install-test-deps.sh), kustomize output through
// `kubectl kustomize`, and the metric names the rules, adapter and dashboard refer to.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../../testkit/paths.js';

export const deployDir = join(root, 'deploy');

/** Every document of a YAML text, as JSON values. */
export function parseYamlDocuments(text: string): any[] {
  const out = execFileSync('/usr/bin/python3', ['-c', 'import sys, json, yaml; print(json.dumps([d for d in yaml.safe_load_all(sys.stdin) if d is not None]))'], { input: text, encoding: 'utf8' });
  return JSON.parse(out) as any[];
}

export function readYaml(path: string): any[] {
  return parseYamlDocuments(readFileSync(path, 'utf8'));
}

/** `kubectl kustomize dir`, parsed. */
export function kustomize(dir: string): any[] {
  return parseYamlDocuments(execFileSync('kubectl', ['kustomize', dir], { encoding: 'utf8' }));
}

export function findObject(objects: any[], kind: string, name?: string): any {
  const hits = objects.filter((o) => o.kind === kind && (name === undefined || o.metadata?.name === name));
  if (hits.length !== 1) throw new Error(`${hits.length} objects of kind ${kind}${name ? ` named ${name}` : ''}`);
  return hits[0];
}

/** The PromQL expressions of the rule file, the adapter's series queries and the dashboard's targets. */
export function deployExpressions(): { where: string; expr: string }[] {
  const out: { where: string; expr: string }[] = [];
  const [rules] = readYaml(join(deployDir, 'prometheus', 'rules.yaml'));
  for (const g of rules.groups) for (const r of g.rules) out.push({ where: `rules.yaml ${r.record ?? r.alert}`, expr: r.expr });
  const [adapter] = readYaml(join(deployDir, 'prometheus-adapter', 'config.yaml'));
  for (const r of adapter.rules) out.push({ where: `prometheus-adapter ${r.name.as}`, expr: r.seriesQuery });
  for (const p of dashboard().panels) for (const t of p.targets) out.push({ where: `dashboard '${p.title}' ${t.refId}`, expr: t.expr });
  return out;
}

export function dashboard(): { panels: { title: string; targets: { refId: string; expr: string }[] }[]; templating: { list: any[] } } {
  return JSON.parse(readFileSync(join(deployDir, 'grafana', 'cascadeserve.json'), 'utf8'));
}

/** Names of the server's own series an expression reads (cascadeserve_* and Triton's nv_*). */
export function serverMetricNames(expr: string): string[] {
  return [...new Set([...expr.matchAll(/\b(?:cascadeserve|nv)_[a-z0-9_]+/g)].map((m) => m[0]))];
}
