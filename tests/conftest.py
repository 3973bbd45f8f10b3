import os
import sys
from pathlib import Path

# Small matrices: BLAS threads only add contention on a 2-core machine.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
