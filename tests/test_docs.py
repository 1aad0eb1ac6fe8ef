"""Cheap guards on the documentation: the README stays a front door, and the configuration page
names every environment variable Tessera reads. No database; `make docs-check` builds the site
itself strictly (links, anchors, pages left out of the navigation)."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
CONFIGURATION = ROOT / "docs" / "operations" / "configuration.md"
SOURCE = ROOT / "src" / "tessera"

README_MOST_LINES = 220
# settings.py's own readers, each taking the variable's name first (env_flag("TESSERA_HTTPS", False)).
ENV_READERS = {"env_flag", "env_int", "env_list", "env_rates"}


def environment_variables_read(source: str) -> set[str]:
    """The names in os.environ.get("NAME"), os.environ["NAME"] and settings' env_* readers."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and _reads_environment(node.func):
            names.add(node.args[0])
        elif isinstance(node, ast.Subscript) and _is_environ(node.value):
            names.add(node.slice)
    return {name.value for name in names if isinstance(name, ast.Constant) and isinstance(name.value, str)}


def _reads_environment(func: ast.expr) -> bool:
    if isinstance(func, ast.Name):
        return func.id in ENV_READERS
    return isinstance(func, ast.Attribute) and func.attr == "get" and _is_environ(func.value)


def _is_environ(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def variables_read_by_tessera() -> set[str]:
    return set().union(*(environment_variables_read(path.read_text()) for path in SOURCE.rglob("*.py")))


class TestEnvironmentVariablesRead:
    def test_finds_each_way_of_reading_one(self) -> None:
        source = 'os.environ.get("A", "x")\nos.environ["B"]\nenv_flag("C", True)\nenv_rates("D", "1/1s")\nprint("E")'
        assert environment_variables_read(source) == {"A", "B", "C", "D"}

    def test_finds_the_settings_variables(self) -> None:
        found = environment_variables_read((SOURCE / "settings.py").read_text())
        assert {"DATABASE_URL", "REDIS_URL", "TESSERA_HTTPS", "TESSERA_FAILED_ATTEMPTS", "TESSERA_VAR_DIR"} <= found


class TestConfigurationPage:
    def test_names_every_environment_variable_tessera_reads(self) -> None:
        page = CONFIGURATION.read_text()
        missing = sorted(name for name in variables_read_by_tessera() if f"`{name}`" not in page)
        assert missing == [], f"add these to {CONFIGURATION.relative_to(ROOT)}: {missing}"


class TestReadme:
    def test_is_a_front_door_of_at_most_220_lines(self) -> None:
        lines = len(README.read_text().splitlines())
        assert lines <= README_MOST_LINES, f"README.md has {lines} lines: move the detail into docs/"

    def test_names_the_two_commands(self) -> None:
        text = README.read_text()
        assert "make run" in text
        assert "make test" in text

    def test_links_only_to_files_that_exist(self) -> None:
        targets = re.findall(r"\]\((?!https?://)([^)#]+)", README.read_text())
        assert targets, "the README links the documentation's pages"
        assert [target for target in targets if not (ROOT / target).is_file()] == []
