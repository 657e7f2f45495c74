// `cascadeserve info`: what this installation will run with.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../../bindings/binding.js';
import { providerStatus } from '../runtime/providers.js';
import { runtimeInfo } from '../runtime/runtime.js';
import { runCommand, type CliIo, type CommandSpec } from './args.js';

export const kInfoCommand: CommandSpec = {
  name: 'info',
  description:
    'Prints the ONNX Runtime library and its version, the execution providers usable here (and why the\n' +
    'others the library reports are not: a provider library missing next to it, or one cascadeserve does not select),\n' +
    'the native addon in use and the embedded models.',
  flags: [],
  exitCodes: '0 printed; 1 the runtime or the addon cannot be loaded; 2 usage error.',
};

export async function runInfoCommand(argv: string[], io: CliIo): Promise<number> {
  return runCommand(kInfoCommand, argv, io, () => printInfo(io));
}

async function printInfo(io: CliIo): Promise<number> {
  const info = runtimeInfo();
  const providers = providerStatus(info.providers, info.libraryPath);
  const usable = providers.filter((p) => p.usable);
  const unusable = providers.filter((p) => !p.usable);
  const lines = [
    `ONNX Runtime ${info.version} (C API ${info.apiVersion}) from ${info.libraryPath}`,
    `execution providers usable here: ${usable.map((p) => (p.note ? `${p.name} (${p.note})` : p.name)).join(', ') || 'none'}`,
    ...unusable.map((p) => `  not usable: ${p.name}: ${p.note}`),
    `native addon: ${info.addonPath}`,
  ];
  const manifest = join(packageRoot(), 'models', 'fmnist', 'cascade.json');
  if (existsSync(manifest)) {
    const { loadManifest } = await import('../contracts/manifest.js');
    const m = await loadManifest(manifest);
    lines.push(`embedded cascade '${m.name}' (${manifest}):`);
    for (const model of m.models) lines.push(`  ${model.name.padEnd(12)} ${model.file}`);
  } else {
    lines.push('embedded cascade: models/fmnist/cascade.json is missing');
  }
  io.stdout.write(lines.join('\n') + '\n');
  return 0;
}
