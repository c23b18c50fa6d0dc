"""Where the shared autobrr definitions are (never copied into the repository)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
CORPUS = REPO.parent / "shared" / "corpus" / "autobrr-definitions"


def corpus_files() -> list[Path]:
    files = sorted(p for p in CORPUS.iterdir() if p.suffix in (".yaml", ".yml"))
    assert files, f"no definitions in {CORPUS}"
    return files
