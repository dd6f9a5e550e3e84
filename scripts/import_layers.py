"""Check fem_cell's import graph against its layers (docs/design: data flows down once).

Layers, bottom → top; a module may import only from its own layer or below, and within
the numerics layer physics and solvers never import each other (nor physics meshing):

    0 base         fem_cell (package), _dolfinx, units, constants, errors, params, limits,
                   files
    1 description  geometry, program
    2 domain       domain, forms
    3 numerics     physics, solvers, meshing, analysis
    4 config       config
    5 model        model
    6 outputs      outputs
    7 jobs         jobs
    8 studies      studies
    9 cli          cli, __main__, _entry

Every ``import`` counts, also the ones inside functions (they hide the graph but are
still edges).  The script also reports package-level cycles and the imports inside
functions.  Exit status 1 on any violation (CI runs it).

    python scripts/import_layers.py [--table]
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "fem_cell"
LAYERS = [
    ("base", ("fem_cell", "fem_cell._dolfinx", "fem_cell.units", "fem_cell.constants",
              "fem_cell.errors", "fem_cell.params", "fem_cell.limits",
              "fem_cell.files")),
    ("description", ("fem_cell.geometry", "fem_cell.program")),
    ("domain", ("fem_cell.domain", "fem_cell.forms")),
    ("numerics", ("fem_cell.physics", "fem_cell.solvers", "fem_cell.meshing",
                  "fem_cell.analysis")),
    ("config", ("fem_cell.config",)),
    ("model", ("fem_cell.model",)),
    ("outputs", ("fem_cell.outputs",)),
    ("jobs", ("fem_cell.jobs",)),
    ("studies", ("fem_cell.studies",)),
    ("cli", ("fem_cell.cli", "fem_cell.__main__", "fem_cell._entry")),
]
#: pairs (importer prefix, imported prefix) forbidden even within a layer
FORBIDDEN = (("fem_cell.physics", "fem_cell.solvers"), ("fem_cell.solvers", "fem_cell.physics"),
             ("fem_cell.physics", "fem_cell.meshing"))


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer_of(mod: str) -> tuple[int, str]:
    best = (-1, "", "")
    for i, (name, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            if (mod == p or mod.startswith(p + ".")) and len(p) > len(best[2]):
                best = (i, name, p)
    if best[0] < 0:
        raise SystemExit(f"module {mod} is in no layer: add it to LAYERS")
    return best[0], best[1]


def imports(path: Path, mod: str):
    """(imported module, line, inside a function) for every fem_cell import."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []

    def visit(node, in_func: bool):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, f) for a in child.names
                           if a.name.startswith("fem_cell"))
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:  # relative import
                    pkg = mod.split(".")
                    if not path.name == "__init__.py":
                        pkg = pkg[:-1]
                    pkg = pkg[:len(pkg) - child.level + 1]
                    base = ".".join(pkg + ([base] if base else []))
                if base.startswith("fem_cell"):
                    for a in child.names:  # "from fem_cell.x import y": y may be a module
                        sub = f"{base}.{a.name}"
                        target = sub if (ROOT.parent / (sub.replace(".", "/") + ".py")).exists() \
                            or (ROOT.parent / sub.replace(".", "/")).is_dir() else base
                        out.append((target, child.lineno, f))
            visit(child, f)

    visit(tree, False)
    return out


def package(mod: str) -> str:
    parts = mod.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else mod


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--table", action="store_true", help="print the layer table")
    args = ap.parse_args()
    problems, in_func = [], []
    edges: dict[str, set[str]] = defaultdict(set)
    members: dict[int, list[str]] = defaultdict(list)
    for path in sorted(ROOT.rglob("*.py")):
        mod = module_name(path)
        li, _ = layer_of(mod)
        members[li].append(mod)
        for target, line, f in imports(path, mod):
            lt, tname = layer_of(target)
            where = f"{path.relative_to(ROOT.parent)}:{line}"
            if lt > li:
                problems.append(f"{where}: {mod} ({LAYERS[li][0]}) imports {target} "
                                f"({tname}, a layer above)")
            for a, b in FORBIDDEN:
                if mod.startswith(a) and target.startswith(b):
                    problems.append(f"{where}: {mod} imports {target} ({a} must not use {b})")
            if f:
                in_func.append(f"{where}: {target}")
            pa, pb = package(mod), package(target)
            if pa != pb:
                edges[pa].add(pb)
    cycles = _cycles(edges)
    problems += [f"package cycle: {' -> '.join(c)}" for c in cycles]
    if args.table:
        for i, (name, _) in enumerate(LAYERS):
            print(f"{i} {name:12s} {', '.join(sorted(members[i]))}")
        print()
    print(f"{sum(len(v) for v in members.values())} modules, "
          f"{sum(len(v) for v in edges.values())} package edges, "
          f"{len(in_func)} imports inside functions, {len(problems)} violation(s)")
    for p in problems:
        print("  " + p)
    return 1 if problems else 0


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Elementary cycles between packages (depth-first, each reported once)."""
    out, seen = [], set()

    def dfs(node, stack):
        for nxt in sorted(edges.get(node, ())):
            if nxt in stack:
                cyc = stack[stack.index(nxt):] + [nxt]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    out.append(cyc)
            elif len(stack) < 12:
                dfs(nxt, stack + [nxt])

    for n in sorted(edges):
        dfs(n, [n])
    return out


if __name__ == "__main__":
    sys.exit(main())
