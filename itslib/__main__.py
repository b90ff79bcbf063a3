import sys

from itslib.cli import main

sys.exit(main())
