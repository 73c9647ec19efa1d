"""Allow `python -m tap_ocpi`."""

from tap_ocpi.tap import main

main()
