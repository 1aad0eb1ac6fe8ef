"""The tests mirror the source: a module of src/tessera with behaviour of its own (a function or a
class) has its tests in tests/<the same folders>/test_<module>.py, a migration's tests are in
tests/<app>/migrations/test_<migration>.py, and every other test file is named after the module it
tests. The programs of examples/ (at the repository's root) have theirs in tests/examples/ alike.
The lists below are the exceptions, each with its reason; one that no longer holds (the module got
its tests, or is gone) fails here too, so the lists only shrink."""

import ast
from pathlib import Path

import tessera

SOURCE = Path(tessera.__file__).parent
TESTS = Path(__file__).parent
EXAMPLES = TESTS.parent / "examples"  # programs a platform can copy, run by tests/examples/

# Modules with nothing of their own to test apart from what uses them: wiring, declarations.
NOT_MIRRORED = {
    # AppConfigs: each ready() connects receivers or registers chores, which the tests of those
    # receivers (test_privacy.py, shop/test_receivers.py) and of the chores (core/test_chores.py) see.
    "api/apps.py": "AppConfig",
    "catalog/apps.py": "AppConfig",
    "core/apps.py": "AppConfig",
    "shop/apps.py": "AppConfig",
    "vouchers/apps.py": "AppConfig",
    "web/apps.py": "AppConfig",
    # Admin registrations without behaviour of their own: every action and permission of every
    # registered admin is tried by tests/core/test_admin.py.
    "catalog/admin.py": "admin registrations",
    # Declarations: each refusal's code, status and message, rendered by every surface's tests.
    "catalog/errors.py": "DomainError subclasses",
    "vouchers/errors.py": "DomainError subclasses",
    # Fields, constraints and __str__: the services' tests write and read them.
    "api/models.py": "fields and __str__",
    "core/models.py": "fields and __str__",
    "shop/models.py": "fields, constraints and __str__",
    "platforms/apps.py": "AppConfig",
    "platforms/admin.py": "admin registrations, tried by tests/core/test_admin.py",
    "platforms/errors.py": "DomainError subclasses",
    "platforms/models.py": "fields, constraints and __str__",
}

# Modules still without a test file of their own, none now. One being changed elsewhere just now
# may wait here for its tests, which come with that change; until then it names the modules whose
# tests see its behaviour.
KNOWN_GAPS: dict[str, str] = {}

# Test files that prove something across modules rather than test one.
NOT_A_MODULE = {
    "test_docs.py": "the documentation site and the README",
    "test_layout.py": "this layout",
    "test_openapi.py": "both HTTP APIs fuzzed against their OpenAPI documents",
    "api/test_rate_limits.py": "the learner API's failed-attempt limits, counted in the database and in Redis",
    "shop/test_concurrency.py": "orders and voids racing each other and redemptions",
    "vouchers/test_concurrency.py": "redemptions racing for the same code and the last seats",
    "platforms/test_concurrency.py": "one platform's catalog writes racing (platforms/catalog.py's lock)",
    # voucher_check lives in vouchers/services/redeem.py; its tests join test_redeem.py when that
    # file is free to change.
    "vouchers/test_check.py": "voucher_check, of vouchers/services/redeem.py",
    # The rate limits voucher_redeem and voucher_check hold every attempt to, of
    # vouchers/services/redeem.py, beside its test_redeem.py (which is long enough).
    "vouchers/services/test_redeem_limits.py": "the redemption services' rate limits",
}
# Folders of tests that walk through the whole application: real browsers, real faults, and
# journeys over real HTTP with Tessera's own processes (e2e).
WHOLE_APPLICATION = {"browser", "e2e", "faults"}


def has_behaviour(module: Path) -> bool:
    tree = ast.parse(module.read_text())
    return any(isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) for node in ast.walk(tree))


def source_modules() -> list[str]:
    """Every module of src/tessera with behaviour, but migrations, as paths below src/tessera."""
    modules = (path for path in SOURCE.rglob("*.py") if "migrations" not in path.relative_to(SOURCE).parts)
    return sorted(str(path.relative_to(SOURCE)) for path in modules if has_behaviour(path))


def mirror_of(module: str) -> Path:
    path = Path(module)
    return TESTS / path.parent / f"test_{path.name}"


def files_of_tests() -> list[str]:
    files = (path.relative_to(TESTS) for path in TESTS.rglob("test_*.py"))
    return sorted(str(path) for path in files if path.parts[0] not in WHOLE_APPLICATION)


def module_tested_by(test_file: str) -> Path:
    path = Path(test_file)
    root = EXAMPLES.parent if path.parts[0] == "examples" else SOURCE
    return root / path.parent / path.name.removeprefix("test_")


def examples() -> list[str]:
    return sorted(path.name for path in EXAMPLES.glob("*.py"))


class TestEveryModuleHasItsTests:
    def test_in_the_file_that_mirrors_it(self):
        listed = NOT_MIRRORED.keys() | KNOWN_GAPS.keys()
        missing = [module for module in source_modules() if module not in listed and not mirror_of(module).exists()]
        assert missing == [], "write tests/<folders>/test_<module>.py for each (or list it here, with why)"

    def test_the_exceptions_still_hold(self):
        modules = set(source_modules())
        stale = [module for module in NOT_MIRRORED.keys() | KNOWN_GAPS.keys() if module not in modules]
        tested = [module for module in KNOWN_GAPS.keys() | NOT_MIRRORED.keys() if mirror_of(module).exists()]
        assert (sorted(stale), sorted(tested)) == ([], []), "take these off NOT_MIRRORED or KNOWN_GAPS"

    def test_no_module_is_both_without_tests_and_a_gap(self):
        assert NOT_MIRRORED.keys() & KNOWN_GAPS.keys() == set()


class TestEveryExampleIsRun:
    def test_by_the_tests_of_its_name(self):
        missing = [name for name in examples() if not (TESTS / "examples" / f"test_{name}").exists()]
        assert missing == [], "write tests/examples/test_<example>.py, which runs it"


class TestEveryTestFileMirrorsAModule:
    def test_named_after_the_module_it_tests(self):
        orphans = [
            name for name in files_of_tests() if name not in NOT_A_MODULE and not module_tested_by(name).exists()
        ]
        assert orphans == [], "name each after the module it tests: tests/<folders>/test_<module>.py"

    def test_the_cross_cutting_files_are_still_there_and_still_cross_cutting(self):
        gone = [name for name in NOT_A_MODULE if not (TESTS / name).exists()]
        mirroring = [name for name in NOT_A_MODULE if module_tested_by(name).exists()]
        assert (gone, mirroring) == ([], []), "take these off NOT_A_MODULE"


class TestTheRules:
    """The rules above, on modules of their own making (so they cannot pass on an empty tree)."""

    def test_a_module_with_a_function_or_a_class_has_behaviour_and_one_of_constants_has_not(self, tmp_path):
        (tmp_path / "rules.py").write_text("def rule() -> int:\n    return 1\n")
        (tmp_path / "limits.py").write_text('"""Limits."""\n\nLIMIT = 5\nNAMES = ("a", "b")\n')
        assert (has_behaviour(tmp_path / "rules.py"), has_behaviour(tmp_path / "limits.py")) == (True, False)

    def test_a_module_and_its_mirror(self):
        assert mirror_of("vouchers/services/redeem.py") == TESTS / "vouchers" / "services" / "test_redeem.py"
        assert module_tested_by("shop/test_xikolo.py") == SOURCE / "shop" / "xikolo.py"
        assert module_tested_by("examples/test_platform_receiver.py") == EXAMPLES / "platform_receiver.py"

    def test_the_tree_holds_modules_with_behaviour_and_their_tests(self):
        assert {"vouchers/codes.py", "settings.py", "vouchers/management/commands/create_batch.py"} <= set(
            source_modules()
        )
        assert "vouchers/permissions.py" not in source_modules()  # constants only
        assert {"vouchers/test_codes.py", "test_settings.py", "examples/test_platform_receiver.py"} <= set(
            files_of_tests()
        )
        assert "platform_receiver.py" in examples()
