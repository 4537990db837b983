import { getPreset, presetNames } from '../presets/index.js';

export async function presetsCommand(): Promise<void> {
  for (const name of presetNames()) {
    process.stdout.write(`${name.padEnd(24)} ${getPreset(name).description ?? ''}\n`);
  }
}
