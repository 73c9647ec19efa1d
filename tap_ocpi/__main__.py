"""Allow `python -m tap_ocpi`."""

from tap_ocpi.launch import main

main()
