"""The documentation stays in step with the code: a short README, every setting and every
environment variable the code reads documented in docs/configuration.md, and nothing documented
there as a setting that the settings models do not have. No Spark, no database."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from spark_etl.config import Settings

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
CONFIGURATION_PAGE = ROOT / "docs" / "configuration.md"
README_MAX_WORDS = 1500

# docs/configuration.md lists the settings in a table under this heading, one row per key, the
# key's dotted path in backticks in the first column: | `database.schema` | `public` | ... |
SETTINGS_HEADING = "## Settings"
SETTINGS_ROW = re.compile(r"^\|\s*`([a-z_][a-z0-9_.<>]*)`\s*\|")

# Names of the project's own environment variables: SPARK_ETL_* and ETL_*, not the tail of
# another name (SPARK_ETL_LOG_DIR holds ETL_LOG_DIR, which is a name of its own elsewhere).
ENV_NAME = re.compile(r"(?<![A-Za-z0-9_])(?:SPARK_)?ETL_[A-Z0-9_]*[A-Z0-9]")
CODE_SUFFIXES = {".py", ".sh", ".bat", ".yaml", ".yml", ".sql", ".properties"}


def settings_keys(model: type[BaseModel], prefix: str = "") -> set[str]:
    """Every leaf key path of a settings model, spelled as in the YAML file (aliases used)."""
    keys: set[str] = set()
    for name, field in model.model_fields.items():
        path = f"{prefix}{field.alias or name}"
        if typing.get_origin(field.annotation) is dict:  # a mapping of named sections
            path += ".<name>"
        nested = _nested_model(field.annotation)
        if nested is None:
            keys.add(path)
        else:
            keys |= settings_keys(nested, f"{path}.")
    # a section of named sections beside its own keys (quality.<entity>): its typed extras
    extra = typing.get_type_hints(model).get("__pydantic_extra__")
    if extra is not None and (named := _nested_model(extra)) is not None:
        keys |= settings_keys(named, f"{prefix}<entity>.")
    return keys


def _nested_model(annotation: object) -> type[BaseModel] | None:
    """The settings section an annotation holds (also inside ``X | None``), if any."""
    candidates = typing.get_args(annotation) or (annotation,)  # X | None, dict[str, X]
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def documented_settings(page: str) -> set[str]:
    """The keys of the table under the settings heading of the configuration page."""
    section = page.split(f"\n{SETTINGS_HEADING}\n", 1)
    assert len(section) == 2, f"docs/configuration.md has no '{SETTINGS_HEADING}' heading"
    body = re.split(r"\n## ", section[1], maxsplit=1)[0]
    return {match[1] for line in body.splitlines() if (match := SETTINGS_ROW.match(line))}


def environment_variables_read() -> dict[str, str]:
    """Each SPARK_ETL_* and ETL_* name in the code and the scripts, with one file that reads it."""
    files = [
        *(ROOT / "spark_etl").rglob("*"),
        *(ROOT / "scripts").rglob("*"),
        *ROOT.glob("*.sh"),
        *ROOT.glob("*.bat"),
    ]
    found: dict[str, str] = {}
    for path in sorted(files):
        if path.suffix not in CODE_SUFFIXES or not path.is_file():
            continue
        for name in ENV_NAME.findall(path.read_text(encoding="utf-8", errors="replace")):
            found.setdefault(name, str(path.relative_to(ROOT)))
    return found


def test_readme_is_a_front_page_of_at_most_1500_words() -> None:
    words = len(README.read_text(encoding="utf-8").split())

    assert words <= README_MAX_WORDS, (
        f"README.md has {words} words, over {README_MAX_WORDS}: move the details to a page of "
        "docs/ and link to it"
    )


def test_settings_keys_are_read_from_the_models_with_their_aliases() -> None:
    keys = settings_keys(Settings)

    assert "database.schema" in keys  # the alias, not the Python name db_schema
    assert "database.db_schema" not in keys
    assert "validation.price.max" in keys  # a nested section's leaf


def test_every_setting_is_documented() -> None:
    documented = documented_settings(CONFIGURATION_PAGE.read_text(encoding="utf-8"))

    missing = sorted(settings_keys(Settings) - documented)

    assert not missing, (
        f"settings of spark_etl/config/ missing from the '{SETTINGS_HEADING}' table of "
        f"docs/configuration.md: {', '.join(missing)}"
    )


def test_every_documented_setting_exists() -> None:
    documented = documented_settings(CONFIGURATION_PAGE.read_text(encoding="utf-8"))

    unknown = sorted(documented - settings_keys(Settings))

    assert not unknown, (
        f"docs/configuration.md documents settings that spark_etl/config/ does not have: "
        f"{', '.join(unknown)}"
    )


def test_every_environment_variable_read_is_documented() -> None:
    page = CONFIGURATION_PAGE.read_text(encoding="utf-8")
    read = environment_variables_read()

    missing = {name: path for name, path in sorted(read.items()) if f"`{name}`" not in page}

    assert read, (
        "no SPARK_ETL_* or ETL_* name found in the code: the search looks in the wrong place"
    )
    assert not missing, "environment variables read but not in docs/configuration.md: " + ", ".join(
        f"{name} (read in {path})" for name, path in missing.items()
    )
