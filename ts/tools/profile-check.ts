// Does a profile describe these model files? The planner refuses a profile measured on other
// files: each model's sha256 must match the file the manifest names today.
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import type { Manifest } from '../contracts/manifest.js';
import type { Profile } from '../contracts/profile-schema.js';
import { sha256File } from './profiler.js';

export class ProfileMismatchError extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(errors.length === 1 ? errors[0] : `the profile does not match the manifest:\n  ${errors.join('\n  ')}`);
    this.name = 'ProfileMismatchError';
    this.errors = errors;
  }
}

/** Absolute manifest path recorded in a profile (relative paths are relative to the profile file). */
export function manifestPathOf(profile: Profile, profilePath: string): string {
  const p = profile.manifest.path;
  return isAbsolute(p) ? p : resolve(dirname(resolve(profilePath)), p);
}

/** Throws ProfileMismatchError naming each model whose file is missing from the manifest, absent on disk, or has another sha256. */
export function checkProfileAgainstManifest(profile: Profile, manifest: Manifest): void {
  const errors: string[] = [];
  const byName = new Map(manifest.models.map((m) => [m.name, m]));
  profile.models.forEach((pm, i) => {
    const mm = byName.get(pm.name);
    if (!mm) {
      errors.push(`models[${i}] "${pm.name}": not a model of the manifest ${manifest.path} (it has ${manifest.models.map((m) => m.name).join(', ')})`);
      return;
    }
    if (!existsSync(mm.file)) {
      errors.push(`model "${pm.name}": file ${mm.file} does not exist`);
      return;
    }
    const sha = sha256File(mm.file);
    if (sha !== pm.sha256) {
      errors.push(`model "${pm.name}": file ${mm.file} has sha256 ${sha}, the profile was measured on ${pm.sha256}; re-run \`cascadeserve profile ${relative(process.cwd(), manifest.path) || manifest.path}\``);
    }
  });
  if (errors.length) throw new ProfileMismatchError(errors);
}
