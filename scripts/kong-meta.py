"""Writes Kong's filter metadata (NAME.meta.json beside the module) from the configuration
schema: `kong-meta.py SCHEMA OUT`. Kong validates filter configurations with a draft-4
validator, so the draft 2020-12 markers ($schema, $id) are left out; every keyword the schema
uses is also draft 4's."""

import json
import sys

schema_path, out_path = sys.argv[1], sys.argv[2]
with open(schema_path, encoding="utf-8") as f:
    schema = json.load(f)
for marker in ("$schema", "$id"):
    schema.pop(marker, None)
with open(out_path, "w", encoding="utf-8") as f:
    json.dump({"config_schema": schema}, f, indent=2, ensure_ascii=False)
    f.write("\n")
print(f"{out_path}: Kong's config_schema")
