"""``python -m tether.demo``: run the end-to-end demo."""

from tether.demo import main

main()
