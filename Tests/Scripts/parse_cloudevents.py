#!/usr/bin/env python3
"""Parses each line of a file as a structured-mode CloudEvent with the CloudEvents SDK, validates its
data against the result-event schema, and prints the attributes as one JSON object per line."""
import json
import sys

from cloudevents.v1.http import from_json
from jsonschema import Draft202012Validator

schema_path, events_path = sys.argv[1], sys.argv[2]
with open(schema_path, encoding="utf-8") as handle:
    validator = Draft202012Validator(json.load(handle))
with open(events_path, "rb") as handle:
    for raw in handle:
        event = from_json(raw.rstrip(b"\n"))
        attributes = {name: event[name] for name in ("specversion", "type", "source", "id", "subject", "time", "datacontenttype") if name in event}
        errors = [error.message for error in validator.iter_errors(event.data)]
        print(json.dumps({"attributes": attributes, "dataErrors": errors, "status": event.data.get("status")}, sort_keys=True))
