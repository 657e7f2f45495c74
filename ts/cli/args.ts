// The one command-line convention of every `cascadeserve` command: a command declares its
// flags in a table (name, kind, range, help), and this module parses, validates and documents
// them the same way for all. Adding a flag is one table entry.
//
// Conventions: `--flag value` or `--flag=value`; a value may start with '-' (so a negative
// number reaches its range check instead of being mistaken for an option); every numeric flag
// has a range and a message naming the flag; input files must be readable and output folders
// writable before any work starts; a usage error is exit code 2 (kExitUsage) for every command.
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** The IO of every command. */
export interface CliIo {
  stdout: { write(s: string): unknown; isTTY?: boolean };
  stderr: { write(s: string): unknown; isTTY?: boolean };
}

/** Exit code of a usage error (unknown flag, bad value, missing or unreadable file), for every command. */
export const kExitUsage = 2;

/** A wrong command line; the message names the flag. Commands exit kExitUsage for it. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export type FlagKind = 'integer' | 'number' | 'string' | 'boolean' | 'choice' | 'input-file' | 'output-file';

export interface Flag {
  /** Without the leading dashes. */
  name: string;
  kind: FlagKind;
  help: string;
  /** Placeholder in the usage text (default by kind: N, X, FILE, ...). */
  value?: string;
  /** Numbers: inclusive bounds. */
  min?: number;
  max?: number;
  /** Numbers: an exclusive lower bound instead of `min` (e.g. "> 0"). */
  above?: number;
  choices?: readonly string[];
  /** Shown in the help; the command applies it. */
  default?: string | number;
  required?: boolean;
}

export interface Positional {
  name: string;
  help: string;
  kind: 'input-file' | 'string';
}

export interface CommandSpec {
  name: string;
  /** Paragraphs after the usage line. */
  description?: string;
  positionals?: Positional[];
  flags: Flag[];
  exitCodes?: string;
}

export type FlagValue = string | number | boolean;

export interface ParsedArgs {
  values: Record<string, FlagValue | undefined>;
  positionals: string[];
  help: boolean;
}

const kNumber = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const kInteger = /^[+-]?\d+$/;

function placeholder(f: Flag): string {
  if (f.value) return f.value;
  switch (f.kind) {
    case 'integer':
      return 'N';
    case 'number':
      return 'X';
    case 'choice':
      return (f.choices ?? []).join('|');
    case 'input-file':
    case 'output-file':
      return 'FILE';
    default:
      return 'VALUE';
  }
}

/** "an integer from 1 to 64", "a number > 0 and <= 60000", ... */
export function describeRange(f: Flag): string {
  const what = f.kind === 'integer' ? 'an integer' : 'a number';
  if (f.above !== undefined) return `${what} > ${f.above}${f.max !== undefined ? ` and <= ${f.max}` : ''}`;
  if (f.min !== undefined && f.max !== undefined) return `${what} from ${f.min} to ${f.max}`;
  if (f.min !== undefined) return `${what} >= ${f.min}`;
  if (f.max !== undefined) return `${what} <= ${f.max}`;
  return what;
}

function toNumber(f: Flag, text: string): number {
  const shape = f.kind === 'integer' ? kInteger : kNumber;
  const n = Number(text);
  const inRange =
    shape.test(text.trim()) &&
    Number.isFinite(n) &&
    (f.kind !== 'integer' || Number.isSafeInteger(n)) &&
    (f.above === undefined || n > f.above) &&
    (f.min === undefined || n >= f.min) &&
    (f.max === undefined || n <= f.max);
  if (!inRange) throw new UsageError(`--${f.name} must be ${describeRange(f)}, got '${text}'`);
  return n;
}

function checkInputFile(label: string, path: string): void {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${label}: cannot read '${path}': ${code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
  if (st.isDirectory()) throw new UsageError(`${label}: '${path}' is a folder, not a file`);
  try {
    accessSync(path, constants.R_OK);
  } catch {
    throw new UsageError(`${label}: cannot read '${path}': permission denied`);
  }
}

function checkOutputFile(label: string, path: string): void {
  const abs = resolve(path);
  const dir = dirname(abs);
  let st;
  try {
    st = statSync(dir);
  } catch {
    throw new UsageError(`${label}: cannot write '${path}': the folder ${dir} does not exist`);
  }
  if (!st.isDirectory()) throw new UsageError(`${label}: cannot write '${path}': ${dir} is not a folder`);
  try {
    if (statSync(abs).isDirectory()) throw new UsageError(`${label}: '${path}' is a folder, not a file`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
  }
  try {
    accessSync(dir, constants.W_OK);
  } catch {
    throw new UsageError(`${label}: cannot write '${path}': the folder ${dir} is not writable`);
  }
}

/** Parses and validates argv against the command's table; throws UsageError. Files are checked here, before any work. */
export function parseCommandLine(spec: CommandSpec, argv: string[]): ParsedArgs {
  const byName = new Map(spec.flags.map((f) => [f.name, f]));
  const values: Record<string, FlagValue | undefined> = {};
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === '-h' || arg === '--help') {
      help = true;
      continue;
    }
    if (!arg.startsWith('-') || arg === '-' || kNumber.test(arg)) {
      positionals.push(arg);
      continue;
    }
    if (!arg.startsWith('--')) throw new UsageError(`unknown option '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const flag = byName.get(name);
    if (!flag) throw new UsageError(`unknown option '--${name}'`);
    if (name in values) throw new UsageError(`--${name} is given twice`);
    if (flag.kind === 'boolean') {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      values[name] = true;
      continue;
    }
    let text: string | undefined;
    if (eq >= 0) text = arg.slice(eq + 1);
    else if (i + 1 < argv.length) text = argv[++i];
    if (text === undefined) throw new UsageError(`--${name} needs a value (${placeholder(flag)})`);
    values[name] = convert(flag, text);
  }
  if (help) return { values, positionals, help };
  const expected = spec.positionals ?? [];
  if (positionals.length !== expected.length) {
    const names = expected.map((p) => p.name).join(' ');
    throw new UsageError(expected.length === 0 ? `unexpected argument '${positionals[0]}'` : `expected ${names}, got ${positionals.length === 0 ? 'nothing' : positionals.map((p) => `'${p}'`).join(' ')}`);
  }
  expected.forEach((p, i) => {
    if (p.kind === 'input-file') checkInputFile(p.name, positionals[i]);
  });
  const missing = spec.flags.filter((f) => f.required && values[f.name] === undefined).map((f) => `--${f.name}`);
  if (missing.length) throw new UsageError(`${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} required`);
  return { values, positionals, help };
}

function convert(flag: Flag, text: string): FlagValue {
  switch (flag.kind) {
    case 'integer':
    case 'number':
      return toNumber(flag, text);
    case 'choice':
      if (!(flag.choices ?? []).includes(text)) throw new UsageError(`--${flag.name} must be one of ${(flag.choices ?? []).join(', ')}, got '${text}'`);
      return text;
    case 'input-file':
      checkInputFile(`--${flag.name}`, text);
      return text;
    case 'output-file':
      checkOutputFile(`--${flag.name}`, text);
      return text;
    default:
      if (text === '') throw new UsageError(`--${flag.name} needs a non-empty value`);
      return text;
  }
}

/** Checks an output path the command fills in itself (a default such as plan.json). */
export function checkDefaultOutput(flagName: string, path: string): void {
  checkOutputFile(`--${flagName}`, path);
}

/** The `--help` text: usage line, description, every flag with its range and default. */
export function helpText(spec: CommandSpec): string {
  const required = spec.flags.filter((f) => f.required).map((f) => `--${f.name} ${placeholder(f)}`);
  const usage = ['Usage: cascadeserve', spec.name, ...(spec.positionals ?? []).map((p) => `<${p.name}>`), ...required, '[options]'].join(' ');
  const rows = spec.flags.map((f) => {
    const left = `--${f.name}${f.kind === 'boolean' ? '' : ` ${placeholder(f)}`}`;
    const notes: string[] = [];
    if (f.kind === 'integer' || f.kind === 'number') notes.push(describeRange(f));
    if (f.default !== undefined) notes.push(`default ${f.default}`);
    if (f.required) notes.push('required');
    return [left, `${f.help}${notes.length ? ` (${notes.join('; ')})` : ''}`];
  });
  rows.push(['-h, --help', 'this text']);
  const width = Math.min(30, Math.max(...rows.map(([l]) => l.length)));
  const lines = [usage, ''];
  if (spec.description) lines.push(spec.description.trim(), '');
  for (const p of spec.positionals ?? []) lines.push(`  <${p.name}>`.padEnd(width + 4) + p.help);
  if (spec.positionals?.length) lines.push('');
  lines.push('Options:');
  for (const [l, r] of rows) lines.push(l.length > width ? `  ${l}\n${' '.repeat(width + 4)}${r}` : `  ${l.padEnd(width)}  ${r}`);
  if (spec.exitCodes) lines.push('', `Exit codes: ${spec.exitCodes}`);
  return lines.join('\n') + '\n';
}

/**
 * For scripts outside the CLI (the benchmarks): argv parsed by `spec` as a command's, with
 * `invocation` (e.g. 'node dist/benchmarks/eval/trial-lag.js') in the usage line. A usage error
 * prints its message and exits with kExitUsage; `--help` prints the help and returns null.
 */
export function parseScriptArgs(spec: CommandSpec, argv: string[], invocation: string): ParsedArgs | null {
  let args: ParsedArgs;
  try {
    args = parseCommandLine(spec, argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`${spec.name}: ${e.message}\n`);
    process.exit(kExitUsage);
  }
  if (!args.help) return args;
  process.stdout.write(helpText(spec).replace(`Usage: cascadeserve ${spec.name}`, `Usage: ${invocation}`));
  return null;
}

/**
 * Runs a command body with the shared convention: parse (usage errors: message naming the
 * flag, the usage line, exit 2), `--help` to stdout (exit 0), other errors: their message,
 * exit 1, never a stack trace.
 */
export async function runCommand(spec: CommandSpec, argv: string[], io: CliIo, body: (args: ParsedArgs) => Promise<number>): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseCommandLine(spec, argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr.write(`cascadeserve ${spec.name}: ${e.message}\n(see \`cascadeserve ${spec.name} --help\`)\n`);
    return kExitUsage;
  }
  if (args.help) {
    io.stdout.write(helpText(spec));
    return 0;
  }
  try {
    return await body(args);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`cascadeserve ${spec.name}: ${e.message}\n(see \`cascadeserve ${spec.name} --help\`)\n`);
      return kExitUsage;
    }
    io.stderr.write(`cascadeserve ${spec.name}: ${(e as Error).message}\n`);
    return 1;
  }
}
