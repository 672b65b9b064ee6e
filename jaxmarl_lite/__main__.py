import sys

from jaxmarl_lite.cli import main

sys.exit(main())
