"""Run every benchmark in ``bench/`` (``make bench`` -> ``python -m bench [--quick] [name ...]``).

Each ``bench/bench_*.py`` module is run in turn, in name order: its ``main(argv)`` when it has one, otherwise
the module is run as ``__main__`` (its ``if __name__ == "__main__"`` block). ``--quick`` is passed through.
A failing benchmark does not stop the others; the exit status is non-zero if any of them failed.
Give names (``writer``, ``bench_rank``...) to run only those.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import runpy
import sys
import time
import traceback
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def discover() -> list[str]:
    return sorted(p.stem for p in BENCH_DIR.glob("bench_*.py"))


def _exit_code(value: object) -> int:
    """Map a main() return value or a SystemExit code to an exit status (None and True-ish 0 mean success)."""
    if value is None or value is True:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int):
        return value
    print(value, file=sys.stderr)  # sys.exit("message") convention
    return 1


def has_main(name: str) -> bool:
    """Whether the module defines a top-level ``main`` (checked on the source, so it is imported only once)."""
    path = BENCH_DIR / f"{name}.py"
    if not path.exists():
        return True  # not a plain file here: import it and look
    tree = ast.parse(path.read_text(), str(path))
    return any(isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "main"
               for node in tree.body)


def run_one(name: str, argv: list[str]) -> int:
    module_name = f"bench.{name}"
    saved_argv = sys.argv
    try:
        if has_main(name):
            main = getattr(importlib.import_module(module_name), "main", None)
            if callable(main):
                return _exit_code(main(list(argv)))
        sys.modules.pop(module_name, None)
        sys.argv = [module_name, *argv]
        runpy.run_module(module_name, run_name="__main__", alter_sys=False)
        return 0
    except SystemExit as exc:
        return _exit_code(exc.code)
    except KeyboardInterrupt:
        raise
    except BaseException:
        traceback.print_exc()
        return 1
    finally:
        sys.argv = saved_argv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke-sized runs (passed to every benchmark)")
    parser.add_argument("names", nargs="*", help="only these benchmarks (e.g. writer or bench_writer)")
    args = parser.parse_args(argv)

    available = discover()
    if args.names:
        wanted = [n if n.startswith("bench_") else f"bench_{n}" for n in args.names]
        unknown = [n for n in wanted if n not in available]
        if unknown:
            parser.error(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}")
        names = wanted
    else:
        names = available
    passthrough = ["--quick"] if args.quick else []

    results: list[tuple[str, int, float]] = []
    for name in names:
        print(f"\n=== {name} {' '.join(passthrough)}".rstrip(), flush=True)
        started = time.perf_counter()
        code = run_one(name, passthrough)
        elapsed = time.perf_counter() - started
        results.append((name, code, elapsed))
        print(f"=== {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {elapsed:.1f}s", flush=True)

    print("\nbenchmark summary")
    for name, code, elapsed in results:
        print(f"  {name:<20} {'ok' if code == 0 else f'FAILED (exit {code})':<18} {elapsed:8.1f}s")
    failed = [name for name, code, _ in results if code != 0]
    print(f"{len(results) - len(failed)} ok, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
