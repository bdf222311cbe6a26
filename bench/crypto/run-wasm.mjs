// Runs a wasm32-wasip1 command module under Node's WASI (V8, the engine Envoy embeds).
// Usage: node run-wasm.mjs MODULE.wasm [--vectors HOST_DIR] [args...]
// The vectors directory is preopened as /vectors inside the module.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WASI } from 'node:wasi';

const [modulePath, ...rest] = process.argv.slice(2);
if (!modulePath) {
  console.error('usage: node run-wasm.mjs MODULE.wasm [--vectors DIR] [args...]');
  process.exit(2);
}
const args = [];
let vectors = process.env.WYCHEPROOF_DIR || '../../../shared/vectors/wycheproof';
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--vectors') {
    vectors = rest[++i];
  } else {
    args.push(rest[i]);
  }
}
const wasi = new WASI({
  version: 'preview1',
  args: ['bench', '--vectors', '/vectors', ...args],
  env: {},
  preopens: { '/vectors': resolve(vectors) },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(modulePath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
