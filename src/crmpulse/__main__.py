"""``python -m crmpulse``."""

from crmpulse.cli import main

if __name__ == "__main__":
    main()
