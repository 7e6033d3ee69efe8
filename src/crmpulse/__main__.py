"""``python -m crmpulse``."""

from crmpulse.cli import main

main()
