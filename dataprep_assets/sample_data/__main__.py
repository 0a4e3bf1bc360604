import os
import sys

from dataprep_assets.sample_data import generate_all

if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("DATAPREP_STORE_ROOT", "var/store")
    for name, path in generate_all(root).items():
        print(f"{name}: {path}")
