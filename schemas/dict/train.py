#!/usr/bin/env python3
"""Trains the zstd dictionary the registry compresses stored revision lines with (registry-lines-N.zdict).

The dictionary holds the *structure* of a revision line (keys, codes, the wrapper's fields), never a
person's data: lines are made by `pendata demo` and every name, address and NIK/KK digit in them is
replaced by random letters and digits before training. Run from the repository root:

    cargo build --release && python3 schemas/dict/train.py target/release/pendata 2

(the last argument is the dictionary's number; stored lines name it, so a published dictionary is
never changed — a new one gets the next number and the registry keeps reading the old). Needs the
`zstd` command (Debian package zstd). Standard library only.
"""
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import uuid

FAMILIES = 1200
DICT_BYTES = 32768


def scrub(value, rng):
    if isinstance(value, dict):
        return {k: scrub(v, rng) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v, rng) for v in value]
    if isinstance(value, str):
        if re.fullmatch(r"\d{16}", value):
            return "".join(rng.choice("0123456789") for _ in value)
        if re.search(r"[A-Za-z]{3,}", value) and not re.fullmatch(r"[a-z_]+", value):
            return "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") if c.isalpha() else c for c in value)
    return value


def main():
    pendata, number = sys.argv[1], int(sys.argv[2])
    rng = random.Random(number)
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), f"registry-lines-{number}.zdict")
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "device")
        run = lambda *a: subprocess.run([pendata, "--data-dir", data, *a], check=True, capture_output=True, text=True).stdout
        run("init", "--device-name", "DICT")
        run("demo", "--families", str(FAMILIES), "--drafts", "0", "--seed", str(number))
        samples = os.path.join(tmp, "samples")
        os.mkdir(samples)
        ids = [line.split()[0] for line in run("record", "list").splitlines() if line.strip()]
        for n, rid in enumerate(ids):
            shown = json.loads(run("record", "show", rid, "--json"))
            rec = shown["record"]
            # The revision line as a bundle carries it (model::record::Revision, fields in its order).
            line = {
                "record": str(uuid.UUID(int=rng.getrandbits(128))),
                "number": rec["revision"],
                "seq": rng.randrange(1, 100000),
                "action": "finalized",
                "status": "final",
                "form_id": rec["form_id"],
                "form_version": rec["form_version"],
                "answers": scrub(shown["answers"], rng),
                "petugas": "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5)),
                "device": str(uuid.UUID(int=rng.getrandbits(128))),
                "at": f"2026-{rng.randrange(1, 13):02}-{rng.randrange(1, 29):02}T{rng.randrange(7, 18):02}:{rng.randrange(60):02}:{rng.randrange(60):02}+08:00",
            }
            with open(os.path.join(samples, f"{n:05}.json"), "w") as f:
                f.write(json.dumps(line, separators=(",", ":"), ensure_ascii=False))
        subprocess.run(
            ["zstd", "-q", "-f", "--train", "-r", samples, f"--maxdict={DICT_BYTES}", f"--dictID={number}", "-o", out],
            check=True,
        )
    print(f"wrote {out} ({os.path.getsize(out)} bytes) from {len(ids)} scrubbed lines")


if __name__ == "__main__":
    main()
