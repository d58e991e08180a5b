#!/usr/bin/env python3
"""Splits an Nsight Compute kernel trace of a serving run (ncu --csv --metrics gpu__time_duration.sum, gzipped
or not) into engine steps, each ending at its argmax (greedy sampling) kernel, and prints each step's GPU time
by kernel family (cuBLASLt kernels as "gemm"), the step's token count (the embedding kernel's grid rows), and
the mean per step. Usage: step_table.py trace.csv[.gz]"""
import collections
import csv
import gzip
import re
import sys


def kernels(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        rows = [line for line in f if line.startswith('"')]
    for row in csv.DictReader(rows):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = re.sub(r"\(anonymous namespace\)::|<unnamed>::", "", row["Kernel Name"]).replace("void ", "")
        name = name.split("(")[0]
        base = name.split("<")[0].split("::")[-1]
        family = "gemm" if base.startswith("nvjet") or "gemm" in base.lower() else base
        yield family, row["Grid Size"], float(row["Metric Value"].replace(",", "")) / 1000.0


def main(path):
    trace = list(kernels(path))
    ends = [i for i, k in enumerate(trace) if k[0] == "argmax_kernel"]
    totals = collections.defaultdict(float)
    steps = 0
    for a, b in zip(ends, ends[1:]):
        step = trace[a + 1:b + 1]
        by_family = collections.defaultdict(float)
        for family, _, us in step:
            by_family[family] += us
            totals[family] += us
        grids = [g for f, g, _ in step if f == "embedding_kernel"]
        tokens = grids[0].strip("()").split(",")[0] if grids else "?"
        steps += 1
        parts = ", ".join(f"{f} {us / 1000:.2f}" for f, us in sorted(by_family.items(), key=lambda kv: -kv[1]))
        print(f"step {steps}: {sum(by_family.values()) / 1000:.2f} ms, embedding grid x {tokens}: {parts}")
    if steps:
        parts = ", ".join(f"{f} {us / 1000 / steps:.2f}" for f, us in sorted(totals.items(), key=lambda kv: -kv[1]))
        print(f"mean of {steps} steps (ms): {parts}")


if __name__ == "__main__":
    main(sys.argv[1])
