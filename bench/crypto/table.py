#!/usr/bin/env python3
"""Turns the bench outputs into markdown tables.

Usage: table.py WASM_TSV NATIVE_TSV SIZES_TSV
"""
import sys

BACKENDS = ["own-u32", "own-u32-simd128", "own-u64", "ring", "rustcrypto", "rustcrypto-cpubits32",
            "ed25519-compact", "p256-0.13"]
ALGS = ["RS256", "RS256-3072", "RS256-4096", "RS384", "RS512", "PS256", "PS384",
        "ES256", "ES384", "EdDSA"]
FAMILY = {"RS": "rsa", "PS": "rsa", "ES256": "es256", "ES384": "es384", "EdDSA": "eddsa"}


def parse(path):
    rows = {}
    for line in open(path):
        if line.startswith("#") or not line.strip():
            continue
        fields = line.rstrip("\n").split("\t")
        values = dict(f.split("=", 1) for f in fields[2:] if "=" in f)
        rows[(fields[0], fields[1])] = values
    return rows


def family(alg):
    for prefix, fam in FAMILY.items():
        if alg.startswith(prefix):
            return fam
    return None


def fmt(v):
    if v is None:
        return "–"
    x = float(v)
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}" if x >= 1 else f"{x:.2f}"


def main():
    wasm, native, sizes = parse(sys.argv[1]), parse(sys.argv[2]), {}
    for line in open(sys.argv[3]):
        f = line.split("\t")
        if f[0] != "probe":
            sizes[f[0]] = (int(f[1]), int(f[2]))
    backends = [b for b in BACKENDS if any(k[1] == b for k in wasm)]

    print("### Verification, µs per signature: wasm32-wasip1 on V8 (native in brackets)\n")
    print("| algorithm | " + " | ".join(backends) + " |")
    print("|---|" + "---|" * len(backends))
    for alg in ALGS:
        cells = []
        for b in backends:
            w = wasm.get((alg, b), {}).get("verify_us")
            n = native.get((alg, b), {}).get("verify_us")
            cells.append("–" if w is None else f"**{fmt(w)}** ({fmt(n)})")
        print(f"| {alg} | " + " | ".join(cells) + " |")

    print("\n### Per-key setup, µs (kept across requests): wasm (native)\n")
    print("| algorithm | " + " | ".join(backends) + " |")
    print("|---|" + "---|" * len(backends))
    for alg in ALGS:
        cells = []
        for b in backends:
            w = wasm.get((alg, b), {}).get("setup_us")
            n = native.get((alg, b), {}).get("setup_us")
            cells.append("–" if w is None else f"{fmt(w)} ({fmt(n)})")
        print(f"| {alg} | " + " | ".join(cells) + " |")

    print("\n### Module size added (bytes over a {}-byte base module; release profile, no wasm-opt)\n"
          .format(sizes.get("base", (0, 0))[0]))
    fams = ["rsa", "es256", "es384", "eddsa", "all"]
    print("| backend | " + " | ".join(fams) + " |")
    print("|---|" + "---|" * len(fams))
    for b in ["own", "own-simd128", "ring", "rustcrypto", "rustcrypto-cpubits32", "compact"]:
        cells = [f"{sizes[f'{b}/{f}'][1]:,}" if f"{b}/{f}" in sizes else "–" for f in fams]
        print(f"| {b} | " + " | ".join(cells) + " |")

    print("\n### SHA-256, µs per digest: wasm (native)\n")
    shas = sorted({k[1] for k in wasm if k[0].startswith("SHA-256")})
    lens = sorted({k[0] for k in wasm if k[0].startswith("SHA-256")},
                  key=lambda s: int(s.split("/")[1][:-1]))
    print("| input | " + " | ".join(shas) + " |")
    print("|---|" + "---|" * len(shas))
    for l in lens:
        cells = [f"{fmt(wasm.get((l, s), {}).get('digest_us'))} "
                 f"({fmt(native.get((l, s), {}).get('digest_us'))})" for s in shas]
        print(f"| {l.split('/')[1]} | " + " | ".join(cells) + " |")


main()
