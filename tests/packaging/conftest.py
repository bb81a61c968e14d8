"""The e2e fixtures (tests/e2e/conftest.py) for test_installed.py: loaded from their file
and re-exported here, so that the packaging test runs on exactly the e2e harness."""
import importlib.util
import sys
from pathlib import Path

_E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(_E2E))
_spec = importlib.util.spec_from_file_location("aoidc_e2e_conftest", _E2E / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
globals().update({k: v for k, v in vars(_e2e).items() if not k.startswith("__")})
