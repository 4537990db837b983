import { getPreset, presetNames } from '@eqprop/experiments';

export async function presetsCommand(): Promise<void> {
  for (const name of presetNames()) {
    process.stdout.write(`${name.padEnd(24)} ${getPreset(name).description ?? ''}\n`);
  }
}
