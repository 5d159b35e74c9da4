# Written for Plexus's tests: a pack whose import blocks (as one waiting on a network call or a
# lock would). The loader's time limit must report and skip it.
import time

time.sleep(20)

NODE_CLASS_MAPPINGS = {}
