// Runs a wasm32-wasip1 command module under Node's WASI (V8, the engine Envoy embeds).
// Usage: node run-wasm.mjs MODULE.wasm [--vectors HOST_DIR] [args...]
// The vectors directory is preopened as /vectors inside the module.
//    or: node run-wasm.mjs --raw MODULE.wasm [args...]
// passes the arguments through unchanged (as a cargo runner for `cargo test`).
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { WASI } from 'node:wasi';

let argv = process.argv.slice(2);
const raw = argv[0] === '--raw';
if (raw) {
  argv = argv.slice(1);
}
const [modulePath, ...rest] = argv;
if (!modulePath) {
  console.error('usage: node run-wasm.mjs MODULE.wasm [--vectors DIR] [args...]');
  process.exit(2);
}
const args = [];
let vectors = process.env.WYCHEPROOF_DIR || '../../core/tests/vectors/wycheproof';
for (let i = 0; i < rest.length; i++) {
  if (rest[i] === '--vectors' && !raw) {
    vectors = rest[++i];
  } else {
    args.push(rest[i]);
  }
}
const wasi = new WASI({
  version: 'preview1',
  args: raw ? ['test', ...args] : ['bench', '--vectors', '/vectors', ...args],
  env: {},
  preopens: { '/vectors': resolve(vectors) },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(modulePath));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
process.exitCode = wasi.start(instance);
