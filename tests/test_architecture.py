"""Architecture rules that a change could break: no import cycles in saliency_core, and no
method or metric named outside its own module (the registries are the only way in)."""

import ast
import io
import tokenize
from pathlib import Path

import saliency_core
from saliency_core.methods import METHODS
from saliency_core.metrics import METRICS

ROOT = Path(saliency_core.__file__).parent

# Words that are also another vocabulary's value: the file where that vocabulary lives.
OTHER_VOCABULARIES = {
    # weights="random": seeded random backbone weights (models.weights.RANDOM_WEIGHTS)
    "random": {"models/weights.py", "models/registry.py", "models/lite0.py", "models/user.py"},
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in ROOT.rglob("*.py")}


def top_level_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """Modules of the package that ``name`` imports when it is imported (module-level
    statements only, not imports inside functions), with their parent packages, except
    ``name``'s own ancestors (Python initialises those before ``name``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    parts = name.split(".")
    ancestors = {".".join(parts[:i]) for i in range(1, len(parts))}
    found = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                candidate = ".".join(parts[:i])
                if candidate in known and candidate != name and candidate not in ancestors:
                    found.add(candidate)
    return found


def test_no_import_cycles():
    mods = modules()
    graph = {name: top_level_imports(name, path, set(mods)) for name, path in mods.items()}
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in graph[node]:
            if state.get(nxt) == "open":
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:10])


def string_literals(path: Path):
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    for tok in tokens:
        if tok.type == tokenize.STRING:
            try:
                value = ast.literal_eval(tok.string)
            except (ValueError, SyntaxError):
                continue
            if isinstance(value, str):
                yield value, tok.start[0]


def python_names() -> set[str]:
    """Functions and classes defined anywhere in the package (a function called ``mprt``
    is an identifier in ``__all__``, not the metric's name)."""
    names = set()
    for path in ROOT.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def test_units_are_named_only_in_their_own_module():
    identifiers = python_names()
    owners = {}
    for unit in [*METHODS, *METRICS]:
        module = Path(__import__(type(unit).__module__, fromlist=["_"]).__file__)
        for name in (unit.name, *getattr(unit, "aliases", ())):
            owners[name] = module
    found = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        for value, line in string_literals(path):
            owner = owners.get(value)
            if (
                owner is None
                or owner == path
                or rel in OTHER_VOCABULARIES.get(value, ())
                or value in identifiers
            ):
                continue
            found.append(f"{rel}:{line}: {value!r} (registered in {owner.relative_to(ROOT)})")
    assert not found, "names outside their module:\n" + "\n".join(found)
