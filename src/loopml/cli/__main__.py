"""``python -m loopml``: the loopml command line."""

from loopml.cli import main

main()
