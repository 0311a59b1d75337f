"""Build (or refresh) one zoo entry: ``python scripts/build_zoo.py NAME`` trains it with the project's own
command, evaluates it and records it; ``--eval-only`` re-evaluates; ``--readme`` regenerates the README
table. The work and its full description are in pfgm.zoo.build; this is its command line.
"""

from pfgm.zoo.build import main

if __name__ == "__main__":
    main()
