#!/usr/bin/env python3
"""Checks docs/asyncapi.yaml: it must load as an AsyncAPI 3.0 document (the asyncapi3 object
model), every referenced schema file must exist and be a valid draft 2020-12 schema, and every
message example must match its payload (and headers) schema. Prints one line per check; exit 1 on
any failure."""
import json
import os
import sys
import warnings

import yaml
from jsonschema import Draft202012Validator

warnings.simplefilter("ignore")
from asyncapi3 import AsyncAPI3  # noqa: E402

path = sys.argv[1]
base = os.path.dirname(os.path.abspath(path))
with open(path, encoding="utf-8") as handle:
    document = yaml.safe_load(handle)
failures = 0
AsyncAPI3.model_validate(document)
print("asyncapi 3.0 document: ok")


def resolve(schema):
    """Inlines file references relative to the document (the schemas are self-contained)."""
    if isinstance(schema, dict):
        ref = schema.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            with open(os.path.join(base, ref), encoding="utf-8") as handle:
                loaded = json.load(handle)
            Draft202012Validator.check_schema(loaded)
            return loaded
        return {key: resolve(value) for key, value in schema.items()}
    if isinstance(schema, list):
        return [resolve(item) for item in schema]
    return schema


for name, message in document["components"]["messages"].items():
    checks = []
    for part in ("payload", "headers"):
        spec = message.get(part)
        if spec is None:
            continue
        schema = resolve(spec.get("schema", spec) if "schemaFormat" in spec else spec)
        Draft202012Validator.check_schema(schema)
        checks.append((part, Draft202012Validator(schema)))
    examples = message.get("examples", [])
    if not examples:
        print(f"{name}: no example")
        failures += 1
    for example in examples:
        for part, validator in checks:
            if part not in example:
                continue
            errors = [error.message for error in validator.iter_errors(example[part])]
            label = f"{name} example {example.get('name', '?')} {part}"
            print(f"{label}: " + ("ok" if not errors else "INVALID " + "; ".join(errors)))
            failures += bool(errors)
sys.exit(1 if failures else 0)
