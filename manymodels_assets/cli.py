"""Command-line entry points (argument parsing only; the work lives in the modules named below).

    manymodels generate --stores 20 --items 10 --days 1095   # sales_generator
    manymodels demo                                           # demo.run_demo: generate, run all, summary
    manymodels summary                                        # summary.summary
    manymodels serve --host 127.0.0.1 --port 8000             # serving.server.run
    manymodels rollback [--to VERSION]                        # rollback.rollback_from_settings
"""
from __future__ import annotations

import argparse
import sys


def cmd_generate(args) -> None:
    from manymodels_assets.demo import generate_landing

    generate_landing(args.stores, args.items, args.days, args.seed, args.start, args.landing, args.format, args.drop)


def cmd_demo(args) -> None:
    from manymodels_assets.demo import run_demo

    run_demo(args.stores, args.items, args.days, args.seed)


def cmd_summary(args) -> None:
    import dagster as dg

    from manymodels_assets.definitions import build_definitions
    from manymodels_assets.settings import Settings
    from manymodels_assets.summary import summary

    print(summary(build_definitions(Settings.from_env()), dg.DagsterInstance.get()))


def cmd_serve(args) -> None:
    from manymodels_assets.serving.server import run

    run(host=args.host, port=args.port)


def cmd_rollback(args) -> None:
    from manymodels_assets.rollback import rollback_from_settings

    try:
        print(rollback_from_settings(args.to))
    except LookupError as exc:  # nothing to roll back to: say so, change nothing
        sys.exit(f"manymodels rollback: {exc}")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="manymodels")
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write a synthetic sales drop into the landing zone")
    for p in (g, sub.add_parser("demo", help="generate data (if none), run every asset, print a summary")):
        p.add_argument("--stores", type=int, default=20)
        p.add_argument("--items", type=int, default=10)
        p.add_argument("--days", type=int, default=1095)
        p.add_argument("--seed", type=int, default=7)
    g.add_argument("--start", default="2023-01-01")
    g.add_argument("--landing", default=None, help="landing folder (default: the lake's landing/)")
    g.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    g.add_argument("--drop", default=None, help="drop folder name (default: derived from the data)")
    sub.add_parser("summary", help="print the summary of the last runs")
    s = sub.add_parser("serve", help="real-time forecasts from the production model set (FastAPI + uvicorn)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    r = sub.add_parser("rollback", help="point the production alias back at the previous production model set")
    r.add_argument("--to", default=None, help="a production registry version (default: the one alias `previous` names)")
    args = parser.parse_args(argv)
    {"generate": cmd_generate, "demo": cmd_demo, "summary": cmd_summary, "serve": cmd_serve,
     "rollback": cmd_rollback}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
