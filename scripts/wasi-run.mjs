// Runs a wasm32-wasip1 program (a test binary) under Node's WASI, on the V8 engine that Envoy
// embeds. Cargo uses it as the runner of the wasm32-wasip1 target (.cargo/config.toml), so
// `cargo test --target wasm32-wasip1` runs there. Environment and arguments pass through.
import { readFile } from 'node:fs/promises';
import { argv, env, exit } from 'node:process';
import { WASI } from 'node:wasi';

const [program, ...args] = argv.slice(2);
const wasi = new WASI({
  version: 'preview1',
  args: [program, ...args],
  env,
  preopens: { '/': '/' },
  returnOnExit: true,
});
const module = await WebAssembly.compile(await readFile(program));
const instance = await WebAssembly.instantiate(module, wasi.getImportObject());
exit(wasi.start(instance));
