"""The crash-safety tests use the API tests' harness (tests/api/harness.py)."""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "api"))
