#!/usr/bin/env python3
"""Real data nobody here wrote: Debian's package index as JSON lines, for shoal's size figures.

Reads the apt lists this machine already has (`apt-get update` writes them), so nothing is
downloaded. Version 1 is bookworm's main index (about 63k packages); version 2 is the same
index with bookworm-security's packages laid over it (the updates a fleet would ship).
Every field is a plain string or number, as a user would first write the schema
(schema.toml beside the output: no reference types).

    python3 scripts/debian-packages.py OUT_DIR   -> OUT_DIR/v1.jsonl v2.jsonl schema.toml
"""
import glob
import json
import os
import subprocess
import sys

LISTS = "/var/lib/apt/lists"
FIELDS = {  # stanza field -> (record field, kind)
    "Package": ("package", "string"),
    "Version": ("version", "string"),
    "Source": ("source", "string"),
    "Section": ("section", "string"),
    "Priority": ("priority", "string"),
    "Architecture": ("architecture", "string"),
    "Maintainer": ("maintainer", "string"),
    "Installed-Size": ("installed_size", "i64"),
    "Size": ("size", "i64"),
    "Depends": ("depends", "string"),
    "Homepage": ("homepage", "string"),
    "Description": ("description", "string"),
    "Filename": ("filename", "string"),
    "SHA256": ("sha256", "string"),
}


def index(pattern):
    (path,) = glob.glob(os.path.join(LISTS, pattern))
    text = subprocess.run(
        ["/usr/lib/apt/apt-helper", "cat-file", path], check=True, capture_output=True, text=True
    ).stdout
    packages = {}
    for stanza in text.split("\n\n"):
        record = {}
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") or ":" not in line:
                continue
            name, value = line.split(":", 1)
            if name in FIELDS:
                field, kind = FIELDS[name]
                value = value.strip()
                record[field] = int(value) if kind == "i64" else value
        if "package" in record:
            packages[record["package"]] = record
    return packages


def write(path, packages):
    with open(path, "w") as f:
        for name in sorted(packages):
            f.write(json.dumps(packages[name]) + "\n")


def main(out):
    os.makedirs(out, exist_ok=True)
    v1 = index("*_debian_dists_bookworm_main_binary-amd64_Packages*")
    v2 = dict(v1)
    v2.update(index("*bookworm-security_main_binary-amd64_Packages*"))
    write(os.path.join(out, "v1.jsonl"), v1)
    write(os.path.join(out, "v2.jsonl"), v2)
    fields = ",\n".join(f'    "{f}: {k}"' for f, k in FIELDS.values())
    with open(os.path.join(out, "schema.toml"), "w") as f:
        f.write(f'root = "Package"\n\n[types.Package]\nkey = ["package"]\nfields = [\n{fields},\n]\n')
    print(f"{len(v1)} packages in v1, {len(v2)} in v2 -> {out}")


if __name__ == "__main__":
    main(sys.argv[1])
