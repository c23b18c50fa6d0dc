"""Status rules stay in one place: actors, HTTP handlers and the CLI reach rows only through the named
operations of store.queries, never through the models themselves (no ``Model.select/update/insert/create/get``
and no model column expressions). Models may still be named in type hints."""

from __future__ import annotations

import ast
from pathlib import Path

import peewee

from store import models

REPO = Path(__file__).resolve().parents[2]
CHECKED = [*sorted((REPO / "actors").glob("*.py")), *sorted((REPO / "annexd" / "http").rglob("*.py")),
           REPO / "annexd" / "cli.py"]
MODEL_NAMES = {name for name, value in vars(models).items()
               if isinstance(value, type) and issubclass(value, peewee.Model)}


def _model_of(node: ast.expr, aliases: set[str], modules: set[str]) -> str | None:
    """The model an expression names: ``Download`` (imported from store.models) or ``models.Download``."""
    if isinstance(node, ast.Name) and node.id in aliases:
        return node.id
    if (isinstance(node, ast.Attribute) and node.attr in MODEL_NAMES and isinstance(node.value, ast.Name)
            and node.value.id in modules):
        return f"{node.value.id}.{node.attr}"
    return None


def orm_uses(source: str) -> list[str]:
    """Every ``Model.attribute`` in ``source``, for the models of store.models imported under any name."""
    tree = ast.parse(source)
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    aliases = {a.asname or a.name for node in imports if node.module == "store.models"
               for a in node.names if a.name in MODEL_NAMES}
    modules = {a.asname or a.name for node in imports if node.module == "store" for a in node.names
               if a.name == "models"}
    return [f"line {node.lineno}: {model}.{node.attr}" for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and (model := _model_of(node.value, aliases, modules))]


def test_the_check_finds_orm_calls() -> None:
    source = ("from store import models\nfrom store.models import Download as D, utcnow\n"
              "D.update(state='x').where(D.id == 1).execute()\nmodels.ProcessingItem.select()\n")
    assert sorted(orm_uses(source)) == ["line 3: D.id", "line 3: D.update", "line 4: models.ProcessingItem.select"]


def test_actors_http_and_cli_make_no_orm_calls() -> None:
    assert len(CHECKED) > 15
    found = {str(path.relative_to(REPO)): uses for path in CHECKED if (uses := orm_uses(path.read_text()))}
    assert found == {}
