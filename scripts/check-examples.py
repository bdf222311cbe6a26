#!/usr/bin/env python3
"""Checks what platform teams apply and write, as their tools would, without a cluster:

- every manifest in examples/istio/ and examples/envoy-gateway/ against the schema of its
  custom resource (tests/crds/, taken from Istio's and Envoy Gateway's CRDs), strictly: a
  field the schema does not name is an error, as with `kubectl apply --validate=strict`;
- the filter configuration each manifest carries, with the filter's own parser
  (`validate-config`, what `make validate` runs) and against config.schema.json;
- the Envoy cluster the Envoy Gateway example adds, with Envoy itself (`--mode validate`);
- config.schema.json against JSON Schema's 2020-12 meta-schema, the README's configurations
  against it, and configurations the parser refuses, which the schema must refuse too.

CEL rules of the CRDs (`x-kubernetes-validations`) are not evaluated. Run by `make test`;
exits non-zero on the first kind of failure after printing every problem found.
"""

import copy
import json
import pathlib
import subprocess
import sys
import tempfile

import jsonschema
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
ENVOY = ROOT / ".tools/envoy/envoy/_bin/envoy"
EXAMPLES = [ROOT / "examples/istio", ROOT / "examples/envoy-gateway"]

# Configurations the parser refuses, each for one reason the schema can see too.
REFUSED = {
    "no audience": {"domain": "t.example.com", "upstream": "auth0"},
    "unknown field": {"domain": "t.example.com", "audience": "a", "upstream": "auth0",
                      "audiance": "a"},
    "unknown algorithm": {"domain": "t.example.com", "audience": "a", "upstream": "auth0",
                          "algorithms": ["HS256"]},
    "iat offset out of bounds": {"domain": "t.example.com", "audience": "a",
                                 "upstream": "auth0", "dpop_iat_offset": 0},
    "rule without match": {"domain": "t.example.com", "audience": "a", "upstream": "auth0",
                           "rules": [{"require": "none"}]},
    "claim header of the wrong type": {"domain": "t.example.com", "audience": "a",
                                       "upstream": "auth0",
                                       "forward": {"claim_headers": ["sub"]}},
}

problems = []


def problem(where, text):
    problems.append(f"{where}: {text}")


def strict(schema):
    """The structural schema as the API server prunes it, with unknown fields as errors:
    an object that lists its properties and neither keeps unknown fields nor describes
    extra ones gets `additionalProperties: false`. `nullable` becomes a null type."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if out.get("nullable") is True and "type" in out:
        out["type"] = [out["type"], "null"]
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def crd_schemas():
    schemas = {}
    for path in sorted((ROOT / "tests/crds").glob("*.json")):
        doc = json.loads(path.read_text())
        schema = strict(doc["openAPIV3Schema"])
        # Every object has these, whether its schema lists them (Envoy Gateway's do, Istio's
        # do not).
        for field, kind in (("apiVersion", "string"), ("kind", "string"), ("metadata", "object")):
            schema["properties"].setdefault(field, {"type": kind})
        schemas[(doc["apiVersion"], doc["kind"])] = schema
    return schemas


def run_validate_config(config, where):
    """The filter's own verdict: validate-config exits 0 for a configuration it takes."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(config, f)
    result = subprocess.run(
        ["cargo", "run", "-q", "-p", "filter-core", "--bin", "validate-config", "--", f.name],
        cwd=ROOT, capture_output=True, text=True)
    pathlib.Path(f.name).unlink()
    return result.returncode == 0, (result.stdout + result.stderr).strip()


def check_config(config, where, config_schema):
    ok, said = run_validate_config(config, where)
    if not ok:
        problem(where, f"the filter refuses its configuration: {said}")
    for error in config_schema.iter_errors(config):
        problem(where, f"config.schema.json refuses its configuration: {error.message}")


def check_cluster(cluster, where):
    """A cluster as Envoy's own configuration validation reads it."""
    if not ENVOY.exists():
        problem(where, f"{ENVOY} is missing: run `make setup`")
        return
    bootstrap = {"static_resources": {"clusters": [cluster]}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(bootstrap, f)
    result = subprocess.run([str(ENVOY), "--mode", "validate", "-c", f.name,
                             "--log-level", "error"], capture_output=True, text=True)
    pathlib.Path(f.name).unlink()
    if result.returncode != 0:
        problem(where, f"Envoy refuses the cluster: {(result.stdout + result.stderr).strip()}")


def filter_configs(doc):
    """The filter configurations a manifest carries."""
    spec = doc.get("spec") or {}
    if doc["kind"] == "WasmPlugin":
        return [spec.get("pluginConfig")]
    if doc["kind"] == "EnvoyExtensionPolicy":
        return [entry.get("config") for entry in spec.get("wasm", [])]
    return []


def added_clusters(doc):
    if doc["kind"] != "EnvoyPatchPolicy":
        return []
    return [patch["operation"]["value"] for patch in doc["spec"].get("jsonPatches", [])
            if patch.get("type", "").endswith("envoy.config.cluster.v3.Cluster")
            and patch.get("operation", {}).get("op") == "add"]


def check_manifests(config_schema):
    schemas = crd_schemas()
    configs = clusters = 0
    for directory in EXAMPLES:
        manifests = sorted(directory.glob("*.yaml"))
        if not manifests:
            problem(directory.name, "no manifests")
        for path in manifests:
            for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
                if doc is None:
                    continue
                where = f"{path.relative_to(ROOT)} #{index + 1} ({doc.get('kind')})"
                schema = schemas.get((doc.get("apiVersion"), doc.get("kind")))
                if schema is None:
                    problem(where, f"no vendored schema for {doc.get('apiVersion')} {doc.get('kind')}")
                    continue
                for error in jsonschema.Draft7Validator(schema).iter_errors(doc):
                    location = "/".join(str(p) for p in error.absolute_path)
                    problem(where, f"{location}: {error.message}")
                for config in filter_configs(doc):
                    check_config(config, where, config_schema)
                    configs += 1
                for cluster in added_clusters(doc):
                    check_cluster(cluster, where)
                    clusters += 1
    if configs < 2:
        problem("examples", f"only {configs} filter configurations found in the manifests")
    if clusters < 1:
        problem("examples", "the Envoy Gateway example adds no cluster")
    return configs, clusters


def readme_configs():
    readme = (ROOT / "README.md").read_text()
    for block in readme.split("```json")[1:]:
        text = block.split("```")[0]
        try:
            doc = json.loads(text)
        except ValueError:
            continue
        if isinstance(doc, dict) and "audience" in doc:
            yield doc


def check_config_schema():
    schema = json.loads((ROOT / "config.schema.json").read_text())
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as error:
        problem("config.schema.json", f"not a valid 2020-12 schema: {error.message}")
        return None
    validator = jsonschema.Draft202012Validator(schema)
    readme = 0
    for doc in readme_configs():
        for error in validator.iter_errors(doc):
            problem("README.md", f"config.schema.json refuses {json.dumps(doc)}: {error.message}")
        readme += 1
    if readme == 0:
        problem("README.md", "no complete configuration found")
    for name, config in REFUSED.items():
        ok, _ = run_validate_config(config, name)
        if ok:
            problem(f"refused configuration '{name}'", "the filter takes it")
        if validator.is_valid(config):
            problem(f"refused configuration '{name}'", "config.schema.json takes it")
    return validator, readme


def main():
    checked = check_config_schema()
    if checked is None:
        configs = clusters = readme = 0
    else:
        validator, readme = checked
        configs, clusters = check_manifests(validator)
    for line in problems:
        print(f"check-examples: {line}", file=sys.stderr)
    if problems:
        return 1
    print(f"check-examples: manifests valid; {configs} filter configurations and "
          f"{readme} README configurations taken by the filter and config.schema.json; "
          f"{clusters} added cluster taken by Envoy; {len(REFUSED)} bad configurations "
          f"refused by both")
    return 0


if __name__ == "__main__":
    sys.exit(main())
