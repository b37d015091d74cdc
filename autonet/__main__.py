import sys

from autonet.cli import main

sys.exit(main())
