"""Where the OCPI specification's example objects are: `shared/` beside the repository
(CI clones the repo with shared/ next to it); OCPI_SHARED_DIR overrides."""

from __future__ import annotations

import os
from pathlib import Path

SHARED = Path(os.environ.get("OCPI_SHARED_DIR") or Path(__file__).resolve().parents[2] / "shared")
EXAMPLES = SHARED / "ocpi-examples"
