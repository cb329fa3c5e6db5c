"""The attack corpus: hostile submissions with their expected outcomes (see ``corpus``).

    from tests.attacks import attacks, write_corpus
    for attack in attacks():                      # name, summary, base, expected, build()
        path = attack.build(folder / attack.name, default_context())

``python -m tests.attacks OUT`` writes every notebook into OUT (for
``benchmarks/compare_otter.py --attacks OUT``). ``tests/test_attacks.py`` grades them all.
"""

from tests.attacks.cells import Context
from tests.attacks.corpus import Attack, Expected, attacks, default_context, write_corpus

__all__ = ["Attack", "Context", "Expected", "attacks", "default_context", "write_corpus"]
