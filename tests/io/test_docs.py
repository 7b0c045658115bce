"""The Python examples of docs/io.md run, in order, in an empty folder: the docs cannot drift from the code."""

from __future__ import annotations

import re

import pytest

from e2fgvi_core.testing import PROJECT_ROOT

DOC = PROJECT_ROOT / "docs" / "io.md"


def test_docs_examples_run(tmp_path, monkeypatch):
    pytest.importorskip("PyOpenColorIO", reason="the colour example uses OpenColorIO")
    monkeypatch.delenv("OCIO", raising=False)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.DOTALL)
    assert len(blocks) >= 4, "docs/io.md lost its examples"
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for index, block in enumerate(blocks):
        exec(compile(block, f"{DOC}:block{index + 1}", "exec"), namespace)  # noqa: S102 - our own docs
