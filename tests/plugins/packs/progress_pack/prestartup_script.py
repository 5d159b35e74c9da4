# Runs before any pack is imported (ComfyUI's prestartup hook).
import os

os.environ["PLEXUS_TEST_PRESTARTUP_RAN"] = "1"
