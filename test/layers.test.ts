// The layers of the code base and the one direction of imports between them (issue 12).
// The build enforces the order with TypeScript project references (each layer's tsconfig
// references only the layers it may import); this test checks the same table over every .ts
// file with the TypeScript parser, covering what the build cannot see: every static import,
// `export ... from`, `import type`, dynamic import(), require()/require.resolve() and worker
// paths written as `new URL('./file.js', import.meta.url)`. A specifier that is computed at
// run time is refused unless it is listed below with its reason. It also checks that the
// tsconfig references match the table, that the package's own layers only use packages from
// "dependencies" (a dev-only package would break an installed copy), and that the contracts
// use node: built-ins alone.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import ts from 'typescript';
import { root } from '../testkit/paths.js';

interface Layer {
  name: string;
  /** Folders (ending in '/') or files, relative to the repository root. */
  paths: string[];
  /** The tsconfig that builds the layer. */
  tsconfig: string;
  /** Layers it may import (besides itself). */
  may: string[];
}

// Bottom to top. Package layers first; everything below 'testkit' ships in the package.
const kPackageLayers = ['contracts', 'bindings', 'core', 'planner', 'tools', 'server', 'cli'];
const kLayers: Layer[] = [
  { name: 'contracts', paths: ['ts/contracts/'], tsconfig: 'ts/contracts/tsconfig.json', may: [] },
  { name: 'bindings', paths: ['bindings/'], tsconfig: 'bindings/tsconfig.json', may: ['contracts'] },
  { name: 'core', paths: ['ts/runtime/', 'ts/engine/', 'ts/errors.ts', 'ts/index.ts'], tsconfig: 'ts/tsconfig.core.json', may: ['bindings', 'contracts'] },
  { name: 'planner', paths: ['planner/'], tsconfig: 'planner/tsconfig.json', may: ['contracts'] },
  { name: 'tools', paths: ['ts/tools/'], tsconfig: 'ts/tsconfig.tools.json', may: ['core', 'bindings', 'contracts'] },
  { name: 'server', paths: ['ts/server/'], tsconfig: 'ts/tsconfig.server.json', may: ['core', 'contracts'] },
  { name: 'cli', paths: ['ts/cli/'], tsconfig: 'ts/tsconfig.cli.json', may: ['server', 'tools', 'planner', 'core', 'bindings', 'contracts'] },
  { name: 'testkit', paths: ['testkit/'], tsconfig: 'testkit/tsconfig.json', may: [...kPackageLayers].reverse() },
  { name: 'benchmarks', paths: ['benchmarks/'], tsconfig: 'benchmarks/tsconfig.json', may: ['testkit', ...[...kPackageLayers].reverse()] },
  { name: 'test', paths: ['test/'], tsconfig: 'test/tsconfig.json', may: ['testkit', ...[...kPackageLayers].reverse()] },
];

/** Specifiers computed at run time, by file; each names what it loads. */
const kComputedAllowed: Record<string, string> = {
  'bindings/binding.ts': 'require(candidate): the native addon (.node file), found at run time',
  'test/native-engine.test.ts': 'import(scripts/native-tests.mjs): the native test runner, a plain script',
};

/** Plain-JavaScript files outside the layers that a layer may load: path prefix -> layers. */
const kOutside: Record<string, string[]> = { 'scripts/': ['test'] };

function layerOf(path: string, layers: Layer[] = kLayers): Layer | undefined {
  return layers.find((l) => l.paths.some((p) => (p.endsWith('/') ? path.startsWith(p) : path === p)));
}

interface ImportRef {
  /** What the file wrote, or undefined when the specifier is computed. */
  specifier: string | undefined;
  kind: string;
  line: number;
}

/** Every module reference in a TypeScript source text. */
function importsOf(path: string, text: string): ImportRef[] {
  const sf = ts.createSourceFile(path, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const refs: ImportRef[] = [];
  const add = (node: ts.Node, kind: string, arg: ts.Node | undefined) => {
    const specifier = arg && (ts.isStringLiteral(arg) || ts.isNoSubstitutionTemplateLiteral(arg)) ? arg.text : undefined;
    refs.push({ specifier, kind, line: sf.getLineAndCharacterOfPosition(node.getStart(sf)).line + 1 });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) add(node, 'import', node.moduleSpecifier);
    else if (ts.isExportDeclaration(node) && node.moduleSpecifier) add(node, 'export from', node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node, 'import =', node.moduleReference.expression);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node, 'import type()', node.argument.literal);
    else if (ts.isCallExpression(node)) {
      const callee = node.expression;
      if (callee.kind === ts.SyntaxKind.ImportKeyword) add(node, 'import()', node.arguments[0]);
      else if (ts.isIdentifier(callee) && callee.text === 'require') add(node, 'require()', node.arguments[0]);
      else if (ts.isPropertyAccessExpression(callee) && ts.isIdentifier(callee.expression) && callee.expression.text === 'require' && callee.name.text === 'resolve') add(node, 'require.resolve()', node.arguments[0]);
    } else if (ts.isNewExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'URL' && node.arguments?.length === 2) {
      // new URL(x, import.meta.url): a file next to this module (a worker entry, for example)
      const base = node.arguments[1];
      if (ts.isPropertyAccessExpression(base) && ts.isMetaProperty(base.expression) && base.name.text === 'url') add(node, 'new URL(…, import.meta.url)', node.arguments[0]);
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  return refs;
}

interface SourceFile {
  path: string;
  text: string;
}

/** Checks the references of every file against the table; returns one line per violation. */
function checkLayers(files: SourceFile[], deps: Set<string>, layers: Layer[] = kLayers, exists: (p: string) => boolean = () => true): string[] {
  const problems: string[] = [];
  for (const f of files) {
    const from = layerOf(f.path, layers);
    if (!from) {
      problems.push(`${f.path}: in no layer (add its folder to the layer table and to a tsconfig)`);
      continue;
    }
    for (const ref of importsOf(f.path, f.text)) {
      const at = `${f.path}:${ref.line} ${ref.kind}`;
      if (ref.specifier === undefined) {
        if (!kComputedAllowed[f.path]) problems.push(`${at}: computed specifier; write a literal path so the layer can be checked`);
        continue;
      }
      const spec = ref.specifier;
      if (spec.startsWith('node:')) continue;
      if (!spec.startsWith('.')) {
        const pkg = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0];
        if (from.name === 'contracts') problems.push(`${at} '${spec}': the contracts import node: built-ins only`);
        else if (kPackageLayers.includes(from.name) && !deps.has(pkg)) problems.push(`${at} '${spec}': package code may only use packages from "dependencies"`);
        continue;
      }
      const target = normalize(join(dirname(f.path), spec)).split(sep).join('/');
      const source = target.endsWith('.js') ? target.slice(0, -3) + '.ts' : target;
      const to = layerOf(source, layers);
      if (!to) {
        const outside = Object.keys(kOutside).find((p) => target.startsWith(p));
        if (!outside || !kOutside[outside].includes(from.name)) problems.push(`${at} '${spec}': ${target} is in no layer`);
        continue;
      }
      if (!exists(source)) problems.push(`${at} '${spec}': ${source} does not exist`);
      if (to !== from && !from.may.includes(to.name)) problems.push(`${at} '${spec}': layer '${from.name}' may not import layer '${to.name}' (${source})`);
    }
  }
  return problems;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, dir))) {
    const rel = dir ? `${dir}/${name}` : name;
    // Build output (build/, build-native-*/, CMake writes compiler_depend.ts files there) and data.
    if (dir === '' && (['node_modules', 'dist', 'prebuilds', 'models', 'docs', '.git'].includes(name) || name.startsWith('build'))) continue;
    if (name === 'fixtures' || name.startsWith('.')) continue;
    const st = statSync(join(root, rel));
    if (st.isDirectory()) out.push(...sourceFiles(rel));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(rel);
  }
  return out;
}

const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
const deps = new Set(Object.keys(pkg.dependencies ?? {}));

t.test('every import of every .ts file follows the layer table', async (t) => {
  const files = sourceFiles('').map((path) => ({ path, text: readFileSync(join(root, path), 'utf8') }));
  t.ok(files.length > 100, `scanned ${files.length} files`);
  for (const l of kLayers) t.ok(files.some((f) => layerOf(f.path) === l), `layer '${l.name}' has files`);
  const exists = (p: string) => {
    try {
      return statSync(join(root, p)).isFile();
    } catch {
      return false;
    }
  };
  t.same(checkLayers(files, deps, kLayers, exists), [], 'no reverse import, no file outside the layers');
});

t.test("each layer's tsconfig references exactly the layers it may import", async (t) => {
  for (const l of kLayers) {
    const cfg = JSON.parse(readFileSync(join(root, l.tsconfig), 'utf8')) as { references?: { path: string }[]; include?: string[] };
    const refs = (cfg.references ?? []).map((r) => {
      const p = relative(root, join(root, dirname(l.tsconfig), r.path)).split(sep).join('/');
      return kLayers.find((x) => x.tsconfig === p || x.tsconfig === `${p}/tsconfig.json`)?.name ?? `? ${p}`;
    });
    t.same([...refs].sort(), [...l.may].sort(), `${l.tsconfig} references ${l.may.join(', ') || 'nothing'}`);
  }
  const rootCfg = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8')) as { references: { path: string }[] };
  t.same(rootCfg.references.map((r) => normalize(r.path).split(sep).join('/')).sort(), kLayers.map((l) => l.tsconfig).sort(), 'tsc -b at the root builds every layer');
});

t.test('the check fails on reverse imports of every kind', async (t) => {
  const bad = (path: string, text: string) => checkLayers([{ path, text }], deps);
  const fails = (path: string, text: string, re: RegExp) => {
    const p = bad(path, text);
    t.ok(p.length === 1 && re.test(p[0]), `${path}: ${text} -> ${p.join('; ') || 'accepted'}`);
  };
  fails('ts/contracts/x.ts', "import { CascadeEngine } from '../engine/engine.js';", /layer 'contracts' may not import layer 'core'/);
  fails('ts/contracts/x.ts', "import 'fastify';", /node: built-ins only/);
  fails('planner/x.ts', "export { profileModels } from '../ts/tools/profiler.js';", /layer 'planner' may not import layer 'tools'/);
  fails('planner/x.ts', "const m = await import('../ts/engine/engine.js');", /import\(\).*layer 'planner' may not import layer 'core'/);
  fails('planner/x.ts', "type E = import('../ts/engine/engine.js').CascadeEngine;", /import type\(\).*may not import layer 'core'/);
  fails('planner/x.ts', "const w = new URL('../ts/server/server.js', import.meta.url);", /new URL.*may not import layer 'server'/);
  fails('planner/x.ts', "const w = await import(name);", /computed specifier/);
  fails('ts/server/x.ts', "import type { Plan } from '../../planner/compute-plan.js';", /layer 'server' may not import layer 'planner'/);
  fails('ts/server/x.ts', "import { loadBinding } from '../../bindings/binding.js';", /layer 'server' may not import layer 'bindings'/);
  fails('ts/engine/x.ts', "import { createServer } from '../server/server.js';", /layer 'core' may not import layer 'server'/);
  fails('test/x.test.ts', "import { runFuzz } from '../benchmarks/fuzz-long.js';", /layer 'test' may not import layer 'benchmarks'/);
  fails('benchmarks/x.ts', "import { x } from '../test/planner-fixture.js';", /layer 'benchmarks' may not import layer 'test'/);
  fails('testkit/x.ts', "import { x } from '../test/planner-fixture.js';", /layer 'testkit' may not import layer 'test'/);
  fails('ts/cli/x.ts', "import { t } from 'tap';", /only use packages from "dependencies"/);
  fails('misc/x.ts', '', /in no layer/);
  t.same(bad('ts/cli/x.ts', "import { createServer } from '../server/server.js';\nimport { computePlan } from '../../planner/compute-plan.js';"), [], 'downward imports pass');
  t.same(bad('test/x.test.ts', "import '../testkit/paths.js'; import('node:fs'); import t from 'tap';"), [], 'tests may use the testkit and dev packages');
});
