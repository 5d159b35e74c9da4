# Written for Plexus's tests: the ways packs derive "the ComfyUI folder" to install web scripts and
# data next to it. Plexus answers with a folder in the user directory, so none of these writes can
# land in Plexus's source tree (tests/plugins/test_plugins_source_tree.py runs it read-only).
import json
import os
import shutil

import folder_paths
from server import PromptServer

HERE = os.path.dirname(os.path.abspath(__file__))
COMFY_DIR = os.path.dirname(folder_paths.__file__)
SCRIPTS = os.path.join(HERE, "js")

# Link the web folder into <comfy>/web/extensions unless the server serves packs' folders itself.
if "custom_nodes_from_web" not in getattr(PromptServer.instance, "supports", []):
    os.symlink(SCRIPTS, os.path.join(COMFY_DIR, "web", "extensions", "web_install_pack"))
# Older packs link (or copy) unconditionally, under the server's web root.
LINK = os.path.join(COMFY_DIR, "web", "extensions", "web_install_pack_link")
if not os.path.lexists(LINK):
    os.symlink(SCRIPTS, LINK)
COPY = os.path.join(PromptServer.instance.web_root, "extensions", "web_install_pack_copy")
os.makedirs(COPY, exist_ok=True)
shutil.copy(os.path.join(SCRIPTS, "installed.js"), COPY)
# Settings kept "next to ComfyUI".
SETTINGS = os.path.join(COMFY_DIR, "web_install_pack.json")
if not os.path.exists(SETTINGS):
    with open(SETTINGS, "w", encoding="utf-8") as handle:
        json.dump({"installed": True}, handle)


class WebInstallWhere:
    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {}}

    RETURN_TYPES = ("STRING",)
    FUNCTION = "where"
    CATEGORY = "test/web_install"

    def where(self):
        return (json.dumps({"comfy_dir": COMFY_DIR, "link": LINK, "copy": COPY, "settings": SETTINGS}),)


NODE_CLASS_MAPPINGS = {"WebInstallWhere": WebInstallWhere}
