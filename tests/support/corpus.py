"""The real-world mail corpus, in ../shared beside the checkout (CI has it).

Tests that read it are skipped, saying why, where it is not there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "corpora" / "email" / "mail-parser"
WHY_MISSING = f"the mail corpus is not at {CORPUS} (../shared beside the checkout, as in CI)"


def corpus_files() -> list[Path]:
    """Every mail file of the corpus; skips the calling test where the corpus is missing."""
    if not CORPUS.is_dir():
        pytest.skip(WHY_MISSING)
    return sorted(CORPUS.glob("mail_*"))


def corpus_bytes(name: str) -> bytes:
    """One corpus file; skips the calling test where the corpus is missing."""
    if not CORPUS.is_dir():
        pytest.skip(WHY_MISSING)
    return (CORPUS / name).read_bytes()


def corpus_params() -> list[Any]:
    """The corpus files for ``parametrize``; one skipped case saying why where it is missing."""
    if not CORPUS.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=WHY_MISSING), id="no-corpus")]
    return sorted(CORPUS.glob("mail_*"))
