#!/usr/bin/env python3
"""Reference stage-1 provisioning job: DP synthetic data with MST (README "How stage-1 data is made").

Reads a stage-2 CSV, fits SmartNoise Synth's MST synthesizer (McKenna et al., the NIST 2018
winner; snsynth.Synthesizer.create("mst", epsilon=, delta=)) and writes the synthetic CSV and a
parameters file stating what was spent. Everything that is not DP-protected comes from public
inputs, never from the data:

- the columns and each column's categories come from the public domain file (--domain), so the
  set of values seen in the data is not revealed (the transformer is fitted on the domain alone);
- rows with a value outside the domain are dropped (their count is not reported);
- the number of synthetic rows is --rows, not the size of the real data.

The epsilon and delta must be the dataset's `stage1` epsilon and delta: the verifier's ledger
charges exactly those when it releases this job's outputs.
"""
import argparse
import json
import os
import sys


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--input", required=True, help="stage-2 CSV with a header row")
    p.add_argument("--domain", required=True, help='public JSON: {"column": ["value", ...], ...}')
    p.add_argument("--epsilon", type=float, required=True)
    p.add_argument("--delta", type=float, default=1e-9)
    p.add_argument("--rows", type=int, required=True, help="number of synthetic rows (public)")
    p.add_argument("--output-dir", required=True)
    p.add_argument("--seed", type=int, default=None, help="numpy seed (tests only; never in production)")
    a = p.parse_args(argv)
    if not a.epsilon > 0:
        p.error("--epsilon must be > 0")
    if not 0 < a.delta < 1:
        p.error("--delta must be in (0, 1)")
    if a.rows < 1:
        p.error("--rows must be >= 1")
    return a


def public_frame(pd, domain):
    """One frame holding every category of every column (columns padded with their first value)."""
    width = max(len(v) for v in domain.values())
    return pd.DataFrame({c: [str(x) for x in v] + [str(v[0])] * (width - len(v)) for c, v in domain.items()})


def main(argv):
    args = parse_args(argv)
    import numpy as np
    import pandas as pd
    from snsynth import Synthesizer
    from snsynth.transform.table import TableTransformer

    if args.seed is not None:
        np.random.seed(args.seed)
    with open(args.domain, encoding="utf-8") as f:
        domain = json.load(f)
    if not isinstance(domain, dict) or not domain or not all(isinstance(v, list) and v for v in domain.values()):
        sys.exit("--domain: expected a non-empty object of column -> non-empty list of values")
    columns = list(domain)

    real = pd.read_csv(args.input, dtype=str, keep_default_na=False)
    missing = [c for c in columns if c not in real.columns]
    if missing:
        sys.exit(f"--input lacks the domain's columns {missing}")
    real = real[columns]
    inside = np.logical_and.reduce([real[c].isin([str(x) for x in domain[c]]) for c in columns])
    real = real[inside].reset_index(drop=True)

    # Fitted on the public domain only: fit() below sees fit_complete and never refits on real data.
    transformer = TableTransformer.create(public_frame(pd, domain), style="cube", categorical_columns=columns)
    transformer.fit(public_frame(pd, domain), epsilon=0.0)

    synth = Synthesizer.create("mst", epsilon=args.epsilon, delta=args.delta)
    synth.fit(real, transformer=transformer, preprocessor_eps=0.0)
    sample = synth.sample(args.rows)
    out = pd.DataFrame(sample, columns=columns) if not isinstance(sample, pd.DataFrame) else sample

    os.makedirs(args.output_dir, exist_ok=True)
    out.to_csv(os.path.join(args.output_dir, "synthetic.csv"), index=False)
    params = {
        "mechanism": "mst",
        "library": "smartnoise-synth",
        "epsilon": args.epsilon,
        "delta": args.delta,
        "rows": args.rows,
        "columns": columns,
        "domain_source": os.path.basename(args.domain),
    }
    with open(os.path.join(args.output_dir, "parameters.json"), "w", encoding="utf-8") as f:
        json.dump(params, f, indent=2, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
