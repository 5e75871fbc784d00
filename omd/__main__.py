"""`python -m omd` is the `omd` command."""

from .main import main

main()
