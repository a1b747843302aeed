"""Environment files as systemd credentials and Docker pass them: KEY=VALUE lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from litecursor.ops.envfile import EnvFileError, environ_with, read_env_file


def test_values_comments_quotes_and_export(tmp_path: Path) -> None:
    f = tmp_path / "secrets.env"
    f.write_text(
        "# provider keys\n\n"
        "OPENAI_API_KEY=sk-abc123  # rotated monthly\n"
        "export ANTHROPIC_API_KEY = sk-ant-x\n"
        "LITERAL='has # and $HOME'\n"
        'ESCAPED="line1\\nline \\"two\\""\n'
        "EMPTY=\n"
    )
    assert read_env_file(f) == {
        "OPENAI_API_KEY": "sk-abc123",
        "ANTHROPIC_API_KEY": "sk-ant-x",
        "LITERAL": "has # and $HOME",
        "ESCAPED": 'line1\nline "two"',
        "EMPTY": "",
    }


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("JUST_A_NAME\n", ":1: expected NAME=value"),
        ("A=1\n1BAD=2\n", ":2: expected NAME=value"),
        ("A='open\n", ":1: unterminated ' quote"),
        ('A="x" y\n', ":1: unexpected text after the closing quote"),
    ],
)
def test_a_bad_line_is_named(tmp_path: Path, text: str, problem: str) -> None:
    f = tmp_path / "bad.env"
    f.write_text(text)
    with pytest.raises(EnvFileError) as e:
        read_env_file(f)
    assert str(e.value) == f"{f}{problem}"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        EnvFileError, match=re.escape("nope.env: cannot read: No such file or directory")
    ):
        read_env_file(tmp_path / "nope.env")


def test_the_real_environment_wins_and_later_files_win(tmp_path: Path) -> None:
    a, b = tmp_path / "a.env", tmp_path / "b.env"
    a.write_text("KEY=a\nONLY_A=1\nSET=file\n")
    b.write_text("KEY=b\n")
    assert environ_with([str(a), str(b)], {"SET": "env"}) == {
        "KEY": "b",
        "ONLY_A": "1",
        "SET": "env",
    }
