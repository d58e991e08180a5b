#!/usr/bin/env python3
"""Sums Nsight Compute's per-kernel gpu__time_duration (ncu --csv --metrics gpu__time_duration.sum) by kernel
name: total microseconds, calls, mean, share. Usage: kernel_table.py profile.csv"""
import csv
import sys
from collections import defaultdict


def main(path):
    totals = defaultdict(float)
    calls = defaultdict(int)
    with open(path, newline="") as f:
        rows = [line for line in f if line.startswith('"')]
    for row in csv.DictReader(rows):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"].replace("(anonymous namespace)::", "").replace("void ", "")
        name = name.split("(")[0].split("<")[0].strip()[:60]
        value = float(row["Metric Value"].replace(",", ""))
        unit = row.get("Metric Unit", "nsecond")
        us = value / 1000.0 if unit.startswith("n") else value if unit.startswith("u") else value * 1000.0
        totals[name] += us
        calls[name] += 1
    grand = sum(totals.values())
    print(f"{'kernel':60s} {'total us':>10s} {'calls':>6s} {'mean us':>9s} {'share':>6s}")
    for name, us in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{name:60s} {us:10.1f} {calls[name]:6d} {us / calls[name]:9.2f} {us / grand:6.1%}")
    print(f"{'all':60s} {grand:10.1f} {sum(calls.values()):6d}")


if __name__ == "__main__":
    main(sys.argv[1])
