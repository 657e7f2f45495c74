// The `cascadeserve` command. Each subcommand lives in its own module and is loaded on demand,
// so `--help` stays fast and a broken optional part cannot break the others.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../bindings/binding.js';
import { kExitUsage, type CliIo } from './args.js';

export type { CliIo };

interface Subcommand {
  summary: string;
  run: (argv: string[], io: CliIo) => Promise<number>;
}

const kSubcommands: Record<string, Subcommand> = {
  info: {
    summary: 'print the ONNX Runtime in use, the native addon and the embedded models',
    run: async (argv, io) => (await import('./info-command.js')).runInfoCommand(argv, io),
  },
  init: {
    summary: 'make a folder of ONNX classifiers and labelled .npy data into a cascade (writes DIR/cascade.json)',
    run: async (argv, io) => (await import('./init-command.js')).runInitCommand(argv, io),
  },
  profile: {
    summary: 'measure every model of a manifest through the engine (batch times, cached answers) into profile.json',
    run: async (argv, io) => (await import('./profile-command.js')).runProfileCommand(argv, io),
  },
  plan: {
    summary: 'compute a gear plan (plan.json) from profile.json for a p95 SLO and a number of lanes',
    run: async (argv, io) => (await import('./plan-command.js')).runPlanCommand(argv, io),
  },
  serve: {
    summary: 'serve a gear plan over the Open Inference Protocol (default: the embedded cascade on port 8000)',
    run: async (argv, io) => (await import('./serve-command.js')).runServeCommand(argv, io),
  },
  replicas: {
    summary: 'replicas a load needs and the accuracy each load level gets, from a gear plan (the HPA bounds)',
    run: async (argv, io) => (await import('./replicas-command.js')).runReplicasCommand(argv, io),
  },
};

function version(): string {
  return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

function usage(): string {
  const names = Object.keys(kSubcommands);
  const width = Math.max(...names.map((n) => n.length));
  return [
    'Usage: cascadeserve <command> [options]',
    '',
    'Serves model cascades: a cheap model answers the easy queries, expensive models only the hard ones,',
    'with the configuration (gear) switched by the measured load.',
    '',
    'Commands:',
    ...names.map((n) => `  ${n.padEnd(width)}  ${kSubcommands[n].summary}`),
    '',
    'Options:',
    '  --help       this text (or `cascadeserve <command> --help`)',
    '  --version    the package version',
    '',
    'Every command: `--flag value` or `--flag=value`; exit code 2 for a usage error.',
    '',
  ].join('\n');
}

export async function main(argv: string[], io: CliIo = process): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    if (first === undefined) {
      io.stderr.write(usage());
      return kExitUsage;
    }
    io.stdout.write(usage());
    return 0;
  }
  if (first === '--version' || first === '-v') {
    io.stdout.write(version() + '\n');
    return 0;
  }
  const sub = kSubcommands[first];
  if (!sub) {
    io.stderr.write(`cascadeserve: unknown command '${first}'\n\n${usage()}`);
    return kExitUsage;
  }
  try {
    return await sub.run(rest, io);
  } catch (err) {
    io.stderr.write(`cascadeserve ${first}: ${(err as Error).message}\n`);
    return 1;
  }
}
