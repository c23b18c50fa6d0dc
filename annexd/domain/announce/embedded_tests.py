"""Running a definition's embedded test lines the way autobrr's ``TestYamlExpectations`` does. Pure.

Each test line is parsed on its own against its definition line with a fresh map (no multi-line sequencing,
no mappings), and passes only on exact map equality with ``expect``: every var present, ``""`` for a group
that did not take part, no extra keys; a test without ``expect`` never passes.
"""

from __future__ import annotations

from dataclasses import dataclass

from annexd.domain.announce.definition import Definition


@dataclass(frozen=True)
class TestOutcome:
    __test__ = False  # not a pytest class

    slot: int
    line: str
    expected: dict[str, str] | None
    got: dict[str, str]

    @property
    def passed(self) -> bool:
        return self.expected is not None and self.got == self.expected


def run_embedded_tests(definition: Definition) -> list[TestOutcome]:
    return [TestOutcome(slot, test.line, test.expect, line.parser.parse(test.line)[1])
            for slot, line in enumerate(definition.lines) for test in line.tests]
