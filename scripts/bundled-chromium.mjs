// The browser the test command uses when the machine has none: the headless Chromium that ships,
// brotli-compressed, inside the npm package @sparticuz/chromium (a root devDependency), unpacked
// once into a folder named after its version. Its SwiftShader Vulkan driver (with a Vulkan loader)
// comes with it, which also gives Dawn (the `webgpu` package) a software adapter in Node.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { brotliDecompressSync } from 'node:zlib';

const PACKAGE = '@sparticuz/chromium';

/**
 * Unpacks the bundled Chromium if needed and returns `{ executable, vulkanDir, version, env }`
 * (vulkanDir holds libvulkan.so.1, libvk_swiftshader.so and vk_swiftshader_icd.json), or `{ missing }` saying why there
 * is none: the package is not installed, or this is not linux-x64 (the only build it ships).
 */
export function bundledChromium() {
  if (process.platform !== 'linux' || process.arch !== 'x64')
    return { missing: `${PACKAGE} ships a linux-x64 build only (this is ${process.platform}-${process.arch})` };
  let root;
  try {
    // the package exports no package.json: its entry is build/cjs/index.cjs, three folders down
    root = dirname(dirname(dirname(createRequire(import.meta.url).resolve(PACKAGE))));
  } catch {
    return { missing: `${PACKAGE} is not installed (run \`pnpm install\`)` };
  }
  const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const bin = join(root, 'bin');
  const dir = join(process.env.EQPROP_CACHE_DIR ?? join(tmpdir(), 'eqprop-cache'), `chromium-${version}`);
  const executable = join(dir, 'chromium');
  // SwiftShader sits next to the browser, where Chromium looks for it (--use-webgpu-adapter=swiftshader)
  const vulkanDir = dir;
  if (!existsSync(join(dir, '.complete'))) {
    mkdirSync(dir, { recursive: true });
    // write-then-rename: a run killed mid-unpack never leaves a truncated browser behind
    const part = `${executable}.${process.pid}.part`;
    writeFileSync(part, brotliDecompressSync(readFileSync(join(bin, 'chromium.br'))));
    chmodSync(part, 0o755);
    renameSync(part, executable);
    for (const [archive, into] of [
      ['swiftshader.tar.br', vulkanDir],
      ['fonts.tar.br', dir],
    ]) {
      const tar = spawnSync('tar', ['-x', '-C', into], { input: brotliDecompressSync(readFileSync(join(bin, archive))) });
      if (tar.status !== 0) return { missing: `unpacking ${archive} failed: ${tar.stderr}` };
    }
    // the package's fonts.conf names Lambda's folders; ours names the unpacked fonts and the system's
    const fontsConf = `<?xml version="1.0"?>\n<fontconfig>\n  <dir>${join(dir, 'fonts')}</dir>\n  <dir>/usr/share/fonts</dir>\n  <cachedir>${join(dir, 'fonts-cache')}</cachedir>\n</fontconfig>\n`;
    writeFileSync(join(dir, 'fonts.conf'), fontsConf);
    writeFileSync(join(dir, '.complete'), `${version}\n`);
  }
  // fontconfig finds the bundled fonts (fonts.conf points at ./fonts) through FONTCONFIG_PATH
  return { executable, vulkanDir, version, env: { FONTCONFIG_PATH: dir } };
}
