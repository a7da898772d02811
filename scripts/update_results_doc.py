"""Replace the results table in a doc with the output of a table script (the lines starting with "|").

    python scripts/results_table.py results/first-results | python scripts/update_results_doc.py docs/results.md
"""

import sys
from pathlib import Path

doc = Path(sys.argv[1])
table = [line for line in sys.stdin.read().splitlines() if line.startswith("|")]
lines = doc.read_text().splitlines()
rows = [i for i, line in enumerate(lines) if line.startswith("|")]
if not rows or rows[-1] - rows[0] + 1 != len(rows):
    sys.exit(f"{doc}: expected exactly one table (one block of lines starting with '|')")
lines[rows[0]:rows[-1] + 1] = table
doc.write_text("\n".join(lines) + "\n")
