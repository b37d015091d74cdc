import sys

from autonet.cli import main

if __name__ == "__main__":  # importing the module (Sphinx's autosummary does) runs nothing
    sys.exit(main())
