"""The module the benchmark's uvicorn and gunicorn load: app.py as it runs where pandas is installed,
as it is on every MLflow user's machine (MLflow requires it).

xgboost 1.7.4 tries `import pandas` on every predict call. Where pandas is missing (Debian here has no
python3-pandas) each failed import searches sys.path again, about 130 us, a third of a batch-1
request, and the baseline would lose 30 % of its throughput to our machine rather than to FastAPI.
Marking pandas absent in sys.modules makes that import fail at once, as cheap as the cached import a
user with pandas gets.
"""

import importlib.util
import sys

if importlib.util.find_spec("pandas") is None:
    sys.modules["pandas"] = None

from app import app  # noqa: E402,F401
