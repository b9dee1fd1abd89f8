#!/usr/bin/env python3
"""Validates each line of a JSON-lines file against a JSON Schema (draft 2020-12).

    validate.py SCHEMA FILE     prints one line per input line: "valid", "invalid <first error>",
                                or "unparsable <reason>"; exit 0 when every line is valid, else 1

Publishers can run it on their side; the gateway's tests use it to check that the schemas and the
gateway's own validation agree.
"""
import json
import sys

from jsonschema import Draft202012Validator


def main(schema_path, input_path):
    with open(schema_path, encoding="utf-8") as handle:
        validator = Draft202012Validator(json.load(handle))
    all_valid = True
    with open(input_path, "rb") as handle:
        for raw in handle:
            raw = raw.rstrip(b"\n")
            try:
                document = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as error:
                print("unparsable " + str(error).splitlines()[0])
                all_valid = False
                continue
            errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
            if errors:
                all_valid = False
                print("invalid /" + "/".join(str(p) for p in errors[0].path) + ": " + errors[0].message.splitlines()[0][:160])
            else:
                print("valid")
    return 0 if all_valid else 1


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], sys.argv[2]))
