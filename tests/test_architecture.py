"""The architecture as code: what the import-linter contracts cannot see.

- every module of ``studio/`` is either kernel (the adapters may import it) or forbidden to the
  adapters by the contract in ``pyproject.toml``, so a new core module is never reachable by
  accident;
- services get their collaborators explicitly: no ``...`` stub standing in for another
  service's method, and every ``self.X`` a service uses is its own;
- the facade only gathers: each public verb of a service is on ``Studio`` and resolves to it;
- test doubles live in ``tests/`` and nothing in a product package reads outside the checkout.
"""

from __future__ import annotations

import ast
import inspect
import re
import tomllib
from pathlib import Path

import pytest

from studio import services
from studio.services import Studio

ROOT = Path(__file__).resolve().parents[1]
PRODUCT = ("studio", "agents", "rag", "render", "qa")
KERNEL = {"studio", "studio.model", "studio.ports", "studio.errors", "studio.config",
          "studio.sqlite", "studio.pngmeta", "studio.camera", "studio.caps", "studio.headings",
          "studio.names"}
# Public methods a service keeps to itself (called by other services, not by the UI).
INTERNAL = {"current_shots", "previous_end"}


def _contract(name_start: str) -> dict:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return next(c for c in config["tool"]["importlinter"]["contracts"]
                if c["name"].startswith(name_start))


def _top_level_modules(package: str) -> set[str]:
    folder = ROOT / package
    names = {f"{package}.{p.stem}" for p in folder.glob("*.py") if p.stem != "__init__"}
    names |= {f"{package}.{p.parent.name}" for p in folder.glob("*/__init__.py")}
    return names


def test_every_core_module_is_kernel_or_forbidden_to_the_adapters() -> None:
    contract = _contract("adapters use only the core's kernel")
    forbidden = set(contract["forbidden_modules"])
    modules = _top_level_modules("studio")
    assert not forbidden - modules, f"the contract names modules that do not exist: {forbidden - modules}"
    unclassified = modules - forbidden - KERNEL
    assert not unclassified, f"name these as kernel or forbid them to the adapters: {sorted(unclassified)}"
    assert not (forbidden & KERNEL)


def _service_classes() -> list[tuple[Path, ast.ClassDef]]:
    found = []
    for path in sorted((ROOT / "studio" / "services").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [(path, node) for node in tree.body
                  if isinstance(node, ast.ClassDef) and node.name.endswith(("Service", "Workspace"))]
    return found


def _is_stub(fn: ast.FunctionDef) -> bool:
    body = [n for n in fn.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)
                                       and isinstance(n.value.value, str))]
    return len(body) == 1 and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and body[0].value.value is Ellipsis


def test_services_declare_no_stub_methods() -> None:
    classes = _service_classes()
    assert {c.name for _, c in classes} >= {"PlanningService", "ProductionService", "QualityService"}
    stubs = [f"{path.name}:{fn.lineno} {cls.name}.{fn.name}" for path, cls in classes
             for fn in cls.body if isinstance(fn, ast.FunctionDef) and _is_stub(fn)]
    assert not stubs, stubs


def test_every_attribute_a_service_uses_is_its_own() -> None:
    strays = []
    for path, cls in _service_classes():
        own = {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
        for node in ast.walk(cls):
            targets = node.targets if isinstance(node, ast.Assign) else []
            own |= {t.attr for t in targets if isinstance(t, ast.Attribute)
                    and isinstance(t.value, ast.Name) and t.value.id == "self"}
        for node in ast.walk(cls):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id == "self" and node.attr not in own:
                strays.append(f"{path.name}:{node.lineno} {cls.name} uses self.{node.attr}")
    assert not strays, strays


@pytest.mark.parametrize("attr,cls", [
    ("intake", services.IntakeService), ("script", services.ScriptService),
    ("history", services.HistoryService), ("planning", services.PlanningService),
    ("production", services.ProductionService), ("quality", services.QualityService),
    ("health", services.HealthService), ("story", services.StoryService),
])
def test_the_facade_offers_every_verb_of_a_service(attr: str, cls: type) -> None:
    public = {name for name, fn in inspect.getmembers(cls, inspect.isfunction)
              if not name.startswith("_")} - INTERNAL
    verbs = {name for name, value in vars(Studio).items()
             if isinstance(value, services._Verb) and value.service == attr}
    assert public == verbs


def test_a_verb_is_the_bound_method_of_its_service(tmp_path: Path) -> None:
    from studio.config import Settings
    from studio.store import Store

    settings = Settings(home=tmp_path)
    studio = Studio(settings, Store(settings.db_path, settings.media_dir), presets={})
    assert studio.split_shot.__self__ is studio.planning
    assert studio.run_qa.__self__ is studio.quality
    assert inspect.signature(studio.split_shot) == inspect.signature(studio.planning.split_shot)
    project = studio.create_project("Composed")
    assert studio.state(project.id) == studio.workspace.state(project.id)


def test_no_test_double_in_a_product_package() -> None:
    doubles = []
    for package in PRODUCT:
        for path in (ROOT / package).rglob("*.py"):
            if "fake" in path.stem or "loopback" in path.stem:
                doubles.append(str(path.relative_to(ROOT)))
            tree = ast.parse(path.read_text(encoding="utf-8"))
            doubles += [f"{path.relative_to(ROOT)}:{n.name}" for n in ast.walk(tree)
                        if isinstance(n, ast.ClassDef) and n.name.startswith(("Fake", "Loopback"))]
    assert not doubles, doubles


OUTSIDE = re.compile(r"\.\./shared|/\s*[\"']shared[\"']")
PARENTS = re.compile(r"__file__\)\.resolve\(\)\.parents\[(\d+)\]")


def test_nothing_reads_outside_the_checkout() -> None:
    # A plain clone has no ../shared beside it: product code and tests use what is inside.
    outside = []
    for folder in (*PRODUCT, "tests", "pages"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name == Path(__file__).name:
                continue
            text = path.read_text(encoding="utf-8")
            climbs = [path.resolve().parents[int(n)] for n in PARENTS.findall(text)]
            if OUTSIDE.search(text) or any(not up.is_relative_to(ROOT) for up in climbs):
                outside.append(str(path.relative_to(ROOT)))
    assert not outside, outside
