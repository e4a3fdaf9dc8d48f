"""`make mutation`'s map and configuration (tools/mutation.py) stay true to the repository."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest

from tools import mutation

ROOT = Path(__file__).resolve().parents[3]


def test_every_mapped_module_and_test_file_exists() -> None:
    for module, tests in mutation.MODULES.items():
        assert (ROOT / module).is_file(), module
        assert tests, module
        for test in tests:
            assert (ROOT / test).is_file(), (module, test)


def test_the_mutmut_table_is_valid_toml_for_one_module() -> None:
    tests = mutation.MODULES["anomaly/ladder.py"]
    table = tomllib.loads(mutation.mutmut_config("anomaly/ladder.py", tests))["tool"]["mutmut"]
    assert table["only_mutate"] == ["anomaly/ladder.py"]
    assert table["pytest_add_cli_args_test_selection"] == list(tests)
    # the settings that keep a mutant's verdict its own (docs/testing.md)
    assert table["process_isolation"] == "forkserver"
    assert table["forkserver_warmup"] == "import"
    assert set(table["source_paths"]) == set(mutation.PACKAGES)


def test_the_fork_server_preloads_no_module_of_ours() -> None:
    ours = {*mutation.PACKAGES, "tests", "tools"}
    assert not [name for name in mutation.PRELOAD if name.split(".")[0] in ours]


def test_every_package_of_ours_is_copied_into_the_mutants_tree() -> None:
    # A package missing here would be imported from the repository, unmutated, by the tests.
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shipped = {p.removesuffix("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    assert shipped == set(mutation.PACKAGES)


def test_scores_count_timeouts_as_killed_and_no_tests_as_survived() -> None:
    outcome = mutation.Outcome(
        module="m.py",
        statuses={
            "a__mutmut_1": "killed",
            "a__mutmut_2": "timeout",
            "a__mutmut_3": "survived",
            "b__mutmut_1": "no tests",
        },
    )
    assert (outcome.total, outcome.killed, outcome.score) == (4, 2, 50.0)
    assert outcome.survivors == ["a__mutmut_3", "b__mutmut_1"]
    assert mutation.status_of(-24) == "timeout" and mutation.status_of(0) == "survived"


def test_a_subset_run_keeps_only_the_named_mutants_and_refuses_a_pattern_that_names_none() -> None:
    names = [
        "notifier.lifecycle.x_open_or_redetect__mutmut_6",
        "notifier.lifecycle.x_open_or_redetect__mutmut_60",
        "notifier.lifecycle.x__write__mutmut_1",
    ]
    assert mutation.matching(names, ("notifier.lifecycle.x_open_or_redetect__mutmut_6",)) == names[:1]
    assert mutation.matching(names, ("*open_or_redetect*",)) == names[:2]
    assert mutation.matching(names, ("*_write__mutmut_1", names[0])) == [names[0], names[2]]
    with pytest.raises(SystemExit, match="no mutant matches"):
        mutation.matching(names, ("*_write__mutmut_1", "*acknowledge*"))


def test_the_recheck_tries_first_the_mapped_tests_that_reach_the_mutated_function(tmp_path: Path) -> None:
    tests = ("tests/unit/a.py", "tests/unit/b.py")
    (tmp_path / "mutmut-stats.json").write_text(
        json.dumps(
            {
                "tests_by_mangled_function_name": {
                    "notifier.lifecycle.x_record_event": [
                        "tests/unit/b.py::test_two[sqlite]",
                        "tests/unit/a.py::test_one",
                        "tests/other.py::test_elsewhere",  # not one of the module's tests
                    ]
                }
            }
        )
    )
    first = mutation.covering_tests(tmp_path, "notifier.lifecycle.x_record_event__mutmut_7", tests)
    assert first == ["tests/unit/a.py::test_one", "tests/unit/b.py::test_two[sqlite]"]
    # no record (another function, no stats file): no shortcut, all the module's tests decide
    assert mutation.covering_tests(tmp_path, "notifier.lifecycle.x_add_note__mutmut_1", tests) == []
    assert (
        mutation.covering_tests(tmp_path / "none", "notifier.lifecycle.x_record_event__mutmut_7", tests) == []
    )
