"""The README as a test: its runnable blocks (blocks.py), one terminal to run them in
(shell.py) and the runner of ``make readme-check`` (run.py)."""
